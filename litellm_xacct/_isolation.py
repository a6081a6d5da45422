"""Department isolation inside the provider, whatever deployment the Router picked.

A *department tag* is a tag some deployment of the request's model group carries (``default`` aside).

* A request carrying department tags is served only by a deployment carrying all of them.
* A request carrying none is served only by the group's ``default``-tagged deployment where there is one,
  else only by a deployment without department tags.

Anything else fails closed before any AWS call, as LiteLLM's ``PermissionDeniedError`` (HTTP 403), chosen
because on LiteLLM 1.82.3 and 1.108.7 alike 403 is *not* a cooldown status (``_is_cooldown_required``
cools down 429/401/404/408 (and 402) and 5xx), so a caller can't cool down another department's
deployment by sending requests the Router misroutes, and ``should_retry_this_error`` retries a 403
when the group has other deployments: the retry may land on the right one. 1.82.3 filters cooling-down
deployments before tags, so while dept-a's deployment cools down its requests reach ``default``: they
fail here, with a message naming both tag sets, instead of being signed by another account.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

DEFAULT_TAG = "default"


def _tags(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, (list, tuple, set, frozenset)):
        return {str(t) for t in value}
    return set()


def request_tags(*sources: Any) -> set[str]:
    """Tags a request carries, from every place LiteLLM reads them (``tags`` and ``metadata.tags`` /
    ``litellm_metadata.tags``) in each of ``sources`` (litellm_params, the caller's raw body...)."""
    found: set[str] = set()
    for source in sources:
        if not isinstance(source, Mapping):
            continue
        found |= _tags(source.get("tags"))
        for key in ("metadata", "litellm_metadata"):
            meta = source.get(key)
            if isinstance(meta, Mapping):
                found |= _tags(meta.get("tags"))
    return found


def violation(request: set[str], deployment: set[str], group: Iterable[set[str]]) -> str | None:
    """Why a deployment tagged ``deployment`` must not serve a request tagged ``request``, or None.

    ``group``: the tag sets of every deployment in the model group (the picked one included).
    """
    groups = list(group)
    departments = set().union(*groups) - {DEFAULT_TAG} if groups else set()
    wanted = request & departments
    if wanted:
        missing = wanted - deployment
        if missing:
            return (f"the request carries department tag(s) {sorted(wanted)} but the deployment picked for it "
                    f"is tagged {sorted(deployment)}")
        return None
    if any(DEFAULT_TAG in tags for tags in groups):
        if DEFAULT_TAG not in deployment:
            return (f"the request carries no department tag, so only the {DEFAULT_TAG!r}-tagged deployment may "
                    f"serve it, but the deployment picked for it is tagged {sorted(deployment)}")
        return None
    if deployment & departments:
        return (f"the request carries no department tag and the model group has no {DEFAULT_TAG!r} deployment, "
                f"but the deployment picked for it is tagged {sorted(deployment)}")
    return None


def _entry_tags(entry: Any) -> tuple[str | None, str | None, set[str]]:
    """(model_name, id, tags) of a router model_list entry (a dict on both releases) or Deployment."""
    if not isinstance(entry, Mapping):
        entry = entry.model_dump() if hasattr(entry, "model_dump") else {}
    params = entry.get("litellm_params") or {}
    info = entry.get("model_info") or {}
    if not isinstance(params, Mapping):
        params = params.model_dump() if hasattr(params, "model_dump") else {}
    if not isinstance(info, Mapping):
        info = info.model_dump() if hasattr(info, "model_dump") else {}
    return entry.get("model_name"), info.get("id"), _tags(params.get("tags"))


def check(router: Any, model_id: str, tags: set[str]) -> str | None:
    """:func:`violation` for the router deployment ``model_id`` serving a request tagged ``tags``."""
    entries = [_entry_tags(e) for e in (getattr(router, "model_list", None) or [])]
    picked = [e for e in entries if e[1] == model_id]
    if not picked:
        return f"deployment id {model_id!r} is not in the proxy's router"
    name, _, deployment = picked[0]
    return violation(tags, deployment, [t for n, _, t in entries if n == name])


def refuse(label: str, problem: str) -> Exception:
    """LiteLLM's 403 for an isolation failure (see the module docstring for why 403)."""
    import httpx
    import litellm

    from . import _metrics
    from ._config import PROVIDER

    _metrics.refusal("isolation", "department_tags")
    message = (f"deployment {label!r}: department isolation: {problem}. Nothing was sent to AWS. Fix: send the "
               "department's tag (tags / metadata.tags), and keep router_settings.enable_tag_filtering on; this "
               "happens while the department's own deployment cools down or is unhealthy")
    return litellm.PermissionDeniedError(
        message=message, llm_provider=PROVIDER, model=label,
        response=httpx.Response(403, request=httpx.Request("POST", "https://bedrock-xacct.invalid")))
