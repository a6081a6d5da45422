"""More Bedrock model families for the stand-in, in Bedrock's real wire formats, plus stream faults.

InvokeModel / InvokeModelWithResponseStream bodies for Meta Llama, Mistral, Cohere Command, Amazon Titan
Text and Amazon Nova (messages-v1); embeddings for Titan Text v2 (``dimensions``, ``embeddingTypes``),
Cohere Embed and Nova multimodal embeddings; images for Titan Image / Nova Canvas (``images``), Stability
SD3 / Stable Image (``seeds``/``finish_reasons``/``images``) and SDXL (``artifacts``). Every reply names
the signer (:func:`reply_text`, which ``_answers`` uses too). :func:`family_answer` returns None for anything
it does not serve, so ``_answers.model_answer`` keeps answering the rest.

Formats follow the Bedrock model parameter pages (InvokeModel request/response bodies per model) and what
LiteLLM's own Bedrock transformations read; streams end with a chunk carrying
``amazon-bedrock-invocationMetrics`` as Bedrock's do.

:class:`StreamFault` shapes a stream on the wire: cut the connection after ``n`` frames (mid-frame), or
end the HTTP body cleanly in the middle of frame ``n + 1`` (a truncated event).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any

from ._eventstream import encode_event
from ._identities import Identity, IssuedCredential

_Answer = list[bytes] | tuple[dict[str, Any], dict[str, str]]
#: A 1x1 transparent PNG: what every fake image is.
PNG_1X1 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")


class Invalid(Exception):
    """A request the real service answers with 400 ValidationException."""


def reply_text(identity: Identity) -> str:
    """What every fake model says: who signed the request."""
    if isinstance(identity, IssuedCredential):
        return (f"Hello from account {identity.account} as {identity.principal_arn} "
                f"(session {identity.session_name}).")
    return f"Hello from account {identity.account} as {identity.arn}."


def _count(text: Any) -> int:
    return max(1, len(str(text).split()))


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    third = max(1, len(words) // 3)
    return [" ".join(words[:third]), " " + " ".join(words[third:2 * third]), " " + " ".join(words[2 * third:])]


def _vector(text: str, size: int) -> list[float]:
    digest = b""
    while len(digest) < size:
        digest += hashlib.sha256(text.encode() + len(digest).to_bytes(4, "big")).digest()
    return [round(b / 127.5 - 1.0, 6) for b in digest[:size]]


def _metrics(input_tokens: int, output_tokens: int) -> dict[str, int]:
    return {"inputTokenCount": input_tokens, "outputTokenCount": output_tokens, "invocationLatency": 1,
            "firstByteLatency": 1}


def _headers(input_tokens: int, output_tokens: int) -> dict[str, str]:
    return {"X-Amzn-Bedrock-Input-Token-Count": str(input_tokens),
            "X-Amzn-Bedrock-Output-Token-Count": str(output_tokens), "X-Amzn-Bedrock-Invocation-Latency": "1"}


def _chunks(events: list[dict[str, Any]]) -> list[bytes]:
    return [encode_event("chunk", {"bytes": base64.b64encode(json.dumps(e).encode()).decode()}) for e in events]


# -- families ------------------------------------------------------------------------------------------


def family(model_id: str, body: dict[str, Any]) -> str | None:
    """The family a model id (or, for an opaque ARN, the body's shape) belongs to; None: not served here."""
    mid = model_id.lower()
    for name, marker in (("nova-embed", "nova-2-multimodal-embeddings"), ("titan-embed-v2", "titan-embed-text-v2"),
                         ("cohere-embed", "cohere.embed"), ("titan-image", "titan-image-generator"),
                         ("nova-canvas", "nova-canvas"), ("sdxl", "stable-diffusion-xl"),
                         ("stability3", "stability."), ("llama", "meta.llama"), ("mistral", "mistral."),
                         ("cohere", "cohere.command"), ("titan-text", "titan-text"), ("nova", "nova-")):
        if marker in mid:
            return name
    if not model_id.startswith("arn:"):
        return None
    shapes = (("nova-embed", "singleEmbeddingParams"), ("cohere-embed", "texts"), ("titan-image", "taskType"),
              ("sdxl", "text_prompts"), ("nova", "schemaVersion"), ("titan-text", "inputText"))
    for name, key in shapes:
        if key in body:
            return "titan-embed-v2" if name == "titan-text" and "textGenerationConfig" not in body else name
    return None


def family_answer(operation: str, model_id: str, body: dict[str, Any], identity: Identity) -> _Answer | None:
    """The answer for a family this module serves (raises :class:`Invalid` for a malformed body)."""
    kind = family(model_id, body)
    if kind is None or operation not in ("InvokeModel", "InvokeModelWithResponseStream"):
        return None
    stream = operation == "InvokeModelWithResponseStream"
    text = reply_text(identity)
    if kind in _EMBEDDINGS or kind in _IMAGES:
        if stream:
            raise Invalid("The model is unsupported for streaming")
        handler = _EMBEDDINGS.get(kind) or _IMAGES[kind]
        return handler(body, model_id)
    return _text_model(kind, body, text, stream)


def _prompt_of(body: dict[str, Any]) -> str:
    for key in ("prompt", "message", "inputText"):
        if isinstance(body.get(key), str):
            return str(body[key])
    raise Invalid("Malformed input request: required key [prompt] not found, please reformat your input and "
                  "try again.")


def _text_model(kind: str, body: dict[str, Any], text: str, stream: bool) -> _Answer:
    if kind == "nova":
        return _nova(body, text, stream)
    prompt = _prompt_of(body)
    tin, tout = _count(prompt), _count(text)
    if not stream:
        bodies: dict[str, dict[str, Any]] = {
            "llama": {"generation": text, "prompt_token_count": tin, "generation_token_count": tout,
                      "stop_reason": "stop"},
            "mistral": {"outputs": [{"text": text, "stop_reason": "stop"}]},
            "cohere": {"generations": [{"id": "gen-xacct", "text": text, "finish_reason": "COMPLETE"}],
                       "id": "cohere-xacct", "prompt": prompt},
            "titan-text": {"inputTextTokenCount": tin,
                           "results": [{"tokenCount": tout, "outputText": text, "completionReason": "FINISH"}]},
        }
        return bodies[kind], _headers(tin, tout)
    parts = _pieces(text)
    events: list[dict[str, Any]]
    if kind == "llama":
        events = [{"generation": p, "prompt_token_count": tin if i == 0 else None, "generation_token_count": i + 1,
                   "stop_reason": None} for i, p in enumerate(parts)]
        events.append({"generation": "", "prompt_token_count": None, "generation_token_count": tout,
                       "stop_reason": "stop"})
    elif kind == "mistral":
        events = [{"outputs": [{"text": p, "stop_reason": None}]} for p in parts]
        events.append({"outputs": [{"text": "", "stop_reason": "stop"}]})
    elif kind == "cohere":
        events = [{"text": p, "is_finished": False} for p in parts]
        events.append({"is_finished": True, "finish_reason": "COMPLETE"})
    else:
        events = [{"outputText": p, "index": 0, "totalOutputTextTokenCount": i + 1, "completionReason": None,
                   "inputTextTokenCount": tin} for i, p in enumerate(parts)]
        events.append({"outputText": "", "index": 0, "totalOutputTextTokenCount": tout,
                       "completionReason": "FINISH", "inputTextTokenCount": tin})
    events[-1]["amazon-bedrock-invocationMetrics"] = _metrics(tin, tout)
    return _chunks(events)


def _nova(body: dict[str, Any], text: str, stream: bool) -> _Answer:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Invalid("A conversation must start with a user message. Try again with a conversation that starts "
                      "with a user message.")
    tin = _count(" ".join(str(b.get("text", "")) for m in messages if isinstance(m, dict)
                          for b in (m.get("content") or []) if isinstance(b, dict)))
    tout = _count(text)
    usage = {"inputTokens": tin, "outputTokens": tout, "totalTokens": tin + tout}
    if not stream:
        return ({"output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                 "stopReason": "end_turn", "usage": usage}, _headers(tin, tout))
    events: list[dict[str, Any]] = [{"messageStart": {"role": "assistant"}}]
    events += [{"contentBlockDelta": {"delta": {"text": p}, "contentBlockIndex": 0}} for p in _pieces(text)]
    events += [{"contentBlockStop": {"contentBlockIndex": 0}}, {"messageStop": {"stopReason": "end_turn"}},
               {"metadata": {"usage": usage, "metrics": {}, "trace": {}},
                "amazon-bedrock-invocationMetrics": _metrics(tin, tout)}]
    return _chunks(events)


# -- embeddings ------------------------------------------------------------------------------------------


def _titan_v2(body: dict[str, Any], model_id: str) -> _Answer:
    text = body.get("inputText")
    if not isinstance(text, str):
        raise Invalid("Malformed input request: required key [inputText] not found, please reformat your input "
                      "and try again.")
    size = body.get("dimensions", 1024)
    if size not in (256, 512, 1024):
        raise Invalid(f"Malformed input request: #/dimensions: {size} is not a valid enum value, please reformat "
                      "your input and try again.")
    vector = _vector(text, size)
    by_type: dict[str, Any] = {}
    for kind in body.get("embeddingTypes") or ["float"]:
        by_type[kind] = vector if kind == "float" else [1 if v > 0 else 0 for v in vector]
    payload: dict[str, Any] = {"embedding": by_type.get("float", vector), "inputTextTokenCount": _count(text)}
    if body.get("embeddingTypes"):
        payload["embeddingsByType"] = by_type
    return payload, _headers(_count(text), 0)


def _cohere_embed(body: dict[str, Any], model_id: str) -> _Answer:
    texts = body.get("texts")
    if not isinstance(texts, list) or not body.get("input_type"):
        raise Invalid("Malformed input request: #: required key [input_type] not found, please reformat your "
                      "input and try again.")
    vectors = [_vector(str(t), 8) for t in texts]
    payload: dict[str, Any] = {"id": "emb-xacct", "texts": texts}
    # Embed v4, or v3 asked for embedding_types, answers by type; plain v3 answers a list of float vectors.
    if "embed-v4" in model_id or body.get("embedding_types"):
        types = body.get("embedding_types") or ["float"]
        payload.update(embeddings={t: vectors for t in types}, response_type="embeddings_by_type")
    else:
        payload.update(embeddings=vectors, response_type="embeddings_floats")
    return payload, _headers(sum(_count(t) for t in texts), 0)


def _nova_embed(body: dict[str, Any], model_id: str) -> _Answer:
    params = body.get("singleEmbeddingParams")
    text = params.get("text", {}).get("value") if isinstance(params, dict) else None
    if not isinstance(params, dict) or not isinstance(text, str):
        raise Invalid("Malformed input request: #/singleEmbeddingParams: required key [text] not found")
    size = int(params.get("embeddingDimension", 1024))
    return ({"embeddings": [{"embeddingType": "TEXT", "embedding": _vector(text, size),
                             "truncatedCharLength": len(text)}]}, _headers(_count(text), 0))


_EMBEDDINGS = {"titan-embed-v2": _titan_v2, "cohere-embed": _cohere_embed, "nova-embed": _nova_embed}


# -- images ------------------------------------------------------------------------------------------------


def _canvas(body: dict[str, Any], model_id: str) -> _Answer:
    if body.get("taskType") != "TEXT_IMAGE" or not isinstance(body.get("textToImageParams"), dict):
        raise Invalid("Malformed input request: #: required key [taskType] not found")
    config = body.get("imageGenerationConfig") or {}
    count = int(config.get("numberOfImages", 1))
    return {"images": [PNG_1X1] * count, "error": None}, {}


def _stability3(body: dict[str, Any], model_id: str) -> _Answer:
    if not isinstance(body.get("prompt"), str):
        raise Invalid("Malformed input request: #: required key [prompt] not found")
    return {"seeds": [42], "finish_reasons": [None], "images": [PNG_1X1]}, {}


def _sdxl(body: dict[str, Any], model_id: str) -> _Answer:
    if not isinstance(body.get("text_prompts"), list):
        raise Invalid("Malformed input request: #: required key [text_prompts] not found")
    count = int(body.get("samples", 1))
    return {"result": "success", "artifacts": [{"seed": 42, "base64": PNG_1X1, "finishReason": "SUCCESS"}] * count}, {}


_IMAGES = {"titan-image": _canvas, "nova-canvas": _canvas, "stability3": _stability3, "sdxl": _sdxl}


# -- stream faults -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamFault:
    """``after`` whole frames reach the client, then: ``cut`` (half a frame, then the connection drops) or
    ``truncate`` (half a frame, then the HTTP body ends cleanly)."""

    after: int
    kind: str  # "cut" | "truncate"


class StreamFaults:
    """The next ``count`` streamed answers get ``fault`` (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fault: StreamFault | None = None
        self._left = 0

    def set(self, fault: StreamFault, count: int = 1) -> None:
        with self._lock:
            self._fault, self._left = fault, count

    def clear(self) -> None:
        self.set(StreamFault(0, "cut"), 0)

    def take(self) -> StreamFault | None:
        with self._lock:
            if self._left <= 0:
                return None
            self._left -= 1
            return self._fault


def shape(frames: list[bytes], fault: StreamFault | None) -> tuple[list[bytes], bool]:
    """The bytes to write for a stream, and whether to drop the connection instead of ending the body."""
    if fault is None or fault.after >= len(frames):
        return frames, False
    partial = frames[fault.after][: len(frames[fault.after]) // 2]
    return frames[: fault.after] + [partial], fault.kind == "cut"
