"""Which request-body fields a proxy caller may not send, and where they are looked for.

The refused list is LiteLLM's own list of its params, read at run time (``all_litellm_params``, the
fields of ``GenericLiteLLMParams`` and the proxy's ``_BANNED_REQUEST_BODY_PARAMS``: whichever the
installed release has), plus a few names LiteLLM acts on without listing them, minus :data:`ALLOWED`: the
params a caller legitimately sends. A LiteLLM release that adds a new param therefore refuses it until
someone decides it is safe.

Looked for (any key case) at the body's top level and inside ``extra_body``, ``metadata`` and
``litellm_metadata``, at any depth of those; ``metadata.spend_logs_metadata.xacct`` is refused too (it
would pose as the provider's audit record). Caller headers (``extra_headers`` / ``headers``) go through
:func:`litellm_xacct._signing.forbidden_header`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from ._compat import litellm_param_names, proxy_banned_body_params

#: LiteLLM params a caller may send: they change neither provider, deployment, credentials, endpoint,
#: model nor the recorded outcome. OpenAI params (temperature, tools, ...) and provider-specific model
#: params (top_k, thinking, guardrailConfig, ...) are not LiteLLM params, so they are never refused.
ALLOWED: frozenset[str] = frozenset({
    "metadata", "litellm_metadata",  # containers: searched, not refused
    "extra_headers", "headers",  # containers: each header is checked by _signing.forbidden_header
    "tags",  # department routing is the operator's tag scheme; isolation is enforced in the provider
    "user", "litellm_trace_id", "litellm_session_id",  # caller's own labels for logs
    "timeout", "stream_timeout", "request_timeout",  # how long the caller waits
    "cache",  # per-request cache controls (no-cache, ttl...): the cache key still includes the model group
    "guardrails",  # opt-in guardrails: can add checks, not remove the operator's default-on ones
})

#: Names LiteLLM (or its native Bedrock path) acts on without listing them as its params.
EXTRA_REFUSED: frozenset[str] = frozenset({
    "custom_llm_provider", "model_id", "base_url", "api_base", "api_key", "deployment_id", "model_info",
    "litellm_credential_name", "litellm_params", "model_list",
    "user_config",  # the proxy builds a Router from the caller's own model_list (_compat.facts: user-config)
    "router_settings_override",  # the proxy writes it from key/team settings; a caller must not
    # The proxy writes it from Anthropic API headers (/v1/messages): refused in a caller's body, and where the
    # proxy wrote it, its headers are checked like any caller header.
    "provider_specific_header",
})

#: Name prefixes refused whatever the release lists: AWS identity, our own options, faked outcomes.
REFUSED_PREFIXES: tuple[str, ...] = ("aws_", "xacct_", "mock_")

#: Keys of ``metadata`` the proxy itself writes (some share a name with a LiteLLM param).
PROXY_METADATA: frozenset[str] = frozenset({"headers", "tags"})

#: Top-level keys the proxy writes before some routes copy the body (images, on some releases: the call id;
#: a caller can set that one anyway, with the x-litellm-call-id header).
PROXY_TOP_LEVEL: frozenset[str] = frozenset({"litellm_call_id", "litellm_logging_obj", "proxy_server_request",
                                             "secret_fields"})

_NESTED = ("extra_body", "metadata", "litellm_metadata")


def _lower_minus_allowed(names: set[str]) -> frozenset[str]:
    return frozenset({n.lower() for n in names} - {a.lower() for a in ALLOWED})


@lru_cache(maxsize=1)
def _metadata_names() -> frozenset[str]:
    return _lower_minus_allowed(litellm_param_names() | EXTRA_REFUSED)


@lru_cache(maxsize=1)
def refused_names() -> frozenset[str]:
    """Lower-case names a caller may not send in the body (computed once per process)."""
    return _metadata_names() | _lower_minus_allowed(proxy_banned_body_params())


def is_refused(key: str, *, in_metadata: bool = False, top_level: bool = False) -> bool:
    low = key.lower()
    if (in_metadata and low in PROXY_METADATA) or (top_level and low in PROXY_TOP_LEVEL):
        return False
    return low.startswith(REFUSED_PREFIXES) or low in (_metadata_names() if in_metadata else refused_names())


def _walk(mapping: Mapping[str, Any], where: str, in_metadata: bool) -> Iterator[tuple[str, str]]:
    for key, value in mapping.items():
        if not isinstance(key, str):
            continue
        low = key.lower()
        if low in _NESTED and isinstance(value, Mapping):
            yield from _walk(value, f"{where}.{key}" if where else key, in_metadata or "metadata" in low)
            continue
        if low == "spend_logs_metadata" and isinstance(value, Mapping):
            forged = [k for k in value if isinstance(k, str) and k.lower() == "xacct"]
            if forged:
                yield f"{key}.{forged[0]}", where or "the request body"
            continue
        if is_refused(key, in_metadata=in_metadata, top_level=not where):
            yield key, where or "the request body"


def refused_fields(body: Any) -> list[tuple[str, str]]:
    """Every ``(field, where)`` in a caller's body that is refused; empty if none (or not a mapping)."""
    if not isinstance(body, Mapping):
        return []
    return list(_walk(body, "", False))


def caller_headers(body: Any) -> Iterator[tuple[str, Mapping[Any, Any]]]:
    """``(where, headers)`` for each caller header mapping in the body (``extra_headers``/``headers``),
    at the top level and in ``extra_body``."""
    if not isinstance(body, Mapping):
        return
    for key, value in body.items():
        if not isinstance(key, str):
            continue
        low = key.lower()
        if low in ("extra_headers", "headers") and isinstance(value, Mapping):
            yield key, value
        elif low == "extra_body" and isinstance(value, Mapping):
            for where, headers in caller_headers(value):
                yield f"{key}.{where}", headers


#: Where the guard marks a request it has checked (``proxy_server_request`` is rebuilt by the proxy for
#: every request, so a caller cannot send the mark), and the per-process value it writes there.
GUARD_KEY = "xacct_guard"
GUARD_MARK = secrets.token_hex(16)

#: Top-level request keys checked in the data the proxy routes (not only the caller's raw body):
#: headers such as ``x-litellm-*`` and key/team settings can add keys after the body was copied.
ROUTED_REFUSED: frozenset[str] = frozenset({
    "custom_llm_provider", "api_base", "base_url", "model_id", "model_info", "model_list",
    "litellm_credential_name", "region_name", "mock_response", "mock_timeout",
})


def guarded(proxy_request: Any) -> bool:
    """True if :class:`~litellm_xacct._guard.XacctGuard` checked this proxy request."""
    return isinstance(proxy_request, Mapping) and proxy_request.get(GUARD_KEY) == GUARD_MARK
