"""Audit: who signed a request (account, role, session; never a secret), stamped where every
supported LiteLLM release carries it on:

* ``response._hidden_params["xacct"]``, for in-process callers;
* ``response._hidden_params["additional_headers"]["llm_provider-x-xacct-<field>"]``: the proxy sends
  these to the client as response headers (non-stream responses);
Through the proxy the record also names who authorised the request (``caller``, ``department``,
``authorised_by``), from the guard's caller record.

* ``metadata["spend_logs_metadata"]["xacct"]`` in the logging object's ``litellm_params``: it lands in
  the StandardLoggingPayload (``metadata.spend_logs_metadata``) and the proxy's spend logs. The provider
  writes it after anything the caller sent, and removes a caller's own value first, so it can't be forged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._config import DeploymentConfig
from ._credentials import Lease


def record(config: DeploymentConfig, lease: Lease) -> dict[str, str | None]:
    role = config.role
    return {"account": lease.account, "principal_arn": lease.principal_arn,
            "role_arn": role.role_arn if role else None,
            "session_name": role.session_name if role else None, "deployment": config.deployment}


def _logged_params(logging_obj: Any) -> dict[str, Any] | None:
    details = getattr(logging_obj, "model_call_details", None)
    params = details.get("litellm_params") if isinstance(details, dict) else None
    return params if isinstance(params, dict) else None


def scrub_forged_audit(data: Mapping[str, Any]) -> None:
    """Delete, in place, every caller-supplied ``spend_logs_metadata`` entry named ``xacct`` (any key case) under
    ``metadata`` and ``litellm_metadata``, both in ``data`` and in its ``proxy_server_request.body``, so no log
    (the guard's refusal, a provider failure) shows a forged signer. The one rule for the guard and provider."""
    proxy_request = data.get("proxy_server_request")
    body = proxy_request.get("body") if isinstance(proxy_request, Mapping) else None
    for holder in (data, body if isinstance(body, Mapping) else {}):
        for key in ("metadata", "litellm_metadata"):
            meta = holder.get(key)
            spend = meta.get("spend_logs_metadata") if isinstance(meta, Mapping) else None
            if isinstance(spend, dict):
                for name in [k for k in spend if isinstance(k, str) and k.lower() == "xacct"]:
                    del spend[name]


def drop_caller_audit(logging_obj: Any) -> None:
    """:func:`scrub_forged_audit` on the logging object's ``litellm_params`` (a value from the body or the
    ``x-litellm-spend-logs-metadata`` header), before the provider writes its own record."""
    params = _logged_params(logging_obj)
    if params is not None:
        scrub_forged_audit(params)


def authorisation(logging_obj: Any) -> dict[str, str | None]:
    """Who authorised a proxy request, from the guard's record (:mod:`._authority`) in the logged
    ``proxy_server_request``: the caller (key alias / team), the department(s) it reached and what bound it.
    Empty outside the proxy."""
    from ._authority import AUTHORITY_KEY, Caller

    proxy_request = (_logged_params(logging_obj) or {}).get("proxy_server_request")
    found = proxy_request.get(AUTHORITY_KEY) if isinstance(proxy_request, dict) else None
    if not isinstance(found, dict):
        return {}
    raw_bound = found.get("bound")
    bound: dict[str, Any] = raw_bound if isinstance(raw_bound, dict) else {}
    wanted = [str(d) for d in found.get("wanted") or []]
    why = "; ".join(f"{d}: {bound[d]}" for d in wanted if d in bound)
    if not why:
        why = "unbound caller, strict mode" if found.get("strict") is True else "unbound caller (tag routing)"
    return {"caller": Caller.from_record(found).name(), "department": ",".join(wanted) or "default",
            "authorised_by": why}


def stamp(audit: dict[str, str | None], response: Any = None, logging_obj: Any = None) -> None:
    """Attach ``audit`` (plus :func:`authorisation`) to a response's hidden params / headers and to the
    logging metadata."""
    audit.update(authorisation(logging_obj))
    hidden = getattr(response, "_hidden_params", None)
    if isinstance(hidden, dict):
        hidden["xacct"] = audit
        headers = hidden.get("additional_headers")
        if not isinstance(headers, dict):
            headers = hidden["additional_headers"] = {}
        for key, value in audit.items():
            if value is not None:
                # ASCII only: a key or team alias may not be encodable in an HTTP header (h11 wants latin-1)
                headers[f"llm_provider-x-xacct-{key.replace('_', '-')}"] = value.encode(
                    "ascii", "backslashreplace").decode("ascii")
    params = _logged_params(logging_obj)
    if params is not None:
        key = "litellm_metadata" if (not isinstance(params.get("metadata"), dict)
                                     and isinstance(params.get("litellm_metadata"), dict)) else "metadata"
        metadata = params.get(key)
        if not isinstance(metadata, dict):
            metadata = params[key] = {}
        spend = metadata.get("spend_logs_metadata")
        # A copy: the caller's own dict may be shared with the request body.
        metadata["spend_logs_metadata"] = {**(spend if isinstance(spend, dict) else {}), "xacct": audit}
