"""Deterministic answers of the Bedrock stand-in: what the fake model "says" (a :class:`_Reply` that names
the signer) and how it is rendered for each operation: Converse / ConverseStream bodies and events,
Anthropic InvokeModel / InvokeModelWithResponseStream bodies and events, Titan embeddings, and the token
counts. :func:`model_answer` is the one entry point the HTTP server (``_bedrock``) calls."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from . import _models
from ._eventstream import encode_event, encode_exception
from ._fault_plans import Fault
from ._identities import Identity
from ._models import reply_text

_Answer = list[bytes] | tuple[dict[str, Any], dict[str, str]]  # stream frames, or JSON body + headers


class _Invalid(Exception):
    """A request the real service would answer with 400 ValidationException."""


@dataclass(frozen=True)
class _Reply:
    """What the fake model "says", independent of the wire format it is rendered in."""

    text: str
    account: str
    input_tokens: int
    reasoning: bool = False
    tool_name: str | None = None
    cached: bool = False
    guardrail: str | None = None  # guardrail id when the request asked for its trace
    forced_tool: bool = False  # tool choice "any"/a named tool: the model answers with the tool call alone

    @property
    def output_tokens(self) -> int:
        return len(self.text.split())

    @property
    def tool_input(self) -> dict[str, str]:
        return {"signer": self.account}

    def text_chunks(self) -> list[str]:
        """The text in three non-empty pieces that concatenate back to it (for streaming deltas)."""
        words = self.text.split(" ")
        a, b = max(1, len(words) // 3), max(2, 2 * len(words) // 3)
        return [" ".join(words[:a]), " " + " ".join(words[a:b]), " " + " ".join(words[b:])]


#: A marker anywhere in a request body (e.g. in the user's text) -> the HTTP error Bedrock answers instead.
ERROR_MARKERS = {
    "[xacct:throttle]": Fault("ThrottlingException", 429, "Too many requests, please wait before trying again."),
    "[xacct:unavailable]": Fault("ServiceUnavailableException", 503, "Bedrock is unable to process your request."),
    "[xacct:too-long]": Fault("ValidationException", 400, "Input is too long for requested model."),
}
#: A marker -> the exception event a *stream* ends with after its first two events (HTTP 200 already sent).
#: Non-streaming operations answer normally.
STREAM_ERROR_MARKERS: dict[str, tuple[str, dict[str, Any]]] = {
    "[xacct:stream-throttle]": ("throttlingException",
                                {"message": "Too many requests, please wait before trying again."}),
    "[xacct:stream-error]": ("modelStreamErrorException",
                             {"message": "Model stream error: the model stopped responding.",
                              "originalStatusCode": 500, "originalMessage": "Internal error"}),
}
REASONING_TEXT = "Thinking about who signed."
REASONING_SIGNATURE = "sig-xacct"
TOOL_USE_ID = "tooluse_xacct1"


def _words(texts: Iterable[Any]) -> int:
    return max(1, sum(len(t.split()) for t in texts if isinstance(t, str)))


def _blocks(value: Any) -> list[dict[str, Any]]:
    return [b for b in value if isinstance(b, dict)] if isinstance(value, list) else []


def _converse_reply(body: dict[str, Any], identity: Identity) -> _Reply:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _Invalid("A conversation must start with a user message. Try again with a conversation that "
                       "starts with a user message.")
    blocks = [b for m in messages if isinstance(m, dict) for b in _blocks(m.get("content"))]
    system = _blocks(body.get("system"))
    tool_config = body.get("toolConfig")
    tools = _blocks(tool_config.get("tools")) if isinstance(tool_config, dict) else []
    extra = body.get("additionalModelRequestFields")
    specs = [t["toolSpec"] for t in tools if isinstance(t.get("toolSpec"), dict)]
    return _Reply(
        text=reply_text(identity),
        account=identity.account,
        input_tokens=_words(b.get("text") for b in blocks + system),
        reasoning=isinstance(extra, dict) and ("thinking" in extra or "reasoning_config" in extra),
        tool_name=_forced_name(tool_config, "toolChoice") or (str(specs[0].get("name", "tool")) if specs else None),
        forced_tool=bool(specs) and _forced(tool_config, "toolChoice"),
        cached=any("cachePoint" in b for b in blocks + system + tools),
        guardrail=_traced_guardrail(body.get("guardrailConfig")),
    )


def _forced(container: Any, key: str) -> bool:
    """Whether a Converse ``toolConfig.toolChoice`` (``{"tool": ...}`` / ``{"any": {}}``) or an Anthropic
    ``tool_choice`` (``{"type": "tool" | "any"}``) forces a tool call."""
    choice = container.get(key) if isinstance(container, dict) else None
    if not isinstance(choice, dict):
        return False
    return "tool" in choice or "any" in choice or choice.get("type") in ("tool", "any")


def _forced_name(container: Any, key: str) -> str | None:
    choice = container.get(key) if isinstance(container, dict) else None
    if not isinstance(choice, dict):
        return None
    named = choice.get("tool") if "tool" in choice else (choice if choice.get("type") == "tool" else None)
    return str(named["name"]) if isinstance(named, dict) and named.get("name") else None


def _traced_guardrail(config: Any) -> str | None:
    if isinstance(config, dict) and config.get("trace") in ("enabled", "enabled_full"):
        return str(config.get("guardrailIdentifier", "guardrail"))
    return None


def _guardrail_trace(guardrail: str) -> dict[str, Any]:
    """A pass-through guardrail assessment (nothing blocked), shaped as botocore's GuardrailTraceAssessment."""
    metrics = {"guardrailProcessingLatency": 1, "usage": {"topicPolicyUnits": 1, "contentPolicyUnits": 1,
                                                          "wordPolicyUnits": 1, "sensitiveInformationPolicyUnits": 1,
                                                          "sensitiveInformationPolicyFreeUnits": 0,
                                                          "contextualGroundingPolicyUnits": 0}}
    return {"guardrail": {"inputAssessment": {guardrail: {"invocationMetrics": metrics}},
                          "outputAssessments": {guardrail: [{"invocationMetrics": metrics}]}}}


def _anthropic_reply(body: dict[str, Any], identity: Identity) -> _Reply:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _Invalid("messages: field required")
    texts: list[Any] = []
    blocks: list[dict[str, Any]] = []
    for part in [m.get("content") for m in messages if isinstance(m, dict)] + [body.get("system")]:
        if isinstance(part, str):
            texts.append(part)
        blocks += [b for b in _blocks(part) if b.get("type") == "text"]
    tools = _blocks(body.get("tools"))
    thinking = body.get("thinking")
    return _Reply(
        text=reply_text(identity),
        account=identity.account,
        input_tokens=_words(texts + [b.get("text") for b in blocks]),
        reasoning=isinstance(thinking, dict) and thinking.get("type") == "enabled",
        tool_name=_forced_name(body, "tool_choice") or (str(tools[0].get("name", "tool")) if tools else None),
        forced_tool=bool(tools) and _forced(body, "tool_choice"),
        cached=any("cache_control" in b for b in blocks + tools),
    )


def _converse_usage(reply: _Reply) -> dict[str, int]:
    usage = {"inputTokens": reply.input_tokens, "outputTokens": reply.output_tokens,
             "totalTokens": reply.input_tokens + reply.output_tokens}
    if reply.cached:
        usage.update(cacheReadInputTokens=7, cacheWriteInputTokens=0)
    return usage


def converse_body(reply: _Reply) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if reply.reasoning:
        content.append({"reasoningContent": {"reasoningText": {"text": REASONING_TEXT,
                                                               "signature": REASONING_SIGNATURE}}})
    if not reply.forced_tool:
        content.append({"text": reply.text})
    if reply.tool_name:
        content.append({"toolUse": {"toolUseId": TOOL_USE_ID, "name": reply.tool_name,
                                    "input": reply.tool_input}})
    answer = {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": "tool_use" if reply.tool_name else "end_turn",
        "usage": _converse_usage(reply),
        "metrics": {"latencyMs": 1},
    }
    if reply.guardrail:
        answer["trace"] = _guardrail_trace(reply.guardrail)
    return answer


def converse_stream_events(reply: _Reply) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": "assistant"})]
    index = 0
    if reply.reasoning:
        events += [
            ("contentBlockDelta", {"contentBlockIndex": 0,
                                   "delta": {"reasoningContent": {"text": REASONING_TEXT}}}),
            ("contentBlockDelta", {"contentBlockIndex": 0,
                                   "delta": {"reasoningContent": {"signature": REASONING_SIGNATURE}}}),
            ("contentBlockStop", {"contentBlockIndex": 0}),
        ]
        index = 1
    if not reply.forced_tool:
        events += [("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": chunk}})
                   for chunk in reply.text_chunks()]
        events.append(("contentBlockStop", {"contentBlockIndex": index}))
        index += 1
    if reply.tool_name:
        partial = json.dumps(reply.tool_input)
        half = len(partial) // 2
        tool_start = {"toolUseId": TOOL_USE_ID, "name": reply.tool_name}
        events += [
            ("contentBlockStart", {"contentBlockIndex": index, "start": {"toolUse": tool_start}}),
            *(("contentBlockDelta", {"contentBlockIndex": index, "delta": {"toolUse": {"input": part}}})
              for part in (partial[:half], partial[half:])),
            ("contentBlockStop", {"contentBlockIndex": index}),
        ]
    events += [
        ("messageStop", {"stopReason": "tool_use" if reply.tool_name else "end_turn"}),
        ("metadata", {"usage": _converse_usage(reply), "metrics": {"latencyMs": 1},
                      **({"trace": _guardrail_trace(reply.guardrail)} if reply.guardrail else {})}),
    ]
    return events


def _anthropic_usage(reply: _Reply) -> dict[str, int]:
    usage = {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens}
    if reply.cached:
        usage.update(cache_read_input_tokens=7, cache_creation_input_tokens=0)
    return usage


def anthropic_body(reply: _Reply) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if reply.reasoning:
        content.append({"type": "thinking", "thinking": REASONING_TEXT, "signature": REASONING_SIGNATURE})
    if not reply.forced_tool:
        content.append({"type": "text", "text": reply.text})
    if reply.tool_name:
        content.append({"type": "tool_use", "id": TOOL_USE_ID, "name": reply.tool_name,
                        "input": reply.tool_input})
    return {
        "id": "msg_xacct", "type": "message", "role": "assistant", "model": "claude-sonnet-4-6",
        "content": content, "stop_reason": "tool_use" if reply.tool_name else "end_turn",
        "stop_sequence": None, "usage": _anthropic_usage(reply),
    }


def anthropic_stream_events(reply: _Reply) -> list[dict[str, Any]]:
    start = anthropic_body(reply) | {"content": [], "stop_reason": None}
    start["usage"] = dict(_anthropic_usage(reply), output_tokens=1)
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    index = 0
    if reply.reasoning:
        events += [
            {"type": "content_block_start", "index": 0,
             "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
            {"type": "content_block_delta", "index": 0,
             "delta": {"type": "thinking_delta", "thinking": REASONING_TEXT}},
            {"type": "content_block_delta", "index": 0,
             "delta": {"type": "signature_delta", "signature": REASONING_SIGNATURE}},
            {"type": "content_block_stop", "index": 0},
        ]
        index = 1
    if not reply.forced_tool:
        events.append({"type": "content_block_start", "index": index,
                       "content_block": {"type": "text", "text": ""}})
        events += [{"type": "content_block_delta", "index": index,
                    "delta": {"type": "text_delta", "text": chunk}} for chunk in reply.text_chunks()]
        events.append({"type": "content_block_stop", "index": index})
        index += 1
    if reply.tool_name:
        partial = json.dumps(reply.tool_input)
        half = len(partial) // 2
        events += [
            {"type": "content_block_start", "index": index,
             "content_block": {"type": "tool_use", "id": TOOL_USE_ID, "name": reply.tool_name, "input": {}}},
            {"type": "content_block_delta", "index": index,
             "delta": {"type": "input_json_delta", "partial_json": partial[:half]}},
            {"type": "content_block_delta", "index": index,
             "delta": {"type": "input_json_delta", "partial_json": partial[half:]}},
            {"type": "content_block_stop", "index": index},
        ]
    events += [
        {"type": "message_delta", "delta": {"stop_reason": "tool_use" if reply.tool_name else "end_turn",
                                            "stop_sequence": None},
         "usage": {"output_tokens": reply.output_tokens}},
        {"type": "message_stop", "amazon-bedrock-invocationMetrics": {
            "inputTokenCount": reply.input_tokens, "outputTokenCount": reply.output_tokens,
            "invocationLatency": 1, "firstByteLatency": 1}},
    ]
    return events


def _with_stream_error(frames: list[bytes], body_text: str) -> list[bytes]:
    """End a stream after its first two events with the exception event a marker asks for."""
    for marker, (exception_type, payload) in STREAM_ERROR_MARKERS.items():
        if marker in body_text:
            return frames[:2] + [encode_exception(exception_type, payload)]
    return frames


def _chunks(payloads: Iterable[dict[str, Any]]) -> list[bytes]:
    """InvokeModelWithResponseStream frames: each payload base64-encoded in a ``chunk`` event."""
    return [encode_event("chunk", {"bytes": base64.b64encode(json.dumps(p).encode()).decode()}) for p in payloads]


def _invoke_answer(operation: str, model_id: str, body: dict[str, Any], identity: Identity) -> _Answer:
    served = _models.family_answer(operation, model_id, body, identity)  # the other families: _models
    if served is not None:
        return served
    name = model_id.lower()
    if "titan-embed-text-v1" in name or (name.startswith("arn:") and set(body) == {"inputText"}):
        if operation != "InvokeModel":
            raise _Invalid("The model is unsupported for streaming")
        return _titan_v1_embedding(body)
    if "anthropic" not in name and not (name.startswith("arn:") and "anthropic_version" in body):
        raise _Invalid("The provided model identifier is invalid.")
    reply = _anthropic_reply(body, identity)
    if operation == "InvokeModelWithResponseStream":
        return _chunks(anthropic_stream_events(reply))
    return anthropic_body(reply), _invocation_headers(reply.input_tokens, reply.output_tokens)


def _titan_v1_embedding(body: dict[str, Any]) -> _Answer:
    """Titan Text Embeddings G1: always 1536 dimensions, no options."""
    text = body.get("inputText")
    if not isinstance(text, str):
        raise _Invalid("Malformed input request: required key [inputText] not found, please reformat your "
                       "input and try again.")
    tokens = _words([text])
    return {"embedding": _models._vector(text, 1536), "inputTextTokenCount": tokens}, _invocation_headers(tokens, 0)


def model_answer(operation: str, model_id: str, body: dict[str, Any] | None,
                 identity: Identity | None) -> _Answer | Fault:
    """The 200 answer (event-stream frames, or JSON payload + extra headers), or the HTTP error a marker in
    the body selects (:data:`ERROR_MARKERS`), or a ValidationException for a malformed request."""
    assert identity is not None  # verification passed, so the signer is known
    try:
        if body is None:
            raise _Invalid("Malformed input request, please reformat your input and try again.")
        body_text = json.dumps(body)
        fault = next((f for marker, f in ERROR_MARKERS.items() if marker in body_text), None)
        if fault is not None:
            return fault
        if operation == "Converse":
            return converse_body(_converse_reply(body, identity)), {}
        if operation == "ConverseStream":
            events = converse_stream_events(_converse_reply(body, identity))
            return _with_stream_error([encode_event(name, payload) for name, payload in events], body_text)
        answer = _invoke_answer(operation, model_id, body, identity)
        return _with_stream_error(answer, body_text) if isinstance(answer, list) else answer
    except (_Invalid, _models.Invalid) as invalid:
        return Fault("ValidationException", 400, str(invalid))


def _invocation_headers(input_tokens: int, output_tokens: int) -> dict[str, str]:
    # InvokeModel reports usage in headers too; some clients read them
    return {"X-Amzn-Bedrock-Input-Token-Count": str(input_tokens),
            "X-Amzn-Bedrock-Output-Token-Count": str(output_tokens),
            "X-Amzn-Bedrock-Invocation-Latency": "1"}
