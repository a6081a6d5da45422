"""LiteLLM's stream machinery: the custom-provider stream wrapper, Bedrock's event-stream decoders, replays."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from .._names import PROVIDER
from .facts import differs


@differs("custom-provider stream chunks", on={
    "1.82.3": "read as ``GenericStreamingChunk`` dicts only", "1.108.7": "a ``ModelResponseStream`` is kept as is"},
    detected="one reasoning chunk run through the real ``CustomStreamWrapper``; the type and delta of what "
             "comes back")
@lru_cache(maxsize=1)
def stream_takes_model_response_stream() -> bool:
    """Whether this LiteLLM's stream wrapper passes a custom provider's ``ModelResponseStream`` chunks
    through with their delta (1.108.7), or reads every custom-provider chunk as a ``GenericStreamingChunk``
    dict (1.82.3). Detected by running one reasoning chunk through the real wrapper and checking the type
    and delta of what comes back."""
    import litellm
    from litellm.litellm_core_utils.litellm_logging import Logging
    from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper
    from litellm.types.utils import Delta, ModelResponseStream, StreamingChoices

    registered = PROVIDER in litellm._custom_providers
    if not registered:
        litellm._custom_providers.append(PROVIDER)
    quiet = litellm.suppress_debug_info
    litellm.suppress_debug_info = True  # the dict-only path logs a provider-list banner when it fails
    try:
        logging_obj = Logging(model="probe", messages=[], stream=True, call_type="completion",
                              start_time=datetime.datetime.now(), litellm_call_id="xacct-probe",
                              function_id="xacct-probe")
        wrapper = CustomStreamWrapper(completion_stream=iter(()), model="probe", logging_obj=logging_obj,
                                      custom_llm_provider=PROVIDER)
        chunk = ModelResponseStream(choices=[StreamingChoices(delta=Delta(content="x", reasoning_content="r"))])
        try:
            out = wrapper.chunk_creator(chunk=chunk)
        except Exception:  # the dict-only path cannot read a model object
            return False
        delta = out.choices[0].delta if isinstance(out, ModelResponseStream) and out.choices else None
        return getattr(delta, "reasoning_content", None) == "r"
    finally:
        litellm.suppress_debug_info = quiet
        if not registered:
            litellm._custom_providers.remove(PROVIDER)


@differs("Bedrock event-stream decoder for an Invoke family (or Converse)", on={
    "1.82.3": "chosen inline in ``make_sync_call`` / ``make_call``",
    "1.108.7": "one factory, ``invoke_handler._stream_decoder``"},
    detected="``hasattr(invoke_handler, '_stream_decoder')``; else the same choice made here")
def stream_decoder(provider: str | None, model: str, json_mode: bool, *, sync: bool) -> Any:
    """LiteLLM's Bedrock event-stream decoder for an Invoke ``provider`` family (None: Converse)."""
    from litellm.llms.bedrock.chat import invoke_handler as ih

    if hasattr(ih, "_stream_decoder"):  # 1.108.7: one factory, used by native for every family
        return ih._stream_decoder(provider, model=model, json_mode=json_mode, sync_stream=sync)
    if provider == "anthropic":  # 1.82.3: the same choice, made inline in make_sync_call / make_call
        return ih.AmazonAnthropicClaudeStreamDecoder(model=model, sync_stream=sync, json_mode=json_mode)
    if provider == "deepseek_r1":
        return ih.AmazonDeepSeekR1StreamDecoder(model=model, sync_stream=sync)
    return ih.AWSEventStreamDecoder(model=model, json_mode=json_mode)


def decode(decoder: Any, chunks: Iterator[bytes]) -> Iterator[Any]:
    """The decoder's chunks for the stream's bytes (``iter_bytes``, every release)."""
    return iter(decoder.iter_bytes(chunks))


def adecode(decoder: Any, chunks: Any) -> Any:
    """The decoder's chunks for an async byte stream (``aiter_bytes``, every release)."""
    return decoder.aiter_bytes(chunks)


def replay_iterator(response: Any, json_mode: bool) -> Any:
    """A whole answer as stream chunks, as native replays a fake stream (``invoke_handler.MockResponseIterator``,
    every release)."""
    from litellm.llms.bedrock.chat.invoke_handler import MockResponseIterator

    return MockResponseIterator(model_response=response, json_mode=json_mode)


def loop_running_here() -> bool:
    """True when an event loop runs in this thread: blocking I/O here would stall it. LiteLLM creates
    ``astreaming`` in a worker thread (no loop) on every tested release, so a stream may be opened before
    returning only when this is False."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
