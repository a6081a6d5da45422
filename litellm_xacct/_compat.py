"""Every LiteLLM-release difference litellm-xacct depends on, in one place (like ``botocore.compat``).

Each entry says which releases differ and how the difference is detected: by feature (``hasattr``, a
signature, the type of a returned value), never by a version string or by reading LiteLLM's source.

============================================  ==========================  =====================================
Difference                                    1.82.3                      1.108.7
============================================  ==========================  =====================================
custom-provider stream chunks                 GenericStreamingChunk dicts  ModelResponseStream kept as is
  (:func:`stream_takes_model_response_stream`, probed by running one chunk through the stream wrapper)
Bedrock stream decoder factory                inline in make_sync_call     ``invoke_handler._stream_decoder``
  (:func:`stream_decoder`, ``hasattr``)
embedding config methods                      ``_transform_request`` /     ``transform_request`` /
                                              ``_transform_response``      ``transform_response``
  (:func:`embedding_call`, ``hasattr``)
deployment ``aws_*`` fields for a custom      only in ``logging_obj``      in ``litellm_params``
provider                                      (``_request.identity_fields`` reads both)
``astreaming`` call site                      worker thread (no loop)      worker thread (no loop)
  (:func:`loop_running_here`: a stream may be opened before returning only when no loop runs in this thread)
``response_format`` + stream                  fake stream (one Converse)   real ConverseStream
  (the route's config is asked, as native asks it: ``fake_stream`` from ``map_openai_params``, then
  ``should_fake_stream``, whose signature differs per config class: :func:`call_with`)
``/v1/messages`` through a custom provider    logged as ``completion``     logged as ``anthropic_messages``
  (:func:`messages_api_call`: the value LiteLLM logged; on 1.82.3 :func:`messages_api_request` reads the proxy
  request's path instead; an SDK call on 1.82.3 cannot be told apart)
custom-provider chat params gate              ``LlmProviders.CUSTOM``      same (see :mod:`._litellm_param_gate`;
                                              config in the provider map   ``hasattr`` on the map builder)
============================================  ==========================  =====================================
"""

from __future__ import annotations

import asyncio
import datetime
import inspect
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from ._config import PROVIDER


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
    return iter(decoder.iter_bytes(chunks))


def adecode(decoder: Any, chunks: Any) -> Any:
    return decoder.aiter_bytes(chunks)


def embedding_call(config: Any, name: str, **kwargs: Any) -> Any:
    """``transform_request`` / ``transform_response`` on a Bedrock embedding config (1.108.7), or the
    underscored names of 1.82.3."""
    return call_with(getattr(config, name, None) or getattr(config, f"_{name}"), **kwargs)


def call_with(method: Any, **kwargs: Any) -> Any:
    """``method`` called with the keyword arguments its signature takes (signatures differ per release and
    per config class, e.g. ``should_fake_stream``'s ``fake_stream``)."""
    accepted = inspect.signature(method).parameters
    return method(**{k: v for k, v in kwargs.items() if k in accepted})


def loop_running_here() -> bool:
    """True when an event loop runs in this thread: blocking I/O here would stall it."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def messages_api_call(logging_obj: Any) -> bool:
    """Whether LiteLLM is serving an Anthropic ``/v1/messages`` call through the provider: 1.108.7 logs the
    call type ``anthropic_messages``; 1.82.3 logs ``completion`` (indistinguishable from chat)."""
    return str(getattr(logging_obj, "call_type", "")) in ("anthropic_messages", "CallTypes.anthropic_messages")


def proxy_model_list() -> list[dict[str, Any]] | None:
    """The running proxy's deployments (``litellm.proxy.proxy_server.llm_router.model_list``), or None
    outside the proxy or before it has built its router. Read lazily from ``sys.modules``: never imports
    the proxy. Same attribute on 1.82.3 and 1.108.7 (checked with ``getattr``, not by release)."""
    import sys

    proxy = sys.modules.get("litellm.proxy.proxy_server")
    model_list = getattr(getattr(proxy, "llm_router", None), "model_list", None)
    return [d for d in model_list if isinstance(d, dict)] if isinstance(model_list, list) else None


def proxy_state() -> tuple[Any, Mapping[str, Any]]:
    """``(llm_router, general_settings)`` of the running LiteLLM proxy (both module globals of
    ``litellm.proxy.proxy_server``; ``general_settings`` is a dict on 1.82.3, a ``SettingsStore`` mapping on
    1.108.7), or ``(None, {})`` outside a proxy. Read from ``sys.modules``: importing the proxy module here
    would start building one."""
    import sys

    proxy = sys.modules.get("litellm.proxy.proxy_server")
    settings = getattr(proxy, "general_settings", None)
    return getattr(proxy, "llm_router", None), settings if isinstance(settings, Mapping) else {}


def proxy_metadata_name(proxy_request: Any) -> str:
    """The request key the proxy writes its metadata (and routing tags) under: ``litellm_metadata`` for the
    routes in the proxy's ``LITELLM_METADATA_ROUTES`` (``/v1/messages``, responses, ...; 1.108.7 adds
    ``bedrock``) and threads/assistants, else ``metadata``. The list is read from the loaded proxy module."""
    import sys
    from urllib.parse import urlparse

    module = sys.modules.get("litellm.proxy.litellm_pre_call_utils")
    routes = getattr(module, "LITELLM_METADATA_ROUTES", None) or ("batches", "/v1/messages", "responses", "files")
    url = proxy_request.get("url") if isinstance(proxy_request, dict) else None
    path = urlparse(str(url or "")).path
    special = any(r in path for r in ("thread", "assistant", *routes))
    return "litellm_metadata" if special else "metadata"


# -- operations (health checks, startup) ---------------------------------------------------------------------
_HEALTH_WRAPPED = "_xacct_health_marked"


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
    warning still fires for every other provider. 1.82.3 has no such check: nothing to do (returns False)."""
    import logging

    if not warns_on_credential_mismatch():
        return False
    logger = logging.getLogger("LiteLLM Router")
    if not any(isinstance(f, _ProviderMismatchFilter) for f in logger.filters):
        logger.addFilter(_ProviderMismatchFilter(provider))
    return True


def drop_params_default() -> bool:
    """LiteLLM's process-wide ``litellm.drop_params`` (every release): a deployment's own setting wins."""
    import litellm

    return bool(litellm.drop_params)


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
