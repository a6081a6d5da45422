"""Every route through LiteLLM's real entry points against the stand-in: what reached the wire (operation,
model id, body), who signed it, the answer's shape, streamed errors, cut streams, reasoning and cost."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import litellm
import pytest
from litellm.integrations.custom_logger import CustomLogger

import litellm_xacct
from litellm_xacct import BedrockXacct, CredentialEngine
from litellm_xacct.testing import LocalAWS
from litellm_xacct.testing._answers import REASONING_SIGNATURE, REASONING_TEXT

from .conftest import DEPT_A, DEPT_B, DEPT_B_EXTERNAL_ID, MODEL, deployment

MESSAGES = [{"role": "user", "content": "who signed this request?"}]
ACCOUNT_A = "111111111111"
INVOKE_MODELS = {
    "anthropic": "us.anthropic.claude-sonnet-4-6",
    "llama": "meta.llama3-1-8b-instruct-v1:0",
    "mistral": "mistral.mistral-7b-instruct-v0:2",
    "cohere": "cohere.command-text-v14",
    "titan": "amazon.titan-text-express-v1",
    "nova": "us.amazon.nova-pro-v1:0",
}
# What LiteLLM's stream wrapper raises for an error inside a stream: newer releases wrap it for Router fallbacks.
MID_STREAM_ERRORS = (litellm.APIConnectionError, getattr(litellm.exceptions, "MidStreamFallbackError",
                                                         litellm.APIConnectionError))
TOOLS = [{"type": "function", "function": {"name": "lookup_account", "description": "d",
                                           "parameters": {"type": "object", "properties": {}}}}]


@pytest.fixture
def engine(local_aws: LocalAWS) -> Iterator[CredentialEngine]:
    eng = CredentialEngine()
    litellm_xacct.register(BedrockXacct(engine=eng))
    yield eng
    eng.close()


# Named apart from test_parity.CostLog: LiteLLM keeps one callback per class name, so a second class of the
# same name in one test run is never called.
class RouteCostLog(CustomLogger):
    """The standard logging payload of every success, as LiteLLM hands it to callbacks."""

    def __init__(self) -> None:
        super().__init__()
        self.payloads: list[dict[str, Any]] = []

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self.payloads.append(kwargs.get("standard_logging_object") or {})

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self.payloads.append(kwargs.get("standard_logging_object") or {})


_COST_LOG = RouteCostLog()  # one instance: LiteLLM registers a callback class once per process


@pytest.fixture
def cost_log() -> Iterator[RouteCostLog]:
    if _COST_LOG not in litellm.callbacks:
        litellm.callbacks = [*litellm.callbacks, _COST_LOG]
    _COST_LOG.payloads.clear()
    yield _COST_LOG
    _COST_LOG.payloads.clear()


def complete(model: str, *, stream: bool, sync: bool, prefix: str = "bedrock-xacct", **kwargs: Any) -> tuple[str, Any]:
    """One chat call; returns (text, response or list of chunks)."""
    kwargs = {"model": f"{prefix}/{model}", "messages": MESSAGES, "stream": stream, **kwargs}
    if sync:
        result = litellm.completion(**kwargs)
        if not stream:
            return result.choices[0].message.content or "", result
        chunks = list(result)
    else:
        async def run() -> Any:
            result = await litellm.acompletion(**kwargs)
            return result if not stream else [c async for c in result]
        result = asyncio.run(run())
        if not stream:
            return result.choices[0].message.content or "", result
        chunks = result
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices), chunks


def only_call(aws: LocalAWS) -> Any:
    calls = aws.bedrock_calls()
    assert len(calls) == 1, calls
    return calls[0]


# -- invoke/ ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("family", sorted(INVOKE_MODELS))
def test_invoke_family_on_the_wire(engine: CredentialEngine, local_aws: LocalAWS, family: str, stream: bool) -> None:
    model = INVOKE_MODELS[family]
    text, _ = complete(f"invoke/{model}", stream=stream, sync=True, max_tokens=50, **deployment(local_aws))
    assert f"account {ACCOUNT_A}" in text
    call = only_call(local_aws)
    assert call.operation == ("InvokeModelWithResponseStream" if stream else "InvokeModel")
    assert (call.model_id, call.account, call.role_arn, call.status) == (model, ACCOUNT_A, DEPT_A, 200)
    body = call.body
    assert body is not None and "xacct" not in repr(body) and "aws_" not in repr(body)
    expected_key = {"anthropic": "anthropic_version", "nova": "messages", "titan": "inputText"}.get(family, "prompt")
    assert expected_key in body


def test_invoke_async_stream_and_plain(engine: CredentialEngine, local_aws: LocalAWS) -> None:
    params = deployment(local_aws, DEPT_B, aws_external_id=DEPT_B_EXTERNAL_ID)
    text, _ = complete(f"invoke/{MODEL}", stream=False, sync=False, **params)
    streamed, _ = complete(f"invoke/{MODEL}", stream=True, sync=False, **params)
    assert "222222222222" in text and "222222222222" in streamed
    assert [(c.operation, c.account) for c in local_aws.bedrock_calls()] == [
        ("InvokeModel", "222222222222"), ("InvokeModelWithResponseStream", "222222222222")]


def test_invoke_anthropic_thinking_and_tools_without_allowed_params(engine: CredentialEngine,
                                                                    local_aws: LocalAWS) -> None:
    _, response = complete(f"invoke/{MODEL}", stream=False, sync=True, tools=TOOLS, max_tokens=2048,
                           thinking={"type": "enabled", "budget_tokens": 1024}, **deployment(local_aws))
    body = only_call(local_aws).body
    assert body is not None and body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert body["tools"][0]["name"] == "lookup_account"
    message = response.choices[0].message
    assert message.reasoning_content == REASONING_TEXT
    assert message.thinking_blocks[0]["signature"] == REASONING_SIGNATURE
    assert message.tool_calls[0].function.name == "lookup_account"


def test_application_profile_arn_on_invoke_uses_base_model(engine: CredentialEngine, local_aws: LocalAWS) -> None:
    arn = "arn:aws:bedrock:us-east-1:111111111111:application-inference-profile/abc123"
    text, _ = complete(f"invoke/{arn}", stream=False, sync=True, base_model="anthropic.claude-sonnet-4-6",
                       **deployment(local_aws))
    assert ACCOUNT_A in text
    call = only_call(local_aws)
    assert (call.operation, call.model_id) == ("InvokeModel", arn)
    assert call.body is not None and call.body["anthropic_version"] == "bedrock-2023-05-31"


def test_invoke_arn_without_family_names_the_fix(engine: CredentialEngine, local_aws: LocalAWS) -> None:
    arn = "arn:aws:bedrock:us-east-1:111111111111:application-inference-profile/abc123"
    with pytest.raises(litellm.InternalServerError, match="base_model"):
        complete(f"invoke/{arn}", stream=False, sync=True, **deployment(local_aws))
    assert local_aws.bedrock_calls() == []


# -- converse/ ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "converse/"], ids=["bare", "converse"])
def test_converse_prefixes(engine: CredentialEngine, local_aws: LocalAWS, prefix: str) -> None:
    text, _ = complete(f"{prefix}{MODEL}", stream=False, sync=True, **deployment(local_aws))
    assert ACCOUNT_A in text
    call = only_call(local_aws)
    assert (call.operation, call.model_id) == ("Converse", MODEL)


def test_reasoning_effort_maps_as_native_without_allowed_params(engine: CredentialEngine,
                                                                local_aws: LocalAWS) -> None:
    _, response = complete(MODEL, stream=False, sync=True, reasoning_effort="low", **deployment(local_aws))
    body = only_call(local_aws).body
    assert body is not None
    native = litellm.AmazonConverseConfig().map_openai_params(
        non_default_params={"reasoning_effort": "low"}, optional_params={}, model=MODEL, drop_params=False)
    assert body["additionalModelRequestFields"]["thinking"] == native["thinking"]
    assert response.choices[0].message.reasoning_content == REASONING_TEXT


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
def test_streamed_reasoning_assembles_whole_with_signature(engine: CredentialEngine, local_aws: LocalAWS,
                                                           sync: bool) -> None:
    _, chunks = complete(MODEL, stream=True, sync=sync, reasoning_effort="low", tools=TOOLS,
                         stream_options={"include_usage": True}, **deployment(local_aws))
    assert chunks
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    assert reasoning == REASONING_TEXT
    built = litellm.stream_chunk_builder(chunks, messages=MESSAGES)
    message = built.choices[0].message
    assert message.reasoning_content == REASONING_TEXT
    assert message.thinking_blocks and message.thinking_blocks[0]["signature"] == REASONING_SIGNATURE
    assert message.tool_calls[0].function.name == "lookup_account"
    assert built.usage.prompt_tokens > 0 and built.usage.completion_tokens > 0


# -- streamed errors and cut streams ---------------------------------------------------------------------


@pytest.mark.parametrize("route", ["", "invoke/"], ids=["converse", "invoke"])
@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
@pytest.mark.parametrize(("code", "status", "error"), [
    ("ThrottlingException", 429, litellm.RateLimitError),
    ("ServiceUnavailableException", 503, litellm.ServiceUnavailableError),
], ids=["throttled", "unavailable"])
def test_stream_refusal_raises_at_the_call(engine: CredentialEngine, local_aws: LocalAWS, route: str, sync: bool,
                                           code: str, status: int, error: type[Exception]) -> None:
    params = deployment(local_aws)
    local_aws.fail_bedrock(code=code, status=status, count=1)
    kwargs = {"model": f"bedrock-xacct/{route}{MODEL}", "messages": MESSAGES, "stream": True, **params}
    with pytest.raises(error):
        if sync:
            litellm.completion(**kwargs)  # raises here: no iteration
        else:
            asyncio.run(litellm.acompletion(**kwargs))  # raises at the await: no iteration
    assert [c.error_code for c in local_aws.bedrock_calls()] == [code]


@pytest.mark.parametrize("route", ["", "invoke/"], ids=["converse", "invoke"])
@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
@pytest.mark.parametrize("fault", ["cut", "truncate"])
def test_stream_ended_early_raises(engine: CredentialEngine, local_aws: LocalAWS, route: str, sync: bool,
                                   fault: str) -> None:
    params = deployment(local_aws)
    (local_aws.cut_stream_after if fault == "cut" else local_aws.truncate_stream_after)(3)
    with pytest.raises(MID_STREAM_ERRORS, match="ended early"):
        complete(f"{route}{MODEL}", stream=True, sync=sync, **params)
    assert [c.status for c in local_aws.bedrock_calls()] == [200]


# -- embeddings ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
@pytest.mark.parametrize(("model", "calls", "key"), [
    ("amazon.titan-embed-text-v2:0", 2, "inputText"),
    ("amazon.titan-embed-text-v1", 2, "inputText"),
    ("cohere.embed-v4:0", 1, "texts"),
    ("amazon.nova-2-multimodal-embeddings-v1:0", 2, "singleEmbeddingParams"),
], ids=["titan-v2", "titan-v1", "cohere", "nova"])
def test_embeddings(engine: CredentialEngine, local_aws: LocalAWS, model: str, calls: int, key: str,
                    sync: bool) -> None:
    kwargs = {"model": f"bedrock-xacct/{model}", "input": ["who signed", "this request"], **deployment(local_aws)}
    response = litellm.embedding(**kwargs) if sync else asyncio.run(litellm.aembedding(**kwargs))
    assert len(response.data) == 2
    assert all(isinstance(v, float) for v in response.data[0]["embedding"]) and response.data[0]["embedding"]
    assert response.data[0]["embedding"] != response.data[1]["embedding"]
    wire = local_aws.bedrock_calls()
    assert len(wire) == calls
    assert {(c.operation, c.model_id, c.account, c.status) for c in wire} == {("InvokeModel", model, ACCOUNT_A, 200)}
    assert all(c.body is not None and key in c.body for c in wire)


# -- images ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
@pytest.mark.parametrize(("model", "key"), [
    ("amazon.titan-image-generator-v2:0", "taskType"),
    ("amazon.nova-canvas-v1:0", "taskType"),
    ("stability.sd3-large-v1:0", "prompt"),
    ("stability.stable-diffusion-xl-v1", "text_prompts"),
], ids=["titan", "nova-canvas", "sd3", "sdxl"])
def test_image_generation(engine: CredentialEngine, local_aws: LocalAWS, model: str, key: str, sync: bool) -> None:
    kwargs = {"model": f"bedrock-xacct/{model}", "prompt": "a signer", **deployment(local_aws)}
    response = litellm.image_generation(**kwargs) if sync else asyncio.run(litellm.aimage_generation(**kwargs))
    assert response.data and response.data[0].b64_json
    call = only_call(local_aws)
    assert (call.operation, call.model_id, call.account, call.status) == ("InvokeModel", model, ACCOUNT_A, 200)
    assert call.body is not None and key in call.body


# -- cost ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("model", [MODEL, f"converse/{MODEL}", f"invoke/{MODEL}",
                                   "invoke/meta.llama3-1-8b-instruct-v1:0"],
                         ids=["bare", "converse", "invoke", "invoke-llama"])
def test_cost_is_priced_on_every_prefix(engine: CredentialEngine, local_aws: LocalAWS, cost_log: RouteCostLog,
                                        model: str, stream: bool) -> None:
    text, _ = complete(model, stream=stream, sync=True, max_tokens=50, **deployment(local_aws))
    assert ACCOUNT_A in text
    _wait_for(lambda: cost_log.payloads)
    cost = cost_log.payloads[-1].get("response_cost")
    assert cost is not None and cost > 0, cost_log.payloads[-1].get("cost_breakdown")


def test_cost_of_an_application_profile_arn_uses_base_model(engine: CredentialEngine, local_aws: LocalAWS,
                                                             cost_log: RouteCostLog) -> None:
    arn = "arn:aws:bedrock:us-east-1:111111111111:application-inference-profile/abc123"
    complete(arn, stream=False, sync=True, model_info={"base_model": f"bedrock/{MODEL}"}, **deployment(local_aws))
    _wait_for(lambda: cost_log.payloads)
    cost = cost_log.payloads[-1].get("response_cost")
    assert cost is not None and cost > 0


def _wait_for(condition: Any, attempts: int = 200) -> None:
    """Success callbacks run on LiteLLM's logging worker: wait (bounded) until one has landed."""
    import time

    for _ in range(attempts):
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("no success callback arrived")


# -- response_format ------------------------------------------------------------------------------------


def native(model: str, *, stream: bool, sync: bool, **kwargs: Any) -> tuple[str, Any]:
    """The same call through native ``bedrock/`` (same role, same stand-in): the reference to match."""
    return complete(model, stream=stream, sync=sync, prefix="bedrock", **kwargs)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
def test_response_format_as_native(engine: CredentialEngine, local_aws: LocalAWS, sync: bool, stream: bool) -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "signer", "schema": {
        "type": "object", "properties": {"signer": {"type": "string"}}, "required": ["signer"]}}}
    params = deployment(local_aws, aws_session_name="parity")
    ours, our_out = complete(MODEL, stream=stream, sync=sync, response_format=schema, **params)
    theirs, their_out = native(MODEL, stream=stream, sync=sync, response_format=schema, **params)
    calls = local_aws.bedrock_calls()
    assert ours == theirs and "111111111111" in ours
    assert [c.operation for c in calls][0] == calls[1].operation  # a fake stream where native fakes one
    assert [c.account for c in calls] == [ACCOUNT_A, ACCOUNT_A] and calls[0].body == calls[1].body
    if stream:
        built = [litellm.stream_chunk_builder(out, messages=MESSAGES) for out in (our_out, their_out)]
        assert built[0].choices[0].message.content == built[1].choices[0].message.content
        assert built[0].choices[0].finish_reason == built[1].choices[0].finish_reason
        assert bool(built[0].choices[0].message.tool_calls) == bool(built[1].choices[0].message.tool_calls)


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
@pytest.mark.parametrize("route", ["", "invoke/"], ids=["converse", "invoke"])
def test_expired_token_on_a_stream_refreshes_and_retries_once(engine: CredentialEngine, local_aws: LocalAWS,
                                                              route: str, sync: bool) -> None:
    params = deployment(local_aws)
    complete(f"{route}{MODEL}", stream=False, sync=True, **params)  # warm: one lease
    local_aws.fail_bedrock(code="ExpiredTokenException", status=403, count=1)
    text, _ = complete(f"{route}{MODEL}", stream=True, sync=sync, **params)
    assert ACCOUNT_A in text
    assert [(c.status, c.error_code) for c in local_aws.bedrock_calls()] == [
        (200, None), (403, "ExpiredTokenException"), (200, None)]
    assert len(local_aws.sts_calls("AssumeRole")) == 2
