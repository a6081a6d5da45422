"""The one door to LiteLLM: every LiteLLM import of the package, and every release difference it absorbs
(like ``botocore.compat``). Other modules write ``from ._compat import x``; ``tests/test_layers.py`` fails on
a LiteLLM import anywhere else.

One small module per topic:

* :mod:`.sdk` -- the classes this package extends (``CustomLLM``, ``CustomLogger``), provider registration;
* :mod:`.errors` -- LiteLLM's exception types and its exception mapping as provider ``bedrock``;
* :mod:`.params` -- LiteLLM's param lists, and the custom-provider params gate (native Bedrock's params);
* :mod:`.bedrock` -- LiteLLM's Bedrock config classes the routes adapt, native credentials;
* :mod:`.streams` -- the custom-provider stream wrapper, Bedrock's event-stream decoders;
* :mod:`.clients` -- LiteLLM's own httpx clients;
* :mod:`.proxy` -- the running proxy: router, settings, metadata key, health checks, startup warning;
* :mod:`.facts` -- the register of differences (``@differs`` on functions, ``FACTS`` for the rest), rendered
  as ``docs/releases.md``.

Each function's docstring says which releases differ (or that none does) and how the difference is found: by
feature (``hasattr``, a signature, the type of a returned value), never by a version string.

Importing this package imports no LiteLLM: the modules above import it inside their functions, except
:mod:`.sdk` and :mod:`.errors`, whose names (classes LiteLLM defines) are loaded on first use of one.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .bedrock import (
    bedrock_embedding_answer,
    call_with,
    cohere_embedding_answer,
    converse_config,
    embedding_call,
    embedding_config,
    embedding_family,
    image_config,
    image_handler,
    invoke_chat_config,
    invoke_family,
    native_credential_params,
    native_credentials,
)
from .clients import SyncHTTP, async_http, sync_http
from .params import (
    bedrock_supported,
    caller_params,
    drop_params_default,
    litellm_param_names,
    openai_chat_params,
    proxy_banned_body_params,
)
from .params import install as install_param_gate
from .proxy import (
    mark_health_checks,
    messages_api_call,
    messages_api_request,
    proxy_loaded,
    proxy_metadata_name,
    proxy_model_list,
    proxy_state,
    quiet_credential_mismatch_warning,
    warns_on_credential_mismatch,
)
from .streams import (
    adecode,
    decode,
    loop_running_here,
    replay_iterator,
    stream_decoder,
    stream_takes_model_response_stream,
)

if TYPE_CHECKING:
    from .errors import (
        APIConnectionError,
        AuthenticationError,
        BadRequestError,
        BedrockError,
        InternalServerError,
        PermissionDeniedError,
        RateLimitError,
        ServiceUnavailableError,
        Timeout,
        UnsupportedParamsError,
        map_bedrock_error,
        permission_denied,
    )
    from .sdk import CustomLLM, CustomLogger, probing, register_provider

#: Names whose module imports LiteLLM when loaded: loaded on first use (PEP 562).
_LAZY = {
    **{name: "errors" for name in (
        "APIConnectionError", "AuthenticationError", "BadRequestError", "BedrockError", "InternalServerError",
        "PermissionDeniedError", "RateLimitError", "ServiceUnavailableError", "Timeout", "UnsupportedParamsError",
        "map_bedrock_error", "permission_denied")},
    **{name: "sdk" for name in ("CustomLLM", "CustomLogger", "probing", "register_provider")},
}

__all__ = [
    "APIConnectionError",
    "AuthenticationError",
    "BadRequestError",
    "BedrockError",
    "CustomLLM",
    "CustomLogger",
    "InternalServerError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServiceUnavailableError",
    "SyncHTTP",
    "Timeout",
    "UnsupportedParamsError",
    "adecode",
    "async_http",
    "bedrock_embedding_answer",
    "bedrock_supported",
    "call_with",
    "caller_params",
    "cohere_embedding_answer",
    "converse_config",
    "decode",
    "drop_params_default",
    "embedding_call",
    "embedding_config",
    "embedding_family",
    "image_config",
    "image_handler",
    "install_param_gate",
    "invoke_chat_config",
    "invoke_family",
    "litellm_param_names",
    "loop_running_here",
    "map_bedrock_error",
    "mark_health_checks",
    "messages_api_call",
    "messages_api_request",
    "native_credential_params",
    "native_credentials",
    "openai_chat_params",
    "permission_denied",
    "probing",
    "proxy_banned_body_params",
    "proxy_loaded",
    "proxy_metadata_name",
    "proxy_model_list",
    "proxy_state",
    "quiet_credential_mismatch_warning",
    "register_provider",
    "replay_iterator",
    "stream_decoder",
    "stream_takes_model_response_stream",
    "sync_http",
    "warns_on_credential_mismatch",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # once loaded, a plain module attribute
    return value
