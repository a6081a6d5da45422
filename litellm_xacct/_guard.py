"""The proxy guard: refuses, before routing, requests that would take the choice of provider, deployment,
credentials, endpoint or model away from the operator's config, or fake an outcome.

Armed by ``litellm_settings.callbacks: ["xacct_handler.guard"]`` (the shim beside the config imports
``guard`` from this package). Why a guard at all: the Router spreads a request's own LiteLLM params over
the deployment's, so ``"custom_llm_provider": "bedrock"`` hands the request to LiteLLM's native Bedrock
path and this package's provider never runs. Only code that runs before routing can stop that.

It protects every model group of the gateway, not only ``bedrock-xacct`` ones: with the provider switched,
a request to *any* model group reaches LiteLLM's native Bedrock path, which would sign with the gateway's
own AWS identity (or any role it can assume): the identity every department's role trusts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _authority, _metrics
from ._audit import scrub_forged_audit
from ._authority import AUTHORITY_KEY
from ._callerfields import (
    GUARD_KEY,
    GUARD_MARK,
    REFUSED_PREFIXES,
    ROUTED_REFUSED,
    caller_headers,
    is_refused,
    refused_fields,
)
from ._compat import CustomLogger, proxy_metadata_name, proxy_state
from ._index import for_router
from ._isolation import DEFAULT_TAG, caller_tags, split_tag, tag_list
from ._signing import forbidden_header


def problems(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every ``(field, where)`` the guard refuses in the proxy's request ``data``; empty if none."""
    proxy_request = data.get("proxy_server_request")
    body = proxy_request.get("body") if isinstance(proxy_request, Mapping) else None
    if not isinstance(body, Mapping):
        body = data  # no copy of the caller's body: check what will be routed
    found = refused_fields(body)
    for key in data:
        low = key.lower() if isinstance(key, str) else ""
        if low in ROUTED_REFUSED or low.startswith(REFUSED_PREFIXES):
            found.append((key, "the routed request"))
    # Some releases keep some caller-sent keys (api_key, headers, provider_specific_header) out of the body
    # copy and list their names here instead (_compat.facts: body-copy-keys).
    hidden = proxy_request.get("credential_fields") if isinstance(proxy_request, Mapping) else None
    for name in hidden if isinstance(hidden, (list, tuple)) else ():
        if isinstance(name, str) and name.lower() != "headers" and is_refused(name):
            found.append((name, "the request body"))
    scoped = data.get("provider_specific_header")
    for item in scoped if isinstance(scoped, list) else [scoped]:
        extra = item.get("extra_headers") if isinstance(item, Mapping) else None
        found += [(f"header {name!r}", "provider_specific_header (from the request's headers)")
                  for name in (extra if isinstance(extra, Mapping) else {})
                  if isinstance(name, str) and forbidden_header(name)]
    sources = [body, {k: data[k] for k in ("headers", "extra_headers") if k in data}]
    for source in sources:
        for where, headers in caller_headers(source):
            found += [(f"header {name!r}", where) for name in headers
                      if isinstance(name, str) and forbidden_header(name)]
    for key in ("metadata", "litellm_metadata"):
        spend = (data.get(key) or {}).get("spend_logs_metadata") if isinstance(data.get(key), Mapping) else None
        if isinstance(spend, Mapping) and any(isinstance(k, str) and k.lower() == "xacct" for k in spend):
            found.append(("spend_logs_metadata.xacct", f"{key} (body or x-litellm-spend-logs-metadata header)"))
    return list(dict.fromkeys(found))


def _authorise(user_api_key_dict: Any, data: dict[str, Any], proxy_request: dict[str, Any]) -> None:
    """Decide who is calling and which departments it may reach (:mod:`._authority`); write the record beside
    the guard mark, and route a bound caller's request to its department. Raises HTTP 403 (or 500 for an
    invalid binding) before anything is sent."""
    from fastapi import HTTPException

    router, settings = proxy_state()
    if router is None:
        return
    index = for_router(router)
    model = data.get("model")
    in_scope = model in index.groups
    if index.errors and in_scope:
        _metrics.refusal("authority", "invalid-binding")
        raise HTTPException(status_code=500, detail={"error": f"litellm-xacct guard: {index.errors[0]}"})
    strict = settings.get(_authority.STRICT_SETTING) is True
    caller = _authority.Caller.from_auth(user_api_key_dict)
    metadata_name = proxy_metadata_name(proxy_request)
    routed = data.get(metadata_name)
    tags = caller_tags(proxy_request, [routed])
    try:
        allowed, wanted = _authority.decide(caller, tags, index, strict)
    except _authority.Refusal as exc:
        _metrics.refusal("authority", exc.code)
        raise HTTPException(status_code=403, detail={"error": (
            f"litellm-xacct guard: model group {model!r}: {exc}. Nothing was sent to AWS.")}) from None
    proxy_request[AUTHORITY_KEY] = _authority.record(caller, allowed, wanted, strict, tags)
    if allowed and in_scope and isinstance(routed, dict):
        # Route a bound caller by its department alone (its other, non-department tags kept for spend logs).
        others = [t for t in tag_list(routed.get("tags"))
                  if split_tag(t)[1] not in index.departments and split_tag(t)[1] != DEFAULT_TAG]
        routed["tags"] = [*sorted(wanted), *others]


class XacctGuard(CustomLogger):
    """A LiteLLM proxy callback: ``async_pre_call_hook`` refuses hostile requests with HTTP 400, and requests
    outside the caller's departments with HTTP 403."""

    async def async_pre_call_hook(self, user_api_key_dict: Any, cache: Any, data: dict[str, Any],
                                  call_type: Any) -> dict[str, Any]:
        found = problems(data)
        if found:
            from fastapi import HTTPException

            scrub_forged_audit(data)

            field, where = found[0]
            _metrics.refusal("guard", "forbidden_header" if field.startswith("header") else "refused_field")
            model = data.get("model")
            raise HTTPException(status_code=400, detail={"error": (
                f"litellm-xacct guard: model group {model!r}: {field} in {where} was refused: it would choose "
                "the provider, deployment, credentials, endpoint or model, or fake an outcome, which only the "
                f"operator's config may do. Nothing was sent. Fix: remove {field} from the request")})
        proxy_request = data.get("proxy_server_request")
        if isinstance(proxy_request, dict):
            _authorise(user_api_key_dict, data, proxy_request)
            proxy_request[GUARD_KEY] = GUARD_MARK  # the provider refuses proxy requests without it
        return data
