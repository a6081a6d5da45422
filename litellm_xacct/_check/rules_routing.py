"""``check`` rules about tag routing: the shape and place of ``tags``, where ``enable_tag_filtering`` is read,
and model_names whose Bedrock deployments sign as several identities without routing that separates them."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from .findings import GATEWAY_IDENTITY, Deployment, Finding, _mapping, bedrock_route, routing_tags, signing_identity
from .rules_base import Context, _deployment_list, _finding, _settings, _walk


def tags_shape(dep: Deployment) -> list[Finding]:
    """``litellm_params.tags`` must be a list of strings (LiteLLM would match a string's characters)."""
    tags = dep.params.get("tags")
    if tags is None or (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        return []
    return [_finding(dep, "tags-not-a-list", "error", "tags",
                     f"litellm_params.tags is {json.dumps(tags)}, not a list of strings, so tag routing does not "
                     f"match it. Fix: write tags: [{', '.join(map(str, tags)) if isinstance(tags, list) else tags}].")]


def tags_in_model_info(dep: Deployment) -> list[Finding]:
    """``model_info.tags`` are metadata; LiteLLM routes on ``litellm_params.tags`` only."""
    if "tags" not in dep.model_info:
        return []
    moved = dep.model_info["tags"]
    if dep.tags:
        return [_finding(dep, "tags-in-model-info", "warning", "model_info.tags",
                         "model_info.tags is not used for routing (litellm_params.tags is). Fix: remove "
                         "model_info.tags so the routing tags are in one place.")]
    return [_finding(dep, "tags-in-model-info", "error", "model_info.tags",
                     f"model_info.tags is not used for routing: LiteLLM routes on litellm_params.tags, and this "
                     f"deployment has none. Fix: move `tags: {json.dumps(moved)}` into litellm_params.")]


def misplaced_tag_filtering(ctx: Context) -> list[Finding]:
    """``enable_tag_filtering`` only works under ``router_settings``; anywhere else it is ignored."""
    doc = ctx.doc
    router_on = _settings(doc, "router_settings").get("enable_tag_filtering") is True
    found = []
    for path, key, value in _walk(doc):
        if key != "enable_tag_filtering" or path == "router_settings.enable_tag_filtering":
            continue
        if re.fullmatch(r"model_list\[\d+\]\.model_info\.enable_tag_filtering", path):
            continue  # read per model_name by newer LiteLLM releases: judged by cross_account_routing
        if value and not router_on:
            found.append(Finding(
                "tag-filtering-misplaced", "error", path,
                f"{path} is ignored: tag routing is a router setting, so it is off and requests are spread "
                "across every deployment of a model_name. Fix: move it to router_settings: "
                "{enable_tag_filtering: true}."))
        else:
            found.append(Finding(
                "tag-filtering-misplaced", "warning", path,
                f"{path} is ignored (only router_settings.enable_tag_filtering counts). Fix: remove it."))
    return found


def _model_groups(ctx: Context) -> dict[str, list[tuple[int, Mapping[str, Any]]]]:
    """model_name -> [(index, deployment)] for every model_name served by at least one Bedrock deployment
    (other providers in the same group are kept: the router spreads across them all)."""
    groups: dict[str, list[tuple[int, Mapping[str, Any]]]] = defaultdict(list)
    for i, entry in enumerate(ctx.doc["model_list"]):
        if isinstance(entry, Mapping) and isinstance(entry.get("model_name"), str):
            groups[entry["model_name"]].append((i, entry))
    return {name: members for name, members in groups.items()
            if any(bedrock_route(_mapping(e.get("litellm_params"))) for _, e in members)}


def _routes_by_tag(params: Mapping[str, Any]) -> bool:
    return bool(routing_tags(params) or params.get("tag_regex"))


def _tag_routing_gaps(doc: Mapping[str, Any], members: list[tuple[int, Mapping[str, Any]]]) -> list[str]:
    """Why tag routing does not isolate this group, as clauses of a sentence (empty when it does)."""
    router = _settings(doc, "router_settings").get("enable_tag_filtering")
    gaps = []
    if router is not True:
        elsewhere = [p for p, k, v in _walk(doc) if k == "enable_tag_filtering" and v is True
                     and not p.startswith(("router_settings", "model_list"))]
        hint = f" ({', '.join(elsewhere)} is ignored)" if elsewhere else ""
        if any(_mapping(e.get("model_info")).get("enable_tag_filtering") is True for _, e in members):
            hint += " (model_info.enable_tag_filtering works on newer LiteLLM releases only, not 1.82.3)"
        gaps.append(f"router_settings.enable_tag_filtering is not true{hint}")
    # LiteLLM 1.108.7 lets model_info.enable_tag_filtering override the router setting per model_name.
    off = [i for i, e in members if _mapping(e.get("model_info")).get("enable_tag_filtering") is False]
    if off:
        gaps.append(f"model_info.enable_tag_filtering: false on {_deployment_list(off)} turns tag routing off "
                    "for this model_name on newer LiteLLM releases")
    untagged = [i for i, e in members if not _routes_by_tag(_mapping(e.get("litellm_params")))]
    in_info = [i for i in untagged if "tags" in _mapping(dict(members)[i].get("model_info"))]
    if in_info:
        gaps.append(f"{_deployment_list(in_info)} have their tags under model_info, which routing ignores")
    if len(in_info) < len(untagged):
        gaps.append(f"{_deployment_list([i for i in untagged if i not in in_info])} have no litellm_params.tags")
    return gaps


def _department_intent(doc: Mapping[str, Any], members: list[tuple[int, Mapping[str, Any]]]) -> bool:
    """Tags anywhere on the group, or tag filtering switched on anywhere: the operator meant to separate."""
    tagged = any(_mapping(e.get("litellm_params")).get("tags") or _mapping(e.get("model_info")).get("tags")
                 for _, e in members)
    return tagged or any(k == "enable_tag_filtering" and v for _, k, v in _walk(doc))


def cross_account_routing(ctx: Context) -> list[Finding]:
    """One model_name whose Bedrock deployments sign with several identities (the gateway's own included)
    must be separated by tag routing; untagged requests must have a ``default``; no tag may lead to two
    identities; a header regex is not a department boundary."""
    found: list[Finding] = []
    for name, members in _model_groups(ctx).items():
        bedrock = [(i, e) for i, e in members if bedrock_route(_mapping(e.get("litellm_params")))]
        identities = {i: signing_identity(_mapping(e.get("litellm_params"))) for i, e in bedrock}
        if len(set(identities.values())) < 2:
            continue
        indexes = tuple(i for i, _ in bedrock)
        spread = ", ".join(f"{who} ({_deployment_list([i for i in indexes if identities[i] == who])})"
                           for who in dict.fromkeys(identities.values()))
        others = [i for i, _ in members if i not in identities]
        also = f" (and by other providers: {_deployment_list(others)})" if others else ""
        gaps = _tag_routing_gaps(ctx.doc, bedrock)
        if gaps:
            intent = _department_intent(ctx.doc, members) or GATEWAY_IDENTITY in identities.values()
            pooling = "" if intent else (" If pooling capacity across accounts is what you want, give each "
                                         "account's deployment its own model_name instead, or accept this warning.")
            found.append(Finding(
                "cross-account-spread", "error" if intent else "warning",
                "router_settings.enable_tag_filtering / litellm_params.tags",
                f"model_name {name!r} is served by Bedrock as {spread}{also}, but {'; '.join(gaps)}: LiteLLM "
                "load-balances requests across all of them, so one department's requests are signed and billed "
                "in another's account. Fix: set router_settings.enable_tag_filtering: true and give each "
                "deployment its department's tag in litellm_params.tags (or give each department its own "
                f"model_name).{pooling}", None, name, indexes))
        else:
            found += _untagged_spread(name, bedrock, indexes) + _regex_routing(name, bedrock)
        found += _shared_tags(name, bedrock, identities)
    return found


def _untagged_spread(name: str, members: list[tuple[int, Mapping[str, Any]]],
                     indexes: tuple[int, ...]) -> list[Finding]:
    # LiteLLM's tag router answers an untagged request with the `default`-tagged deployments, else all.
    if any("default" in routing_tags(_mapping(e.get("litellm_params"))) for _, e in members):
        return []
    return [Finding(
        "untagged-spread", "warning", "litellm_params.tags",
        f"model_name {name!r} has no deployment tagged `default`: a request that carries no tag (a key "
        "without tags, a caller that forgets them) is spread across every account. Fix: tag one deployment "
        "`default` (the account untagged requests may use), or give each department its own model_name and "
        "restrict each department's keys to it.", None, name, indexes)]


def _regex_routing(name: str, members: list[tuple[int, Mapping[str, Any]]]) -> list[Finding]:
    regex = [i for i, e in members if _mapping(e.get("litellm_params")).get("tag_regex")]
    if not regex:
        return []
    return [Finding(
        "tag-regex-not-a-boundary", "warning", "litellm_params.tag_regex",
        f"model_name {name!r}: {_deployment_list(regex)} are picked by tag_regex, which matches a header the "
        "caller sends (User-Agent...): any caller can choose that account. Fix: route by tags set on the "
        "caller's key or team (litellm_params.tags), not by a client header.", None, name, tuple(regex))]


def _shared_tags(name: str, members: list[tuple[int, Mapping[str, Any]]],
                 identities: Mapping[int, str]) -> list[Finding]:
    holders: dict[str, list[int]] = defaultdict(list)
    for i, entry in members:
        for tag in dict.fromkeys(routing_tags(_mapping(entry.get("litellm_params")))):
            holders[tag].append(i)
    found = []
    for tag, indexes in holders.items():
        if len({identities[i] for i in indexes}) > 1:
            found.append(Finding(
                "shared-tag", "error", "litellm_params.tags",
                f"tag {tag!r} of model_name {name!r} is on deployments that sign as different identities "
                f"({', '.join(f'#{i} {identities[i]}' for i in indexes)}): requests with it are spread across "
                "them. Fix: give each account's deployment its own tag.", None, name, tuple(indexes)))
    return found
