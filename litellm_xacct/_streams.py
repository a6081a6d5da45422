"""Bedrock event streams -> chunks LiteLLM's stream wrapper keeps whole, on every supported release.

LiteLLM's own decoder (Converse, or the Invoke family's) turns bytes into ``ModelResponseStream`` chunks.
Two things stand between those chunks and a native-looking stream through a *custom* provider:

* LiteLLM drops a custom provider's bare finish chunk (finish reason, no content) together with the
  usage on it, and ends the stream at the first content-less chunk after it. Bedrock sends usage after
  the finish (Converse) or on it (Invoke). :class:`StreamFixer` holds a bare finish back and emits usage
  as its own chunk first.
* Releases whose wrapper reads custom-provider chunks only as ``GenericStreamingChunk`` dicts (see
  :func:`._compat.stream_takes_model_response_stream`) get dicts that carry the decoded chunk as
  ``original_chunk``: that wrapper copies its choices (reasoning, thinking blocks with signatures, every tool
  call) into the chunk it emits.

A stream that ends without Bedrock's final event raises (see :mod:`._transport`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from . import _compat
from ._config import DeploymentConfig
from ._error_mapping import cut_error, decoder_error
from ._transport import StreamCut


class StreamFixer:
    """Reorders chunks so a custom provider's stream wrapper loses nothing (see the module docstring)."""

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
        if choice is not None and usage is None and not choice.finish_reason and not _has_content(choice.delta):
            return []  # a block boundary with nothing in it: /v1/messages would open an empty text block for it
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


def as_generic(chunk: Any) -> dict[str, Any]:
    """A ``ModelResponseStream`` as the ``GenericStreamingChunk`` dict a dict-only wrapper reads, carrying the
    chunk itself as ``original_chunk`` so its whole delta survives."""
    choice = chunk.choices[0] if chunk.choices else None
    delta = choice.delta if choice is not None else None
    finish = (choice.finish_reason if choice is not None else None) or ""
    usage = getattr(chunk, "usage", None)
    plain = chunk.model_copy(deep=True)
    if plain.choices:
        plain.choices[0].finish_reason = None
    if hasattr(plain, "usage"):
        del plain.usage
    return {"text": (getattr(delta, "content", None) or ""), "tool_use": None, "is_finished": bool(finish),
            "finish_reason": finish, "index": 0, "usage": _usage_dict(usage) if usage is not None else None,
            "original_chunk": plain, "provider_specific_fields": {}}


def _usage_dict(usage: Any) -> dict[str, Any]:
    data = usage.model_dump() if hasattr(usage, "model_dump") else dict(usage)
    return {k: v for k, v in data.items() if v is not None}


def _emit(chunks: list[Any]) -> list[Any]:
    if _compat.stream_takes_model_response_stream():
        return chunks
    return [chunk if isinstance(chunk, dict) else as_generic(chunk) for chunk in chunks]


def decode(config: DeploymentConfig, decoder: Any, chunks: Iterator[bytes]) -> Iterator[Any]:
    fixer = StreamFixer()
    try:
        for chunk in _compat.decode(decoder, chunks):
            yield from _emit(fixer.feed(chunk))
    except StreamCut as cut:
        raise cut_error(config, str(cut), undecoded=cut.undecoded) from cut
    except Exception as exc:  # an exception event: raise what native raises for it
        mapped = decoder_error(config, exc)
        if mapped is exc:
            raise
        raise mapped from exc
    yield from _emit(fixer.flush())


async def adecode(config: DeploymentConfig, decoder: Any, chunks: AsyncIterator[bytes]) -> AsyncIterator[Any]:
    fixer = StreamFixer()
    try:
        async for chunk in _compat.adecode(decoder, chunks):
            for out in _emit(fixer.feed(chunk)):
                yield out
    except StreamCut as cut:
        raise cut_error(config, str(cut), undecoded=cut.undecoded) from cut
    except Exception as exc:  # an exception event: raise what native raises for it
        mapped = decoder_error(config, exc)
        if mapped is exc:
            raise
        raise mapped from exc
    for out in _emit(fixer.flush()):
        yield out


def _replayed(response: Any, params: dict[str, Any]) -> Any:
    return _compat.replay_iterator(response, bool(params.get("json_mode")))


def replay(response: Any, params: dict[str, Any]) -> Iterator[Any]:
    """A whole answer as stream chunks, the way native replays a fake stream (LiteLLM's own iterator)."""
    fixer = StreamFixer()
    for chunk in _replayed(response, params):
        yield from _emit(fixer.feed(chunk))
    yield from _emit(fixer.flush())


async def areplay(response: Any, params: dict[str, Any]) -> AsyncIterator[Any]:
    for chunk in replay(response, params):
        yield chunk
