"""LiteLLM's exception types, and its exception mapping as provider ``bedrock``.

Imports LiteLLM when first loaded: ``litellm_xacct._compat`` hands out these names lazily.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from litellm import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
    UnsupportedParamsError,
)
from litellm.litellm_core_utils.exception_mapping_utils import exception_type
from litellm.llms.bedrock.common_utils import BedrockError

__all__ = [
    "APIConnectionError",
    "AuthenticationError",
    "BadRequestError",
    "BedrockError",
    "InternalServerError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServiceUnavailableError",
    "Timeout",
    "UnsupportedParamsError",
    "map_bedrock_error",
    "permission_denied",
]


def map_bedrock_error(model: str, status: int, text: str, headers: Mapping[str, str]) -> Exception:
    """A Bedrock error answer as LiteLLM's exception mapping for provider ``bedrock`` turns it
    (ContextWindowExceeded, 429, 503...; ``exception_type`` raises what it maps, the same on every release)."""
    original = BedrockError(status_code=status, message=text, headers=httpx.Headers(dict(headers)))
    try:
        return exception_type(model=model, custom_llm_provider="bedrock", original_exception=original)
    except Exception as mapped_exc:  # exception_type raises the mapped exception
        return mapped_exc


def permission_denied(message: str, provider: str, model: str) -> Exception:
    """LiteLLM's ``PermissionDeniedError`` (HTTP 403) for a request nothing was sent for (every release)."""
    request = httpx.Request("POST", "https://bedrock-xacct.invalid")
    return PermissionDeniedError(message=message, llm_provider=provider, model=model,
                                 response=httpx.Response(403, request=request))
