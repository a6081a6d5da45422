"""The running LiteLLM proxy: its router and settings, its metadata key, health checks, the startup warning.

Everything here reads the proxy's modules from ``sys.modules`` (or imports modules that start nothing):
importing ``litellm.proxy.proxy_server`` itself would start building a proxy.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from .facts import differs

_PROXY = "litellm.proxy.proxy_server"


def proxy_loaded() -> bool:
    """Whether this process runs a LiteLLM proxy (its server module is loaded; every release)."""
    return _PROXY in sys.modules


def proxy_model_list() -> list[dict[str, Any]] | None:
    """The running proxy's deployments (``litellm.proxy.proxy_server.llm_router.model_list``), or None
    outside the proxy or before it has built its router. Read lazily from ``sys.modules``: never imports
    the proxy. Same attribute on every tested release (checked with ``getattr``, not by release)."""
    proxy = sys.modules.get(_PROXY)
    model_list = getattr(getattr(proxy, "llm_router", None), "model_list", None)
    return [d for d in model_list if isinstance(d, dict)] if isinstance(model_list, list) else None


@differs("the proxy's ``general_settings``", on={"1.82.3": "a dict", "1.108.7": "a ``SettingsStore`` mapping"},
         detected="``isinstance(settings, Mapping)``")
def proxy_state() -> tuple[Any, Mapping[str, Any]]:
    """``(llm_router, general_settings)`` of the running LiteLLM proxy (both module globals of
    ``litellm.proxy.proxy_server``; ``general_settings`` is a dict on 1.82.3, a ``SettingsStore`` mapping on
    1.108.7), or ``(None, {})`` outside a proxy. Read from ``sys.modules``: importing the proxy module here
    would start building one."""
    proxy = sys.modules.get(_PROXY)
    settings = getattr(proxy, "general_settings", None)
    return getattr(proxy, "llm_router", None), settings if isinstance(settings, Mapping) else {}


@differs("routes whose metadata the proxy writes under ``litellm_metadata``", on={
    "1.82.3": "``LITELLM_METADATA_ROUTES`` without ``bedrock``", "1.108.7": "adds ``bedrock``"},
    detected="the list read from the loaded ``litellm.proxy.litellm_pre_call_utils``")
def proxy_metadata_name(proxy_request: Any) -> str:
    """The request key the proxy writes its metadata (and routing tags) under: ``litellm_metadata`` for the
    routes in the proxy's ``LITELLM_METADATA_ROUTES`` (``/v1/messages``, responses, ...; 1.108.7 adds
    ``bedrock``) and threads/assistants, else ``metadata``. The list is read from the loaded proxy module."""
    from urllib.parse import urlparse

    module = sys.modules.get("litellm.proxy.litellm_pre_call_utils")
    routes = getattr(module, "LITELLM_METADATA_ROUTES", None) or ("batches", "/v1/messages", "responses", "files")
    url = proxy_request.get("url") if isinstance(proxy_request, dict) else None
    path = urlparse(str(url or "")).path
    special = any(r in path for r in ("thread", "assistant", *routes))
    return "litellm_metadata" if special else "metadata"


# -- operations (health checks, startup) ---------------------------------------------------------------------
_HEALTH_WRAPPED = "_xacct_health_marked"


@differs("a custom provider's deployment fields on the proxy's health path", on={
    "1.82.3": "``aws_*`` dropped (\"aws_region_name is missing\"); builder "
              "``_update_litellm_params_for_health_check``",
    "1.108.7": "``aws_*`` passed, no deployment id; builder ``update_litellm_params_for_health_check``"},
    detected="the builder found by name in ``litellm.proxy.health_check`` (either spelling)")
def mark_health_checks(provider: str, mark: Any) -> bool:
    """Make LiteLLM's proxy health checks (``/health`` and the background checks) name the deployment they
    check: the params LiteLLM builds for each ``provider`` deployment get ``model_info = mark(deployment's
    model_info)``, which reaches a custom provider's ``litellm_params`` on every release.

    Why: 1.82.3 drops a custom provider's ``aws_*`` fields on the health path (its health call passes its own
    logging object, so they reach neither ``litellm_params`` nor the logged params: "aws_region_name is
    missing"); 1.108.7 passes them but, like 1.82.3, no deployment id. Found by name: the builder is
    ``_update_litellm_params_for_health_check`` on 1.82.3 and ``update_litellm_params_for_health_check`` on
    1.108.7 (module global, looked up at call time). Idempotent; False when neither exists."""
    import importlib

    module = importlib.import_module("litellm.proxy.health_check")
    for name in ("update_litellm_params_for_health_check", "_update_litellm_params_for_health_check"):
        original = getattr(module, name, None)
        if original is None:
            continue
        if getattr(original, _HEALTH_WRAPPED, False):
            return True

        def marked(model_info: Any, litellm_params: Any, *args: Any, _original: Any = original, **kw: Any) -> Any:
            params = _original(model_info, litellm_params, *args, **kw)
            model = str((params or {}).get("model", ""))
            if model.startswith(provider + "/") or (params or {}).get("custom_llm_provider") == provider:
                params["model_info"] = mark(model_info or {})
            return params

        setattr(marked, _HEALTH_WRAPPED, True)
        setattr(module, name, marked)
        return True
    return False


class _ProviderMismatchFilter:
    """Drops LiteLLM's "sets [aws_...] but ... resolves to provider '<ours>'" router warning, only for our
    provider: the ``aws_*`` fields are exactly what it reads."""

    def __init__(self, provider: str) -> None:
        self.needle = f"resolves to provider '{provider}'"

    def filter(self, record: Any) -> bool:
        message = record.getMessage()
        return not (message.startswith("Deployment '") and self.needle in message)


@differs("a startup warning for ``aws_*`` fields on a non-Bedrock provider", on={
    "1.82.3": "none", "1.108.7": "``warn_on_provider_credential_mismatch``, once per deployment"},
    detected="``hasattr(litellm.router_utils.common_utils, 'warn_on_provider_credential_mismatch')``")
def warns_on_credential_mismatch() -> bool:
    """Whether this LiteLLM's Router warns about provider-scoped credential fields at startup (1.108.7)."""
    try:
        from litellm.router_utils import common_utils
    except ImportError:
        return False
    return hasattr(common_utils, "warn_on_provider_credential_mismatch")


def quiet_credential_mismatch_warning(provider: str) -> bool:
    """1.108.7 (``router_utils.common_utils.warn_on_provider_credential_mismatch``, driven by
    ``PROVIDER_SCOPED_CREDENTIAL_PARAMS``) warns once per deployment that carries ``aws_*`` fields and resolves
    to a provider other than bedrock/sagemaker, advising the ``bedrock/`` prefix: wrong advice for ``provider``,
    whose fields those are. Filters that one message for ``provider`` only, off the router's logger; the
    warning still fires for every other provider. The filter is the same on every release; whether there is a
    warning to filter is :func:`warns_on_credential_mismatch` (1.82.3 has none: returns False)."""
    import logging

    if not warns_on_credential_mismatch():
        return False
    logger = logging.getLogger("LiteLLM Router")
    if not any(isinstance(f, _ProviderMismatchFilter) for f in logger.filters):
        logger.addFilter(_ProviderMismatchFilter(provider))
    return True


@differs("how ``/v1/messages`` through a custom provider is logged", on={
    "1.82.3": "call type ``completion``", "1.108.7": "call type ``anthropic_messages``"},
    detected="the call type LiteLLM logged")
def messages_api_call(logging_obj: Any) -> bool:
    """Whether LiteLLM is serving an Anthropic ``/v1/messages`` call through the provider: 1.108.7 logs the
    call type ``anthropic_messages``; 1.82.3 logs ``completion`` (indistinguishable from chat)."""
    return str(getattr(logging_obj, "call_type", "")) in ("anthropic_messages", "CallTypes.anthropic_messages")


@differs("telling a ``/v1/messages`` call from chat", on={
    "1.82.3": "through the proxy only: the request's path (an SDK call cannot be told apart)",
    "1.108.7": "the logged call type"},
    detected=":func:`messages_api_call`, else the path in ``proxy_server_request``")
def messages_api_request(logging_obj: Any, litellm_params: Any) -> bool:
    """Whether this call serves an Anthropic ``/v1/messages`` request: :func:`messages_api_call` (1.108.7
    logs the call type), else, through the proxy, the request's own path (1.82.3 logs ``completion``
    but keeps the URL in ``proxy_server_request``). An SDK call on 1.82.3 cannot be told apart."""
    if messages_api_call(logging_obj):
        return True
    request = litellm_params.get("proxy_server_request") if isinstance(litellm_params, dict) else None
    url = request.get("url") if isinstance(request, dict) else None
    if not isinstance(url, str):
        return False
    from urllib.parse import urlparse

    return urlparse(url).path.rstrip("/").endswith("/v1/messages")
