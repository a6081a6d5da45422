"""Department isolation inside the provider, whatever deployment the Router picked.

A *department* is a tag some ``bedrock-xacct`` deployment of the gateway carries in ``litellm_params.tags``
(``default`` aside): departments are gateway-wide, so isolation holds across model groups and fallbacks.

* A request for departments is served only by a deployment carrying all of them.
* A request for none is served only by its group's ``default``-tagged deployment where there is one, else
  only by a deployment without department tags.
* A deployment with ``model_info.tags`` and no ``litellm_params.tags`` serves nothing: its tags were meant
  for routing and LiteLLM never reads them there.

Which departments a request is *for* comes from the caller and the proxy's auth only (:mod:`._authority`),
never from the provider's ``litellm_params["tags"]`` or ``metadata.tags``: the Router spreads the picked
deployment's own tags into both, so every deployment would look as if the request had asked for it.

Anything else fails closed before any AWS call, as LiteLLM's ``PermissionDeniedError`` (HTTP 403), chosen
because on every tested LiteLLM release 403 is *not* a cooldown status (``_is_cooldown_required``
cools down 429/401/404/408 (and 402) and 5xx), so a caller can't cool down another department's
deployment by sending requests the Router misroutes, and ``should_retry_this_error`` retries a 403
when the group has other deployments: the retry may land on the right one. Some releases filter cooling-down
deployments before tags (``_compat.facts``: ``cooldown-before-tags``), so while dept-a's deployment cools
down its requests reach ``default``: they
fail here, with a message naming both tag sets, instead of being signed by another account.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

DEFAULT_TAG = "default"
_OPERATORS = ("&", "!")  # "&tag" required, "!tag" excluded where the Router knows them (_compat.facts: tag-operators)


def tag_list(value: Any) -> list[str]:
    """A tags value as LiteLLM would read it (a list; a string counts as one tag), whitespace stripped."""
    if isinstance(value, str):
        return [value.strip()]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [str(t).strip() for t in value if t is not None]
    return []


def split_tag(tag: str) -> tuple[str, str]:
    """``(operator, name)``: ``"&dept-a"`` -> ``("&", "dept-a")``, ``"dept-a"`` -> ``("", "dept-a")``."""
    if tag[:1] in _OPERATORS and len(tag) > 1:
        return tag[0], tag[1:].strip()
    return "", tag


def departments_named(tags: Iterable[str], departments: frozenset[str]) -> set[str]:
    """The departments ``tags`` ask for (plain or ``&`` spelling; ``!`` asks for none)."""
    found = set()
    for tag in tags:
        op, name = split_tag(tag)
        if op != "!" and name in departments:
            found.add(name)
    return found


def violation(wanted: set[str], deployment: frozenset[str], departments: frozenset[str],
              group_has_default: bool) -> str | None:
    """Why a deployment tagged ``deployment`` must not serve a request for departments ``wanted``, or None."""
    if wanted:
        missing = wanted - deployment
        if missing:
            return (f"the request is for department(s) {sorted(wanted)} but the deployment picked for it "
                    f"is tagged {sorted(deployment)}")
        return None
    if group_has_default:
        if DEFAULT_TAG not in deployment:
            return (f"the request is for no department, so only the {DEFAULT_TAG!r}-tagged deployment may "
                    f"serve it, but the deployment picked for it is tagged {sorted(deployment)}")
        return None
    if deployment & departments:
        return (f"the request is for no department and the model group has no {DEFAULT_TAG!r} deployment, "
                f"but the deployment picked for it is tagged {sorted(deployment)}")
    return None


def caller_tags(proxy_request: Any, proxy_metadata: Iterable[Any] = ()) -> list[str]:
    """Every tag the caller sent (body ``tags``, ``metadata.tags``, ``litellm_metadata.tags``, the
    ``x-litellm-tags`` header) plus the proxy-written metadata tags in ``proxy_metadata`` (key, team and
    project tags merged there), read in the guard, before routing. Not ``inherited_tags``, which differs per
    release (``_compat.facts``: ``inherited-tags``; the key/team/project tags are read from the caller's auth
    instead). Never the provider's ``litellm_params["tags"]`` nor its ``metadata.tags``: on every tested
    release the Router merges the picked deployment's own tags into both."""
    found: list[str] = []
    body = proxy_request.get("body") if isinstance(proxy_request, Mapping) else None
    if isinstance(body, Mapping):
        found += tag_list(body.get("tags"))
        for key in ("metadata", "litellm_metadata"):
            meta = body.get(key)
            if isinstance(meta, Mapping):
                found += tag_list(meta.get("tags"))
    headers = proxy_request.get("headers") if isinstance(proxy_request, Mapping) else None
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            if isinstance(name, str) and name.lower() == "x-litellm-tags":
                found += [t.strip() for t in value.split(",")] if isinstance(value, str) else tag_list(value)
    for meta in proxy_metadata:
        if isinstance(meta, Mapping):
            found += tag_list(meta.get("tags"))
    return [t for t in dict.fromkeys(found) if t]


def refuse(label: str, problem: str, *, tag_filtering: bool = True) -> Exception:
    """LiteLLM's 403 for an isolation failure (see the module docstring for why 403)."""
    from ._compat import permission_denied
    from ._names import PROVIDER

    fix = ("send the department's tag (tags / metadata.tags), and keep router_settings.enable_tag_filtering on; "
           "this happens while the department's own deployment cools down or is unhealthy")
    if not tag_filtering:
        fix = ("set router_settings.enable_tag_filtering: true: with it off the Router picks deployments "
               "without looking at tags, and this check refuses every pick outside the request's department")
    message = f"deployment {label!r}: department isolation: {problem}. Nothing was sent to AWS. Fix: {fix}"
    return permission_denied(message, PROVIDER, label)
