"""Where a request's identity fields come from, and refusing the ones a caller tries to supply.

* Through the proxy (``proxy_server_request`` is set): the request must have passed the guard
  (:mod:`._guard`; else the provider fails closed), and the caller's raw JSON body is checked again
  for identity fields (``aws_*``, ``xacct_*``) and the provider-choosing keys the guard refuses.
  Then the identity fields are read from the router's own copy of the deployment (found by
  ``model_info.id``), never from the merged request params, which some LiteLLM releases let a
  request override (``_compat.facts``: ``body-overrides``), and the guard's caller
  record is re-checked against the picked deployment: caller authority (:mod:`._authority`) and
  department isolation (:mod:`._isolation`), with deployments looked up in :mod:`._index`.
  ``api_base`` / ``base_url`` are refused on both paths.
* In-process (SDK, Router): the caller *is* the operator. Fields are read from ``litellm_params``,
  and, on releases that don't pass them to custom providers (``_compat.facts``:
  ``custom-provider-aws-fields``), from ``logging_obj.model_call_details["litellm_params"]``; ``xacct_*``
  from ``optional_params``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _authority, _health, _isolation, _metrics
from ._audit import drop_caller_audit
from ._authority import AUTHORITY_KEY
from ._callerfields import ROUTED_REFUSED, guarded
from ._compat import proxy_state
from ._config import refuse_sdk_endpoint
from ._errors import CallerFieldError, ConfigError
from ._index import for_router
from ._names import PROVIDER

_PREFIXES = ("aws_", "xacct_")


def deployment_label(model: str, litellm_params: Mapping[str, Any]) -> str:
    """The name errors use for a deployment: its proxy model_name, else the model."""
    for key in ("metadata", "litellm_metadata"):
        meta = litellm_params.get(key)
        if isinstance(meta, Mapping) and meta.get("model_group"):
            return str(meta["model_group"])
    return f"{PROVIDER}/{model}"


def refuse_caller_fields(label: str, body: Any) -> None:
    """Raise :class:`CallerFieldError` if a client's request body carries an identity field.

    A second line behind the guard, narrower on purpose: by the time the provider runs, the proxy has
    added its own keys to the body copy's metadata (``_compat.facts``: ``body-copy-keys``), so
    there only ``aws_*`` / ``xacct_*`` are refused here."""
    if not isinstance(body, Mapping):
        return
    places: list[tuple[str, Any]] = [("the request body", body)]
    for nested in ("extra_body", "metadata", "litellm_metadata"):
        if isinstance(body.get(nested), Mapping):
            places.append((nested, body[nested]))
    for where, mapping in places:
        in_metadata = "metadata" in where
        for key in mapping:
            if isinstance(key, str) and (key.lower().startswith(_PREFIXES) or (
                    not in_metadata and key.lower() in ROUTED_REFUSED)):
                raise CallerFieldError(label, key, where)


def require_guard(label: str, proxy_request: Mapping[str, Any]) -> None:
    """Fail closed when the proxy routed a request the guard never saw (``callbacks`` does not arm it):
    without it a caller's ``custom_llm_provider`` skips this provider, so its checks are not enough."""
    if not guarded(proxy_request):
        raise ConfigError(label, "litellm_settings.callbacks", "does not arm the litellm-xacct guard, so "
                          "this proxy request was refused", 'add callbacks: ["xacct_handler.guard"] beside '
                          "custom_provider_map (xacct_handler.py: from litellm_xacct import guard, handler)")


def _pick(mapping: Any) -> dict[str, Any]:
    if not isinstance(mapping, Mapping):
        return {}
    return {k: v for k, v in mapping.items() if isinstance(k, str) and k.startswith(_PREFIXES) and v is not None}


def _router_deployment(label: str, litellm_params: Mapping[str, Any], logging_obj: Any) -> dict[str, Any]:
    model_info = litellm_params.get("model_info") or {}
    model_id = model_info.get("id") if isinstance(model_info, Mapping) else None
    router, _ = proxy_state()
    index = for_router(router) if router is not None else None
    dep = index.deployments.get(str(model_id)) if (index is not None and model_id) else None
    if index is None or dep is None:
        # Fail closed: the merged params may carry caller overrides on some LiteLLM releases.
        raise ConfigError(label, "model_info.id", f"{model_id!r} matches no deployment in the proxy's router",
                          "serve bedrock-xacct models from the proxy's model_list (or its database)")
    if index.errors:
        _metrics.refusal("authority", "invalid-binding")
        raise index.errors[0]
    proxy_request = litellm_params.get("proxy_server_request") or {}
    # The tags the guard recorded before routing, and the caller's raw headers. Never litellm_params["tags"],
    # its metadata.tags, nor proxy_server_request["body"]["metadata"]: the body shares its metadata dict with
    # the routed request, and the Router merges the picked deployment's own tags into it.
    record = proxy_request.get(AUTHORITY_KEY)
    recorded = [{"tags": record.get("tags")}] if isinstance(record, Mapping) else []
    tags = _isolation.caller_tags({"headers": proxy_request.get("headers")}, recorded)
    found = _authority.recheck(record, dep, index, tags)
    if found:
        code, problem = found
        _metrics.refusal("isolation" if code in ("isolation", "model-info-tags") else "authority", code)
        raise _isolation.refuse(label, problem, tag_filtering=index.tag_filtering or code != "isolation")
    params = dep.params
    dumped = params.model_dump(exclude_none=True) if hasattr(params, "model_dump") else dict(params)
    refuse_sdk_endpoint(label, dumped)
    return _pick(dumped)


def identity_fields(
    label: str, litellm_params: Mapping[str, Any], optional_params: Mapping[str, Any], logging_obj: Any
) -> dict[str, Any]:
    """The deployment's ``aws_*`` and ``xacct_*`` fields, from the source the module docstring names."""
    proxy_request = litellm_params.get("proxy_server_request")
    if isinstance(proxy_request, Mapping):
        drop_caller_audit(logging_obj)
        require_guard(label, proxy_request)
        refuse_caller_fields(label, proxy_request.get("body"))
        return _router_deployment(label, litellm_params, logging_obj)
    if (health := _health.deployment_fields(label, litellm_params)) is not None:  # LiteLLM's proxy health check
        return health
    refuse_sdk_endpoint(label, litellm_params)
    details = getattr(logging_obj, "model_call_details", None) or {}
    fields = _pick(details.get("litellm_params"))
    fields.update(_pick(litellm_params))
    fields.update({k: v for k, v in _pick(optional_params).items() if k.startswith("xacct_")})
    return fields
