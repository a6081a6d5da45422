"""Health checks that sign as the department, and a quiet startup (proxy-side hooks).

LiteLLM's ``/health`` and background health checks call each deployment with the deployment's own
params, but without the request context a real call has (no ``proxy_server_request``, no deployment id),
and some releases drop the ``aws_*`` fields on that path (:func:`._compat.mark_health_checks`).
:func:`install` (run once when the proxy loads the provider) makes LiteLLM's health path stamp each
``bedrock-xacct`` check with the deployment's id, in a
``model_info`` of our own Python type (see :func:`._compat.mark_health_checks`); :func:`deployment_fields`
then reads the deployment's identity fields from the router by that id, as a real request's are read.

Nothing is loosened for real requests: a proxied request always carries ``proxy_server_request`` and is
handled before this is asked; a caller cannot send ``model_info`` (the guard refuses it), and no JSON body
can produce an object of :class:`HealthCheckInfo`'s type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _compat
from ._config import refuse_sdk_endpoint
from ._errors import ConfigError
from ._names import PROVIDER

_PREFIXES = ("aws_", "xacct_")


class HealthCheckInfo(dict):  # type: ignore[type-arg]
    """The ``model_info`` LiteLLM's health path carries for a ``bedrock-xacct`` check: ``{"id": <deployment
    id>}``. Recognised by its type, which no request body (JSON) can produce; it holds nothing secret, so
    LiteLLM echoing it in ``/health`` answers is harmless."""


def _stamp(model_info: Mapping[str, Any]) -> HealthCheckInfo:
    return HealthCheckInfo(id=model_info.get("id"))


def install() -> None:
    """In a LiteLLM proxy process (only there: the SDK needs neither), mark health checks of ``bedrock-xacct``
    deployments and quiet the misleading startup warning. Idempotent; a no-op outside the proxy."""
    if not _compat.proxy_loaded():
        return
    _compat.mark_health_checks(PROVIDER, _stamp)
    _compat.quiet_credential_mismatch_warning(PROVIDER)


def deployment_fields(label: str, litellm_params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The checked deployment's ``aws_*``/``xacct_*`` fields when this call is one of LiteLLM's proxy health
    checks (marked by :func:`install`), read from the router by deployment id; None for every other call."""
    if isinstance(litellm_params.get("proxy_server_request"), Mapping):  # a real request: never a health check
        return None
    info = litellm_params.get("model_info")
    if type(info) is not HealthCheckInfo:
        return None
    model_id = info.get("id")
    router, _ = _compat.proxy_state()
    deployment = router.get_deployment(model_id=str(model_id)) if (router and model_id) else None
    if deployment is None:
        raise ConfigError(label, "model_info.id", f"health check of {model_id!r} matches no deployment in the "
                          "proxy's router", "serve bedrock-xacct models from the proxy's model_list")
    params = deployment.litellm_params
    dumped = params.model_dump(exclude_none=True) if hasattr(params, "model_dump") else dict(params)
    refuse_sdk_endpoint(label, dumped)
    return {k: v for k, v in dumped.items() if isinstance(k, str) and k.startswith(_PREFIXES) and v is not None}
