"""Bedrock error answers, read and mapped the way native ``bedrock/`` does.

Request and response translation lives in the routes (:mod:`._routes`), streams in :mod:`._streams`; this
module only reads Bedrock's structured error code and turns an error answer into the exception LiteLLM's
exception mapping (as provider ``bedrock``) raises for it: ContextWindowExceeded, 429, 503...
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import httpx
from litellm.litellm_core_utils.exception_mapping_utils import exception_type
from litellm.llms.bedrock.common_utils import BedrockError

from ._config import DeploymentConfig


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
