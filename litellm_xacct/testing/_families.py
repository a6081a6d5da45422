"""InvokeModel answers for the model families other than Anthropic, in each family's own wire format.

Text (InvokeModel body / InvokeModelWithResponseStream ``chunk`` payloads): Meta Llama, Mistral, Cohere
(Command R chat and the older Command generations), Amazon Nova (Converse-shaped) and Amazon Titan text.
Embeddings: Titan text v1/v2 (``dimensions``) and Cohere embed. Images: Titan image / Nova Canvas
(``TEXT_IMAGE``), Stability SD3 / Stable Image (``prompt``) and SDXL (``text_prompts``).

Shapes follow the Bedrock model-parameter documentation and what LiteLLM's Bedrock transformations parse.
The family is read from the model id (region prefix ignored), else from the body's shape (ARNs).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

# a valid 1x1 transparent PNG: image answers decode as real images
PNG_1X1 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA"
           "60e6kgAAAABJRU5ErkJggg==")
_TEXT_FAMILIES = ("meta", "mistral", "cohere", "nova", "titan-text")
_INVOCATION_METRICS = "amazon-bedrock-invocationMetrics"


def family(model_id: str, body: dict[str, Any]) -> str | None:
    """The answer family for an InvokeModel call, or None (the fake does not know the model)."""
    name = model_id.split("/")[-1]
    base = name.split(".", 1)[1] if name.split(".", 1)[0] in ("us", "eu", "apac", "global") else name
    by_prefix = [("anthropic.", "anthropic"), ("meta.", "meta"), ("mistral.", "mistral"),
                 ("cohere.embed", "cohere-embed"), ("cohere.", "cohere"), ("amazon.nova-canvas", "image"),
                 ("amazon.titan-image", "image"), ("amazon.nova", "nova"), ("amazon.titan-embed", "titan-embed"),
                 ("amazon.titan-text", "titan-text"), ("stability.stable-diffusion-xl", "sdxl"),
                 ("stability.", "stability")]
    for prefix, kind in by_prefix:
        if base.startswith(prefix):
            return kind
    if not model_id.startswith("arn:"):
        return None
    by_shape = [("anthropic_version", "anthropic"), ("taskType", "image"), ("text_prompts", "sdxl"),
                ("texts", "cohere-embed"), ("inputText", "titan-embed"), ("messages", "nova"),
                ("message", "cohere")]
    return next((kind for key, kind in by_shape if key in body), None)


def is_text(kind: str | None) -> bool:
    return kind in _TEXT_FAMILIES


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    a, b = max(1, len(words) // 3), max(2, 2 * len(words) // 3)
    return [" ".join(words[:a]), " " + " ".join(words[a:b]), " " + " ".join(words[b:])]


def text_body(kind: str, text: str, input_tokens: int, body: dict[str, Any]) -> dict[str, Any]:
    """The InvokeModel JSON answer of a text family."""
    output_tokens = len(text.split())
    if kind == "meta":
        return {"generation": text, "prompt_token_count": input_tokens, "generation_token_count": output_tokens,
                "stop_reason": "stop"}
    if kind == "mistral":
        return {"outputs": [{"text": text, "stop_reason": "stop"}]}
    if kind == "cohere" and "message" in body:  # Command R / R+ chat
        return {"response_id": "resp-xacct", "text": text, "generation_id": "gen-xacct", "chat_history": [],
                "finish_reason": "COMPLETE"}
    if kind == "cohere":  # Command / Command Light generations
        return {"id": "gen-xacct", "prompt": body.get("prompt"),
                "generations": [{"id": "g-xacct", "text": text, "finish_reason": "COMPLETE"}]}
    if kind == "nova":
        return {"output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": input_tokens, "outputTokens": output_tokens,
                          "totalTokens": input_tokens + output_tokens}}
    return {"inputTextTokenCount": input_tokens,  # titan-text
            "results": [{"tokenCount": output_tokens, "outputText": text, "completionReason": "FINISH"}]}


def text_stream(kind: str, text: str, input_tokens: int, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The ``chunk`` payloads of InvokeModelWithResponseStream for a text family; the last carries
    Bedrock's invocation metrics, as the service adds them."""
    output_tokens = len(text.split())
    metrics = {_INVOCATION_METRICS: {"inputTokenCount": input_tokens, "outputTokenCount": output_tokens,
                                     "invocationLatency": 1, "firstByteLatency": 1}}
    pieces = _pieces(text)
    if kind == "nova":
        yield {"messageStart": {"role": "assistant"}}
        for piece in pieces:
            yield {"contentBlockDelta": {"delta": {"text": piece}, "contentBlockIndex": 0}}
        yield {"contentBlockStop": {"contentBlockIndex": 0}}
        yield {"messageStop": {"stopReason": "end_turn"}}
        yield {"metadata": {"usage": {"inputTokens": input_tokens, "outputTokens": output_tokens},
                            "metrics": {}, "trace": {}}} | metrics
        return
    for n, piece in enumerate(pieces):
        last = n == len(pieces) - 1
        if kind == "meta":
            chunk: dict[str, Any] = {"generation": piece, "prompt_token_count": input_tokens if n == 0 else None,
                                     "generation_token_count": n + 1, "stop_reason": "stop" if last else None}
        elif kind == "mistral":
            chunk = {"outputs": [{"text": piece, "stop_reason": "stop" if last else None}]}
        elif kind == "cohere" and "message" in body:
            chunk = {"is_finished": False, "event_type": "text-generation", "text": piece}
        elif kind == "cohere":
            chunk = {"generations": [{"text": piece}], "is_finished": False}
        else:  # titan-text
            chunk = {"outputText": piece, "index": 0, "totalOutputTextTokenCount": n + 1,
                     "completionReason": "FINISH" if last else None,
                     "inputTextTokenCount": input_tokens if n == 0 else None}
        yield chunk | metrics if last and kind not in ("cohere",) else chunk
    if kind == "cohere":
        yield {"is_finished": True, "event_type": "stream-end", "finish_reason": "COMPLETE",
               "response": {"text": text, "generation_id": "gen-xacct", "finish_reason": "COMPLETE"}} | metrics


def _vector(text: str, size: int) -> list[float]:
    """A deterministic unit-range vector of ``size`` floats derived from ``text``."""
    seed = hashlib.sha256(text.encode()).digest()
    stream = b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(size // 32 + 1))
    return [round(b / 127.5 - 1.0, 6) for b in stream[:size]]


def titan_embedding(model_id: str, body: dict[str, Any], tokens: int) -> dict[str, Any]:
    """Titan text embeddings: v1 has 1536 dimensions; v2 defaults to 1024 and honours ``dimensions``."""
    v2 = "v2" in model_id
    size = int(body.get("dimensions") or 1024) if v2 else 1536
    vector = _vector(str(body["inputText"]), size)
    answer: dict[str, Any] = {"embedding": vector, "inputTextTokenCount": tokens}
    if v2 and body.get("embeddingTypes"):
        answer["embeddingsByType"] = {"float": vector}
    return answer


def cohere_embedding(body: dict[str, Any]) -> dict[str, Any]:
    texts = [str(t) for t in body.get("texts") or []]
    vectors = [_vector(t, 1024) for t in texts]
    if body.get("embedding_types"):
        return {"id": "emb-xacct", "texts": texts, "response_type": "embeddings_by_type",
                "embeddings": {str(kind): vectors for kind in body["embedding_types"]}}
    return {"id": "emb-xacct", "texts": texts, "response_type": "embeddings_floats", "embeddings": vectors}


def image_body(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """Image generation answers: one 1x1 PNG per requested image."""
    if kind == "image":  # Titan image generator / Nova Canvas
        config = body.get("imageGenerationConfig") or {}
        return {"images": [PNG_1X1] * int(config.get("numberOfImages") or 1), "error": None}
    if kind == "sdxl":
        return {"result": "success",
                "artifacts": [{"seed": 42, "base64": PNG_1X1, "finishReason": "SUCCESS"}]}
    return {"seeds": [42], "finish_reasons": [None], "images": [PNG_1X1]}  # SD3 / Stable Image


def png_bytes() -> bytes:
    return base64.b64decode(PNG_1X1)
