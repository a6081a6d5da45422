"""Delegation: request and response translation by LiteLLM's own Bedrock classes.

We only choose what goes in (mapped OpenAI params, never ``aws_*``/``xacct_*``/router internals),
where it goes (the deployment's endpoint), and sign it. ``AmazonConverseConfig`` builds the body and
parses the answer; ``AWSEventStreamDecoder`` decodes streams; LiteLLM's exception mapping (as
provider ``bedrock``) turns Bedrock errors into the same exceptions native ``bedrock/`` raises.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from functools import lru_cache
from typing import Any

import httpx
import litellm
from litellm.litellm_core_utils.exception_mapping_utils import exception_type
from litellm.llms.bedrock.chat.invoke_handler import AWSEventStreamDecoder
from litellm.llms.bedrock.common_utils import BedrockError

from ._config import DeploymentConfig

#: Keys LiteLLM (or a router) leaves in optional_params that must never reach Bedrock.
_INTERNAL = frozenset({"max_retries", "stream", "stream_options", "fake_stream", "model_id"})


def _converse() -> Any:
    return litellm.AmazonConverseConfig()


def bedrock_params(model: str, optional_params: Mapping[str, Any], drop_params: bool) -> dict[str, Any]:
    """The params Bedrock may see: OpenAI params mapped by LiteLLM's Converse config, plus
    provider-specific passthrough (``top_k``, ``guardrailConfig``...) exactly as native ``bedrock/``
    passes them. ``aws_*``, ``xacct_*`` and router internals are removed."""
    config = _converse()
    openai_names = set(litellm.OPENAI_CHAT_COMPLETION_PARAMS)
    supported = set(config.get_supported_openai_params(model))
    openai_part: dict[str, Any] = {}
    passthrough: dict[str, Any] = {}
    for key, value in optional_params.items():
        if key.startswith(("aws_", "xacct_")) or key in _INTERNAL or value is None:
            continue
        if key in openai_names:
            if key in supported:
                openai_part[key] = value
            elif not drop_params:
                raise litellm.UnsupportedParamsError(
                    message=f"bedrock-xacct does not support parameter {key!r} for model {model}. "
                    "Fix: remove it, or set drop_params: true to drop it",
                    model=model, llm_provider="bedrock-xacct",
                )
        else:
            passthrough[key] = value
    mapped = config.map_openai_params(
        non_default_params=openai_part, optional_params={}, model=model, drop_params=drop_params
    )
    mapped.update(passthrough)
    return dict(mapped)


def request_body(config: DeploymentConfig, messages: list[Any], params: dict[str, Any],
                 litellm_params: dict[str, Any], headers: dict[str, Any]) -> dict[str, Any]:
    body = _converse().transform_request(
        model=config.model, messages=messages, optional_params=dict(params),
        litellm_params=litellm_params, headers=headers,
    )
    return dict(body)


def parse_response(config: DeploymentConfig, response: httpx.Response, model_response: Any, logging_obj: Any,
                   body: dict[str, Any], messages: list[Any], params: dict[str, Any],
                   litellm_params: dict[str, Any], encoding: Any) -> Any:
    return _converse().transform_response(
        model=config.model, raw_response=response, model_response=model_response, logging_obj=logging_obj,
        request_data=body, messages=messages, optional_params=params, litellm_params=litellm_params,
        encoding=encoding,
    )


def bedrock_error(config: DeploymentConfig, status: int, text: str, headers: Mapping[str, str]) -> Exception:
    """Map a Bedrock error answer the way native ``bedrock/`` does (ContextWindowExceeded, 429, 503...)."""
    original = BedrockError(status_code=status, message=text, headers=httpx.Headers(dict(headers)))
    try:
        return exception_type(model=config.model, custom_llm_provider="bedrock", original_exception=original)
    except Exception as mapped:  # exception_type raises the mapped exception
        return mapped


def error_code(text: str, headers: Mapping[str, str]) -> str | None:
    """Bedrock's structured error code (``x-amzn-ErrorType`` header, else the body's ``__type``)."""
    header = headers.get("x-amzn-errortype") or headers.get("x-amzn-ErrorType")
    if header:
        return header.split(":", 1)[0]
    try:
        kind = json.loads(text).get("__type")
    except (ValueError, AttributeError):
        return None
    return str(kind).rsplit("#", 1)[-1] if kind else None


class StreamFixer:
    """Reorders Bedrock stream chunks so nothing is lost through a custom provider's stream wrapper.

    LiteLLM drops a custom provider's bare finish chunk (finish reason, no content) together with
    the usage on it, and ends the stream at the first content-less chunk after it. Bedrock sends
    usage after the finish (Converse) or on it (Invoke). So: hold a bare finish chunk back, emit
    usage as its own chunk, then the finish.
    """

    def __init__(self) -> None:
        self.held: Any = None

    def feed(self, chunk: Any) -> list[Any]:
        if isinstance(chunk, dict):  # a GenericStreamingChunk (older decoders emit one per messageStart)
            keep = chunk.get("text") or chunk.get("tool_use") or chunk.get("is_finished") or chunk.get("usage")
            return [chunk] if keep else []
        choice = chunk.choices[0] if getattr(chunk, "choices", None) else None
        usage = getattr(chunk, "usage", None)
        if choice is not None and choice.finish_reason and not _has_content(choice.delta):
            if usage is not None:
                return [_usage_chunk(chunk), _without_usage(chunk)]
            self.held = chunk
            return []
        if self.held is not None and usage is not None and not (choice and _has_content(choice.delta)):
            held, self.held = self.held, None
            return [chunk, held]
        return [chunk]

    def flush(self) -> list[Any]:
        held, self.held = self.held, None
        return [held] if held is not None else []


def _has_content(delta: Any) -> bool:
    return bool(
        getattr(delta, "content", None) or getattr(delta, "tool_calls", None)
        or getattr(delta, "reasoning_content", None) or getattr(delta, "thinking_blocks", None)
    )


def _usage_chunk(chunk: Any) -> Any:
    copy = chunk.model_copy(deep=True)
    copy.choices[0].finish_reason = None
    return copy


def _without_usage(chunk: Any) -> Any:
    copy = chunk.model_copy(deep=True)
    if hasattr(copy, "usage"):
        del copy.usage
    return copy


@lru_cache(maxsize=1)
def wrapper_takes_model_response_stream() -> bool:
    """Whether this LiteLLM's stream wrapper accepts ``ModelResponseStream`` chunks from a custom
    provider (1.108.7 does; 1.82.3 only reads ``GenericStreamingChunk`` dicts from custom providers)."""
    from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper

    source = inspect.getsource(CustomStreamWrapper)
    return re.search(r"isinstance\(chunk, ModelResponseStream\)\s*and self\.custom_llm_provider[^\n]*\n"
                     r"(?:[^\n]*\n)?[^\n]*_custom_providers", source) is not None


def to_generic_chunks(chunk: Any) -> list[dict[str, Any]]:
    """A ``ModelResponseStream`` as ``GenericStreamingChunk`` dicts (one tool call each), for LiteLLM
    releases whose custom-provider stream path reads only those. Reasoning text has no field there:
    it travels in ``provider_specific_fields`` (set on the chunk, not its delta)."""
    choice = chunk.choices[0] if chunk.choices else None
    delta = choice.delta if choice is not None else None
    finish = (choice.finish_reason if choice is not None else None) or ""
    usage = getattr(chunk, "usage", None)
    base: dict[str, Any] = {"text": (delta.content if delta is not None else None) or "", "tool_use": None,
                            "is_finished": bool(finish), "finish_reason": finish, "index": 0,
                            "usage": _usage_dict(usage) if usage is not None else None}
    reasoning = getattr(delta, "reasoning_content", None) if delta is not None else None
    if reasoning:
        base["provider_specific_fields"] = {"reasoning_content": reasoning}
    tools = list(getattr(delta, "tool_calls", None) or []) if delta is not None else []
    if not tools:
        return [base]
    out = []
    for i, tool in enumerate(tools):
        item = dict(base) if i == len(tools) - 1 else {**base, "is_finished": False, "finish_reason": "",
                                                      "usage": None}
        if i:
            item["text"] = ""
        fn = tool.function
        item["tool_use"] = {"id": tool.id, "type": "function", "index": tool.index or 0,
                            "function": {"name": fn.name, "arguments": fn.arguments or ""}}
        out.append(item)
    return out


def _usage_dict(usage: Any) -> dict[str, Any]:
    data = usage.model_dump() if hasattr(usage, "model_dump") else dict(usage)
    return {k: v for k, v in data.items() if v is not None}


def _emit(chunks: list[Any]) -> list[Any]:
    if wrapper_takes_model_response_stream():
        return chunks
    return [g for chunk in chunks for g in ([chunk] if isinstance(chunk, dict) else to_generic_chunks(chunk))]


def decode_stream(config: DeploymentConfig, chunks: Iterator[bytes]) -> Iterator[Any]:
    decoder = AWSEventStreamDecoder(model=config.model)
    fixer = StreamFixer()
    for chunk in decoder.iter_bytes(chunks):
        yield from _emit(fixer.feed(chunk))
    yield from _emit(fixer.flush())


async def adecode_stream(config: DeploymentConfig, chunks: AsyncIterator[bytes]) -> AsyncIterator[Any]:
    decoder = AWSEventStreamDecoder(model=config.model)
    fixer = StreamFixer()
    async for chunk in decoder.aiter_bytes(chunks):
        for out in _emit(fixer.feed(chunk)):
            yield out
    for out in _emit(fixer.flush()):
        yield out
