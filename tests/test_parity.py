"""Parity: the same requests through native ``bedrock/`` and ``bedrock-xacct/``, against the same wire fake.

Both sides get the same deployment fields (``aws_role_name``, ``aws_session_name``, ``aws_sts_endpoint``,
``aws_bedrock_runtime_endpoint``, ``aws_region_name``), so both sign with the same role via STS. One row of
:data:`CASES` is one request; each runs in every mode it lists (sync / async / stream / astream) and compares,
naming the field that differs:

* **wire**: the operation, model id, JSON body and signer (account, role, session) of every Bedrock call;
* **answer**: the response as a dict (a stream is assembled with ``litellm.stream_chunk_builder``), usage
  included, with only the top-level ``id`` and ``created`` dropped (a fresh id and clock per response);
* **cost**: ``response_cost`` as a success callback sees it;
* **error**: exception type, status code and where it surfaced (at the call, or while iterating a stream).

Where xacct genuinely differs from native (or native itself is broken against Bedrock's wire format), the
row carries a ``strict`` xfail naming the difference and the release, so it fails the day it matches; the
one exception (:data:`UNSTABLE`) is a difference that comes and goes with native's own process state. The
proxy half (``test_proxy_parity``) sends the same HTTP requests to a native and an xacct model group of
one real ``litellm --config`` proxy and also compares ``x-litellm-response-cost`` and the cost the proxy's
success callback logs (streams included). Errors are selected by markers in the user text (see ``LocalAWS``).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import litellm
import pytest
from litellm.integrations.custom_logger import CustomLogger

import litellm_xacct
from litellm_xacct import BedrockXacct, CredentialEngine
from litellm_xacct.testing import LocalAWS, ProxyProcess

from .conftest import DEPT_A, MODEL

ACCOUNT = "111111111111"
SESSION = "parity-gw"
SDK_MODES = ("sync", "async", "stream", "astream")
CALL_MODES = ("sync", "async")
VOLATILE = frozenset({"id", "created", "created_at"})  # top level: a fresh id and clock per response


def _release() -> str:
    """Which supported LiteLLM this is, by feature: 1.108.7's Bedrock stream decoder tallies its events."""
    from litellm.llms.bedrock.chat import invoke_handler

    return "1.108.7" if hasattr(invoke_handler, "_EventStreamTally") else "1.82.3"


RELEASE = _release()


# -- the table ----------------------------------------------------------------------------------------------

def _user(text: str = "who signed this request?") -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


TOOLS = [{"type": "function", "function": {
    "name": "whoami", "description": "Report the signer",
    "parameters": {"type": "object", "properties": {"signer": {"type": "string"}}, "required": ["signer"]}}}]
SCHEMA = {"type": "json_schema", "json_schema": {"name": "signer", "strict": True, "schema": {
    "type": "object", "properties": {"signer": {"type": "string"}}, "required": ["signer"],
    "additionalProperties": False}}}
CACHED = [{"role": "system", "content": [{"type": "text", "text": "You report who signed.",
                                          "cache_control": {"type": "ephemeral"}}]},
          {"role": "user", "content": "who signed this request?"}]
THINKING = {"type": "enabled", "budget_tokens": 1024}
GUARDRAIL = {"guardrailIdentifier": "gr-parity", "guardrailVersion": "1", "trace": "enabled"}


@dataclass(frozen=True)
class Case:
    """One request. ``xfail`` maps a mode (or ``"*"``) to the reason it differs, per release (``"*"``: both)."""

    id: str
    model: str
    params: Mapping[str, Any]
    kind: str = "chat"  # chat | embedding | image
    modes: tuple[str, ...] = SDK_MODES
    xfail: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    fault: str | None = None  # "cut" / "truncate": the stand-in ends the stream after 3 frames (see LocalAWS)

    def xfail_reason(self, mode: str) -> str | None:
        for release in (RELEASE, "*"):
            by_mode = self.xfail.get(release) or {}
            reason = by_mode.get(mode) or by_mode.get("*")
            if reason:
                return f"[{release}] {reason}"
        return None


NEW, OLD = "1.108.7", "1.82.3"
STREAMS, CALLS = ("stream", "astream"), ("sync", "async")


def differs(*known: tuple[str, tuple[str, ...], str]) -> dict[str, dict[str, str]]:
    """``(release, modes, reason)`` entries as :attr:`Case.xfail`."""
    table: dict[str, dict[str, str]] = {}
    for release, modes, reason in known:
        table.setdefault(release, {}).update(dict.fromkeys(modes, reason))
    return table


# What still differs, measured (each reason names the field and both values; see the README's parity section).
STREAM_USAGE_NEW = ("streamed usage lacks the usage.cost native's final chunk carries (and, in most rows, "
                    "cache_creation_input_tokens / cache_read_input_tokens)")
STREAM_USAGE_OLD = ("streamed usage lacks prompt_tokens_details / completion_tokens_details and the cache fields; "
                    "on astream prompt/completion tokens are LiteLLM's estimate (12/43) instead of Bedrock's (4/8)")
PREFIX_STREAM = ("streamed answer.model keeps the 'converse/' prefix: LiteLLM's stream wrapper stamps every chunk "
                 "of a custom provider with the model string it called the provider with, out of the provider's reach")
STREAM_THROTTLE_OLD = ("a throttlingException event inside the stream: both 429, but native raises RateLimitError and "
                       "xacct MidStreamFallbackError; 1.82.3's stream wrapper raises a mid-stream 429 unwrapped only "
                       "when the decoder's own error carried another status (native's BedrockError 400, re-mapped by "
                       "its text), which a provider cannot reproduce")
NATIVE_CUT_OLD = ("native is the broken side: 1.82.3's Bedrock stream decoder ends a cut or truncated stream as if "
                  "complete (partial text, finish_reason stop, priced); xacct raises")
UNSTABLE = "not strict: "  # a reason starting so marks a difference that comes and goes with native's state
INVOKE_COST_OLD = (UNSTABLE + "cost: xacct prices Invoke at the us. profile's rate (0.0001452); native prices the same "
                   "call at that rate or at the base model's (0.000132) depending on earlier calls in the process")
INVOKE_THROTTLED_OLD = ("native is the broken side: a 429 before an Invoke stream surfaces as MidStreamFallbackError "
                        "while iterating; xacct raises RateLimitError at the call")
DIMENSIONS = ("'dimensions' refused with UnsupportedParamsError by LiteLLM's embedding param gate "
              "(get_optional_params_embeddings), which has no hook for a provider outside LlmProviders and runs "
              "before the provider; with drop_params it drops them unrecorded (the proxy path then reads them back "
              "from the caller's request: tests/test_proxy_routes.py)")
IMAGE_SIZE = ("size '1024x1024' is not sent as imageGenerationConfig width/height (native sends both): "
              "LiteLLM's get_optional_params_image_gen drops size/n/quality/style for a provider outside "
              "LlmProviders before calling it, leaving no record; through the proxy they are read back from the "
              "caller's request (tests/test_proxy_routes.py)")

STREAM_USAGE = differs((NEW, STREAMS, STREAM_USAGE_NEW), (OLD, STREAMS, STREAM_USAGE_OLD))
INVOKE_ANTHROPIC = differs((NEW, STREAMS, STREAM_USAGE_NEW), (OLD, CALLS, INVOKE_COST_OLD),
                           (OLD, STREAMS, STREAM_USAGE_OLD + "; cost: xacct 0.0001452 (us. profile rate), "
                                                      "native 0.000132 (base model rate)"))
CLAUDE = MODEL
CASES = [
    Case("text", CLAUDE, {"messages": _user()}, xfail=STREAM_USAGE),
    Case("converse-prefix", f"converse/{CLAUDE}", {"messages": _user()},
         xfail=differs((NEW, STREAMS, PREFIX_STREAM + "; " + STREAM_USAGE_NEW),
                       (OLD, STREAMS, PREFIX_STREAM + "; " + STREAM_USAGE_OLD))),
    Case("tools", CLAUDE, {"messages": _user(), "tools": TOOLS, "tool_choice": "auto"}, xfail=STREAM_USAGE),
    Case("reasoning-effort", CLAUDE, {"messages": _user(), "reasoning_effort": "low"}, xfail=STREAM_USAGE),
    Case("thinking", CLAUDE, {"messages": _user(), "thinking": THINKING}, xfail=STREAM_USAGE),
    Case("thinking-tools", CLAUDE, {"messages": _user(), "thinking": THINKING, "tools": TOOLS}, xfail=STREAM_USAGE),
    Case("prompt-caching", CLAUDE, {"messages": CACHED}, xfail=STREAM_USAGE),
    Case("json-schema", CLAUDE, {"messages": _user(), "response_format": SCHEMA},
         xfail=differs((NEW, STREAMS, STREAM_USAGE_NEW))),
    Case("guardrail", CLAUDE, {"messages": _user(), "guardrailConfig": GUARDRAIL}, xfail=STREAM_USAGE),
    Case("context-window", CLAUDE, {"messages": _user("[xacct:too-long] who signed?")}),
    Case("throttled", CLAUDE, {"messages": _user("[xacct:throttle] who signed?")}),
    Case("unavailable", CLAUDE, {"messages": _user("[xacct:unavailable] who signed?")}),
    Case("stream-error", CLAUDE, {"messages": _user("[xacct:stream-error] who signed?")}, modes=STREAMS),
    Case("stream-throttle", CLAUDE, {"messages": _user("[xacct:stream-throttle] who signed?")}, modes=STREAMS,
         xfail=differs((OLD, STREAMS, STREAM_THROTTLE_OLD))),
    Case("stream-cut", CLAUDE, {"messages": _user()}, modes=STREAMS, fault="cut",
         xfail=differs((OLD, ("astream",), NATIVE_CUT_OLD))),
    Case("stream-truncated", CLAUDE, {"messages": _user()}, modes=STREAMS, fault="truncate",
         xfail=differs((OLD, STREAMS, NATIVE_CUT_OLD))),
    Case("invoke-stream-cut", f"invoke/{CLAUDE}", {"messages": _user()}, modes=STREAMS, fault="cut",
         xfail=differs((OLD, ("astream",), NATIVE_CUT_OLD))),
    Case("invoke-stream-truncated", f"invoke/{CLAUDE}", {"messages": _user()}, modes=STREAMS, fault="truncate",
         xfail=differs((OLD, STREAMS, NATIVE_CUT_OLD))),
    Case("invoke-anthropic", f"invoke/{CLAUDE}", {"messages": _user()},
         xfail=INVOKE_ANTHROPIC),
    Case("invoke-anthropic-tools-thinking", f"invoke/{CLAUDE}",
         {"messages": _user(), "tools": TOOLS, "thinking": THINKING},
         xfail=INVOKE_ANTHROPIC),
    Case("invoke-anthropic-cache", f"invoke/{CLAUDE}", {"messages": CACHED},
         xfail=INVOKE_ANTHROPIC),
    Case("invoke-anthropic-throttled", f"invoke/{CLAUDE}", {"messages": _user("[xacct:throttle] who?")},
         xfail=differs((OLD, STREAMS, INVOKE_THROTTLED_OLD))),
    Case("invoke-anthropic-stream-error", f"invoke/{CLAUDE}", {"messages": _user("[xacct:stream-error] who?")},
         modes=STREAMS),
    Case("invoke-llama", "invoke/meta.llama3-8b-instruct-v1:0", {"messages": _user()}),
    Case("invoke-mistral", "invoke/mistral.mistral-7b-instruct-v0:2", {"messages": _user()}),
    Case("invoke-cohere", "invoke/cohere.command-r-v1:0", {"messages": _user()}),
    Case("invoke-nova", "invoke/amazon.nova-pro-v1:0", {"messages": _user()},
         xfail=differs((NEW, STREAMS, STREAM_USAGE_NEW))),
    Case("invoke-titan", "invoke/amazon.titan-text-express-v1", {"messages": _user()}),
    Case("embed-titan-v1", "amazon.titan-embed-text-v1", {"input": ["who signed?"]}, "embedding", CALLS),
    Case("embed-titan-v2-dimensions", "amazon.titan-embed-text-v2:0", {"input": ["who signed?"], "dimensions": 256},
         "embedding", CALLS, xfail=differs(("*", CALLS, DIMENSIONS))),
    Case("embed-cohere", "cohere.embed-english-v3", {"input": ["who signed?", "and when?"]}, "embedding", CALLS),
    Case("image-titan", "amazon.titan-image-generator-v2:0", {"prompt": "a signature"}, "image", CALLS),
    Case("image-nova-canvas", "amazon.nova-canvas-v1:0", {"prompt": "a signature", "size": "1024x1024"}, "image",
         CALLS, xfail=differs(("*", CALLS, IMAGE_SIZE))),
    Case("image-nova-canvas-native-params", "amazon.nova-canvas-v1:0",
         {"prompt": "a signature", "imageGenerationConfig": {"width": 512, "height": 512, "numberOfImages": 1}},
         "image", CALLS),
    Case("image-stability", "stability.sd3-large-v1:0", {"prompt": "a signature"}, "image", CALLS),
]


def _rows() -> Iterator[Any]:
    for case in CASES:
        for mode in case.modes:
            reason = case.xfail_reason(mode)
            strict = reason is not None and UNSTABLE not in reason
            marks = [pytest.mark.xfail(strict=strict, reason=reason)] if reason else []
            yield pytest.param(case, mode, id=f"{case.id}-{mode}", marks=marks)


# -- running one side ----------------------------------------------------------------------------------------


class CostLog(CustomLogger):
    """Success callback: the ``response_cost`` LiteLLM's logging computed for each call, per handler. A sync
    call is read from the sync handler and an async call from the async one: LiteLLM may run both for one
    call, at different times, and they need not agree."""

    def __init__(self) -> None:
        super().__init__()
        self.costs: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def _add(self, kwargs: dict[str, Any], handler: str) -> None:
        payload = kwargs.get("standard_logging_object") or {}
        with self._lock:
            self.costs[(str(kwargs.get("litellm_call_id")), handler)] = payload.get(
                "response_cost", kwargs.get("response_cost"))

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._add(kwargs, "sync")

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        self._add(kwargs, "async")

    def take(self, handler: str) -> list[Any]:
        """The costs ``handler`` logged since the last take (forgetting every other entry)."""
        with self._lock:
            costs = [cost for (_, by), cost in self.costs.items() if by == handler]
            self.costs = {}
        return costs

    def _seen(self, handler: str) -> bool:
        with self._lock:
            return any(by == handler for _, by in self.costs)

    def wait(self, handler: str) -> None:
        """Until ``handler`` logged a call (it runs after the answer, in a thread or a loop task)."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not self._seen(handler):
            time.sleep(0.05)

    async def await_(self, handler: str) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not self._seen(handler):
            await asyncio.sleep(0.05)


COSTS = CostLog()  # one instance: LiteLLM copies litellm.callbacks into its global handler lists once


@dataclass
class Outcome:
    wire: list[dict[str, Any]]
    answer: Any
    error: tuple[str, Any, str] | None  # (type, status, where: "call" | "stream")
    cost: list[Any]


def _invoke(kind: str, mode: str, kwargs: dict[str, Any]) -> tuple[Any, list[Any] | None]:
    """One call in ``mode``; returns (response, stream chunks or None) once its success logging ran.
    Raises ``_Raised`` with the phase the error surfaced in."""
    stream = mode in ("stream", "astream")
    if kind == "chat":
        sync_fn, async_fn = litellm.completion, litellm.acompletion
        kwargs = dict(kwargs, stream=stream)
    else:
        sync_fn, async_fn = {"embedding": (litellm.embedding, litellm.aembedding),
                             "image": (litellm.image_generation, litellm.aimage_generation)}[kind]
    if mode in ("sync", "stream"):
        try:
            result = sync_fn(**kwargs)
        except Exception as exc:
            raise _Raised("call", exc) from exc
        try:
            chunks = list(result) if stream else None
        except Exception as exc:
            raise _Raised("stream", exc) from exc
        COSTS.wait("sync")
        return result, chunks

    async def run() -> tuple[Any, list[Any] | None]:
        try:
            result = await async_fn(**kwargs)
        except Exception as exc:
            raise _Raised("call", exc) from exc
        try:
            chunks = [chunk async for chunk in result] if stream else None
        except Exception as exc:
            raise _Raised("stream", exc) from exc
        await COSTS.await_("async")  # logging is a task on this loop: keep the loop alive until it ran
        return result, chunks

    return asyncio.run(run())


class _Raised(Exception):
    def __init__(self, phase: str, exc: Exception) -> None:
        super().__init__(phase)
        self.phase, self.exc = phase, exc


def _view(value: Any, top: bool = True) -> Any:
    """A response as plain data without its top-level per-response keys (nested ids, e.g. a tool call's,
    come from Bedrock and are compared)."""
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if isinstance(value, Mapping):
        return {str(k): _view(v, False) for k, v in value.items() if not (top and k in VOLATILE)}
    if isinstance(value, (list, tuple)):
        return [_view(v, False) for v in value]
    return value


def _wire(aws: LocalAWS) -> list[dict[str, Any]]:
    return [{"operation": c.operation, "model_id": c.model_id, "body": c.body, "account": c.account,
             "role_arn": c.role_arn, "session_name": c.session_name, "status": c.status,
             "error_code": c.error_code} for c in aws.bedrock_calls()]


def run_side(provider: str, case: Case, mode: str, aws: LocalAWS) -> Outcome:
    aws.reset()
    if case.fault:
        (aws.cut_stream_after if case.fault == "cut" else aws.truncate_stream_after)(3)
    handler = "sync" if mode in ("sync", "stream") else "async"
    COSTS.take(handler)
    kwargs: dict[str, Any] = {
        "model": f"{provider}/{case.model}", **case.params,
        "aws_region_name": aws.region, "aws_role_name": DEPT_A, "aws_session_name": SESSION,
        "aws_sts_endpoint": aws.sts_endpoint, "aws_bedrock_runtime_endpoint": aws.bedrock_endpoint,
    }
    error: tuple[str, Any, str] | None = None
    answer: Any = None
    try:
        response, chunks = _invoke(case.kind, mode, kwargs)
        if chunks is not None:
            assert chunks, f"{provider}: the stream yielded no chunk"
            response = litellm.stream_chunk_builder(chunks, messages=kwargs.get("messages"))
        answer = _view(response)
    except _Raised as raised:
        exc = raised.exc
        error = (type(exc).__name__, getattr(exc, "status_code", None), raised.phase)
    return Outcome(_wire(aws), answer, error, COSTS.take(handler))


def differences(native: Any, xacct: Any, path: str = "") -> list[str]:
    """Every leaf where the two differ, as ``path: native=... xacct=...``."""
    if isinstance(native, Mapping) and isinstance(xacct, Mapping):
        return [d for key in sorted(set(native) | set(xacct), key=str)
                for d in differences(native.get(key, "<absent>"), xacct.get(key, "<absent>"), f"{path}.{key}")]
    if isinstance(native, list) and isinstance(xacct, list) and len(native) == len(xacct):
        pairs = enumerate(zip(native, xacct, strict=True))
        return [d for i, (n, x) in pairs for d in differences(n, x, f"{path}[{i}]")]
    if native != xacct:
        return [f"{path or '.'}: native={_short(native)} xacct={_short(xacct)}"]
    return []


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 240 else text[:240] + "..."


# -- fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture
def sides(local_aws: LocalAWS, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # native asks the *default* STS endpoint who it is before AssumeRole: point that at the stand-in too
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", local_aws.sts_endpoint)
    engine = CredentialEngine()
    litellm_xacct.register(BedrockXacct(engine=engine))
    litellm.callbacks.append(COSTS)
    yield
    engine.close()
    for name in ("callbacks", "success_callback", "_async_success_callback"):  # LiteLLM copies it around
        registered = getattr(litellm, name, None)
        while isinstance(registered, list) and COSTS in registered:
            registered.remove(COSTS)


@pytest.mark.parametrize(("case", "mode"), list(_rows()))
def test_sdk_parity(case: Case, mode: str, local_aws: LocalAWS, sides: None) -> None:
    native = run_side("bedrock", case, mode, local_aws)
    xacct = run_side("bedrock-xacct", case, mode, local_aws)
    assert native.wire, "native sent nothing to Bedrock: the row proves nothing"
    assert {c["account"] for c in native.wire} == {ACCOUNT}, "native did not sign with the role"
    found = [f"wire{d}" for d in differences(native.wire, xacct.wire)]
    found += [f"error{d}" for d in differences(native.error, xacct.error)]
    found += [f"answer{d}" for d in differences(native.answer, xacct.answer)]
    found += [f"cost{d}" for d in differences(native.cost, xacct.cost)]
    assert not found, f"{case.id} [{mode}] on LiteLLM {RELEASE} differs:\n" + "\n".join(found)
    if native.error is None:
        assert native.cost and native.cost[0] is not None, "no success callback saw the native call"


# -- through the proxy --------------------------------------------------------------------------------------

#: model group suffix -> the Bedrock model both the native and the xacct group of that name serve
PROXY_MODELS = {
    "claude": MODEL,
    "titan-v2": "amazon.titan-embed-text-v2:0",
    "nova-canvas": "amazon.nova-canvas-v1:0",
}


@dataclass(frozen=True)
class ProxyCase:
    id: str
    path: str
    group: str
    body: Mapping[str, Any]
    stream: bool = False
    xfail: Mapping[str, str] = field(default_factory=dict)  # release ("*": both) -> reason


MESSAGES_BODY = ("the Anthropic body over InvokeModel as native, but a string messages[].content is sent as a list "
                 "of text blocks, tools get \"type\": \"custom\" and an empty \"properties\" (the same request "
                 "to Anthropic), and the answer carries \"stop_details\": null: LiteLLM hands a custom provider the "
                 "request converted to chat format and converts the answer back; the caller's raw body is not used "
                 "because proxy hooks (guardrails, masking) edit the request, not that copy")
MESSAGES_BODY_OLD = MESSAGES_BODY + "; 1.82.3's chat config also sends \"anthropic_beta\": []"
MESSAGES_STREAM_OLD = (MESSAGES_BODY_OLD + "; 1.82.3's /v1/messages adapter opens the stream with an empty text block, "
                       "one content_block_delta per chunk and input_tokens in message_delta")
PROXY_CASES = [
    ProxyCase("chat", "/v1/chat/completions", "claude", {"messages": _user()}),
    ProxyCase("chat-tools-thinking", "/v1/chat/completions", "claude",
              {"messages": _user(), "tools": TOOLS, "thinking": THINKING}),
    ProxyCase("chat-stream", "/v1/chat/completions", "claude",
              {"messages": _user(), "stream": True, "stream_options": {"include_usage": True}}, stream=True),
    ProxyCase("chat-throttled-stream", "/v1/chat/completions", "claude",
              {"messages": _user("[xacct:throttle] who?"), "stream": True}, stream=True),
    ProxyCase("messages", "/v1/messages", "claude", {"max_tokens": 256, "messages": _user()},
              xfail={NEW: MESSAGES_BODY, OLD: MESSAGES_BODY_OLD}),
    ProxyCase("messages-thinking-tools", "/v1/messages", "claude",
              {"max_tokens": 2048, "messages": _user(), "thinking": THINKING,
               "tools": [{"name": "whoami", "input_schema": {"type": "object"}}]},
              xfail={NEW: MESSAGES_BODY, OLD: MESSAGES_BODY_OLD + "; provider_specific_fields: null on the tool "
                                                                 "block"}),
    ProxyCase("messages-stream", "/v1/messages", "claude",
              {"max_tokens": 256, "messages": _user(), "stream": True}, stream=True,
              xfail={NEW: MESSAGES_BODY, OLD: MESSAGES_STREAM_OLD}),
    ProxyCase("responses", "/v1/responses", "claude", {"input": "who signed this request?"}),
    ProxyCase("embeddings", "/v1/embeddings", "titan-v2", {"input": ["who signed?"], "dimensions": 256},
              xfail={"*": DIMENSIONS + " (HTTP 400, cost 0) unless the deployment sets drop_params: true"}),
    ProxyCase("images", "/v1/images/generations", "nova-canvas", {"prompt": "a signature", "size": "1024x1024"}),
]


def _proxy_rows() -> Iterator[Any]:
    for case in PROXY_CASES:
        reason = case.xfail.get(RELEASE) or case.xfail.get("*")
        marks = [pytest.mark.xfail(strict=True, reason=f"[{RELEASE}] {reason}")] if reason else []
        yield pytest.param(case, id=case.id, marks=marks)


def proxy_config(aws: LocalAWS) -> dict[str, Any]:
    fields = {"aws_region_name": aws.region, "aws_role_name": DEPT_A, "aws_session_name": SESSION,
              "aws_sts_endpoint": aws.sts_endpoint, "aws_bedrock_runtime_endpoint": aws.bedrock_endpoint}
    return {
        "model_list": [{"model_name": f"{side}-{group}",
                        "litellm_params": {"model": f"{provider}/{model}", **fields}}
                       for group, model in PROXY_MODELS.items()
                       for side, provider in (("native", "bedrock"), ("xacct", "bedrock-xacct"))],
        "litellm_settings": {"drop_params": False},
    }


# The proxy's success callback (loaded from beside its config, as LiteLLM 1.82.3 requires): one JSON line per
# call with the model group and the response_cost LiteLLM's logging computed -- what spend tracking bills.
COST_CALLBACK = '''
import json, os
from litellm.integrations.custom_logger import CustomLogger


class ParityCostLog(CustomLogger):
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        payload = kwargs.get("standard_logging_object") or {}
        with open(os.environ["PARITY_COST_LOG"], "a", encoding="utf-8") as f:
            f.write(json.dumps({"group": payload.get("model_group"), "cost": payload.get("response_cost")}) + "\\n")


cost_log = ParityCostLog()
'''


@pytest.fixture(scope="module")
def cost_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("parity") / "costs.jsonl"


@pytest.fixture(scope="module")
def parity_proxy(aws: LocalAWS, cost_path: Path) -> Iterator[ProxyProcess]:
    config = proxy_config(aws)
    config["litellm_settings"]["callbacks"] = ["parity_cost_callback.cost_log"]
    # native asks the default STS endpoint who it is before AssumeRole: point that at the stand-in too
    env = {"AWS_ENDPOINT_URL_STS": aws.sts_endpoint, "PARITY_COST_LOG": str(cost_path)}
    with ProxyProcess(config, aws, env=env, files={"parity_cost_callback.py": COST_CALLBACK}) as running:
        yield running


def _logged_costs(path: Path, group: str, expect: bool) -> list[Any]:
    """The costs the proxy's callback logged for ``group`` (waits, bounded, for one when a call succeeded)."""
    deadline = time.monotonic() + (20 if expect else 0)
    while True:
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        costs = [r["cost"] for r in map(json.loads, lines) if r["group"] == group]
        if costs or time.monotonic() >= deadline:
            return costs
        time.sleep(0.1)


def _sse(text: str) -> list[Any]:
    events = []
    for line in text.splitlines():
        if line.startswith("data:") and line[5:].strip() not in ("", "[DONE]"):
            events.append(json.loads(line[5:]))
    return events


def _stream_summary(path: str, events: list[Any]) -> dict[str, Any]:
    """What a client assembles from a stream (chunk boundaries are not part of the contract)."""
    if path == "/v1/messages":
        text = "".join((e.get("delta") or {}).get("text", "") for e in events if e.get("type") == "content_block_delta")
        return {"types": [e.get("type") for e in events], "text": text,
                "stop": [e["delta"].get("stop_reason") for e in events if e.get("type") == "message_delta"],
                "usage": [_view(e.get("usage")) for e in events if e.get("type") == "message_delta"]}
    choices = [c for e in events for c in e.get("choices") or []]
    return {"text": "".join((c.get("delta") or {}).get("content") or "" for c in choices),
            "finish": [c["finish_reason"] for c in choices if c.get("finish_reason")],
            "usage": [_view(e["usage"]) for e in events if e.get("usage")],
            "error": [_view(e["error"]) for e in events if e.get("error")]}


def proxy_side(proxy: ProxyProcess, aws: LocalAWS, case: ProxyCase, side: str, costs: Path) -> dict[str, Any]:
    aws.reset()
    costs.unlink(missing_ok=True)
    group = f"{side}-{case.group}"
    body = {"model": group, **case.body}
    headers = {"Authorization": f"Bearer {proxy.master_key}"}
    response = httpx.post(proxy.base_url + case.path, json=body, headers=headers, timeout=60)
    if case.stream and response.status_code == 200:
        answer: Any = _stream_summary(case.path, _sse(response.text))
    else:
        try:
            answer = _view(response.json())
        except ValueError:
            answer = response.text
        if case.path == "/v1/responses" and isinstance(answer, dict):
            for item in answer.get("output") or []:
                item.pop("id", None)  # the Responses API mints an id per output item
    text = json.dumps(answer).replace(group, "<group>")  # the group names differ by design
    return {"status": response.status_code, "answer": json.loads(text), "wire": _wire(aws),
            "cost_header": None if case.stream else response.headers.get("x-litellm-response-cost"),
            "cost_logged": _logged_costs(costs, group, expect=response.status_code == 200)}


@pytest.mark.proxy
@pytest.mark.parametrize("case", list(_proxy_rows()))
def test_proxy_parity(case: ProxyCase, parity_proxy: ProxyProcess, aws: LocalAWS, cost_path: Path) -> None:
    native = proxy_side(parity_proxy, aws, case, "native", cost_path)
    xacct = proxy_side(parity_proxy, aws, case, "xacct", cost_path)
    assert native["wire"], f"native sent nothing to Bedrock ({native['status']}: {native['answer']})"
    assert {c["account"] for c in native["wire"]} == {ACCOUNT}, "native did not sign with the role"
    if native["status"] == 200:
        assert native["cost_logged"], "the proxy's success callback never saw the native call"
    found = differences(native, xacct)
    assert not found, f"{case.id} through the proxy on LiteLLM {RELEASE} differs:\n" + "\n".join(found)


def _block_kinds(proxy: ProxyProcess, group: str, body: dict[str, Any]) -> list[Any]:
    """The ``content_block_start`` types of a streamed ``/v1/messages`` answer, in order."""
    headers = {"Authorization": f"Bearer {proxy.master_key}"}
    response = httpx.post(proxy.base_url + "/v1/messages", json={"model": group, **body}, headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    return [(e.get("content_block") or {}).get("type") for e in _sse(response.text)
            if e.get("type") == "content_block_start"]


@pytest.mark.proxy
@pytest.mark.xfail(RELEASE == OLD, strict=True, reason=f"[{OLD}] LiteLLM's /v1/messages adapter for providers without "
                   "native Messages support (AnthropicStreamWrapper) opens every stream with an empty text block, "
                   "before the thinking block, and opens another after the last tool_use block; 1.108.7's does not")
def test_proxy_messages_thinking_stream_starts_with_thinking(parity_proxy: ProxyProcess, aws: LocalAWS) -> None:
    """A streamed ``/v1/messages`` answer with thinking starts with its thinking block, as native's does: a client
    that sends that turn back with tools needs it first (Anthropic's rule for an assistant turn with thinking)."""
    body = {"max_tokens": 2048, "messages": _user(), "thinking": THINKING, "stream": True,
            "tools": [{"name": "whoami", "input_schema": {"type": "object"}}]}
    native = _block_kinds(parity_proxy, "native-claude", body)
    xacct = _block_kinds(parity_proxy, "xacct-claude", body)
    assert native and native[0] == "thinking", f"the stand-in's native answer changed: {native}"
    assert xacct == native, f"native {native}, xacct {xacct}"


# -- docs/parity.md: its parity table is this module's table, rendered ----------------------------------------

DOC = Path(__file__).resolve().parent.parent / "docs" / "parity.md"
BEGIN = "<!-- parity-table:begin (generated from tests/test_parity.py by render_parity_table; do not edit) -->"
END = "<!-- parity-table:end -->"


def _cell(xfail: Mapping[str, Any], release: str, modes: tuple[str, ...], notes: list[str]) -> str:
    """``same`` or the modes that differ with the note number of each reason."""
    by_reason: dict[str, list[str]] = {}
    for mode in modes:
        for key in (release, "*"):
            entry = xfail.get(key)
            reason = (entry.get(mode) or entry.get("*")) if isinstance(entry, Mapping) else entry
            if reason:
                by_reason.setdefault(reason, []).append(mode)
                break
    if not by_reason:
        return "same"
    parts = []
    for reason, which in by_reason.items():
        if reason not in notes:
            notes.append(reason)
        scope = "" if len(which) == len(modes) else " " + "/".join(which)
        parts.append(f"differs{scope} [{notes.index(reason) + 1}]")
    return "; ".join(parts)


def render_parity_table() -> str:
    """The SDK and proxy parity rows as Markdown, each release's cell from the row's strict xfails."""
    notes: list[str] = []
    lines = ["SDK (`litellm.completion` / `embedding` / `image_generation`, sync and async, plain and streamed):", "",
             f"| Row | Model | Modes | {NEW} | {OLD} |", "|---|---|---|---|---|"]
    for case in CASES:
        cells = [_cell(case.xfail, release, case.modes, notes) for release in (NEW, OLD)]
        lines.append(f"| `{case.id}` | `{case.model}` | {', '.join(case.modes)} | {cells[0]} | {cells[1]} |")
    lines += ["", "Proxy (one `litellm --config` proxy, a native and an xacct model group, HTTP requests):", "",
              f"| Row | Endpoint | Model group | {NEW} | {OLD} |", "|---|---|---|---|---|"]
    for pcase in PROXY_CASES:
        cells = [_cell(pcase.xfail, release, ("call",), notes) for release in (NEW, OLD)]
        stream = " (stream)" if pcase.stream else ""
        lines.append(f"| `{pcase.id}` | `{pcase.path}`{stream} | {pcase.group} | {cells[0]} | {cells[1]} |")
    lines += ["", "Why a row differs (each is a strict xfail in `tests/test_parity.py`, failing the day it matches):",
              ""]
    lines += [f"{number}. {note.removeprefix(UNSTABLE)}" + (" (not strict: comes and goes with native's state)"
                                                          if note.startswith(UNSTABLE) else "")
              for number, note in enumerate(notes, start=1)]
    return "\n".join(lines)


def test_parity_doc_is_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, f"{DOC} lost its generated-table markers"
    current = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert current == render_parity_table(), (
        f"{DOC} is stale: regenerate with\n  python -c 'from tests.test_parity import write_parity_doc; "
        "write_parity_doc()'")


def write_parity_doc() -> None:
    """Rewrite the generated part of docs/parity.md from the tables above."""
    text = DOC.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    DOC.write_text(f"{head}{BEGIN}\n{render_parity_table()}\n{END}{tail}", encoding="utf-8")


def test_parity_doc_names_only_tests_that_exist() -> None:
    """Every ``tests/<file>.py::<test>`` the page cites as proof is a test function in that file."""
    import re

    cited = re.findall(r"tests/(test_\w+)\.py::(test_\w+)", DOC.read_text(encoding="utf-8"))
    assert len(cited) >= 10, cited
    missing = [f"{module}::{name}" for module, name in cited
               if f"def {name}(" not in (DOC.parent.parent / "tests" / f"{module}.py").read_text(encoding="utf-8")]
    assert not missing, missing
