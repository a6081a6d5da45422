"""The static rules of ``litellm-xacct check``. Every rule has one signature, ``rule(ctx) -> list[Finding]``,
and :data:`RULES` lists them in the order they run (no AWS calls). Rules about one deployment are written
as ``(Deployment) -> list[Finding]`` and lifted with :func:`each`."""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._config import _REGION as REGION
from .._config import _ROLE_ARN as ROLE_ARN
from .._config import AWS_FIELDS, XACCT_FIELDS, DeploymentConfig, split_model
from .._env import env_var
from .._errors import ConfigError
from .._names import PROVIDER
from .callers import CALLER_RULES
from .findings import (
    ENV_REF,
    GATEWAY_IDENTITY,
    PREFIX,
    Deployment,
    Finding,
    Route,
    Severity,
    _mapping,
    _resolve_env,
    bedrock_route,
    routing_tags,
    signing_identity,
)

SHIM = "xacct_handler.handler"  # the one-line file beside the config that every LiteLLM release can load
GUARD = "xacct_handler.guard"  # the proxy guard, loaded from the same file
SOURCE_IDENTITY = GATEWAY_IDENTITY  # kept for callers of the old name

#: Stand-ins for a field already reported, so validation can go on to the next field without a follow-on
#: error (a removed role would make aws_session_name "set without a role"; a removed key, its pair "missing").
_PLACEHOLDERS: dict[str, Any] = {
    "aws_region_name": "us-east-1",
    "aws_role_name": "arn:aws:iam::000000000000:role/placeholder",
    "aws_access_key_id": "AKIAPLACEHOLDER00000",
    "aws_secret_access_key": "placeholder",
}


@dataclass
class Context:
    """What every rule sees: the merged config, where it lives, and the deployments that reach Bedrock."""

    doc: Mapping[str, Any]
    config_dir: Path
    deployments: list[Deployment]

    def of(self, route: Route) -> list[Deployment]:
        return [d for d in self.deployments if d.route == route]


Rule = Callable[[Context], list[Finding]]


def each(check: Callable[[Deployment], list[Finding]], route: Route | None = None) -> Rule:
    """Lift a per-deployment check to a rule (optionally for one route only)."""
    def rule(ctx: Context) -> list[Finding]:
        return [f for d in ctx.deployments if route is None or d.route == route for f in check(d)]
    rule.__name__ = check.__name__
    rule.__doc__ = check.__doc__
    return rule


# -- small helpers ---------------------------------------------------------------------------------


def _did_you_mean(name: str, choices: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return close[0] if close else None


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Every (dotted path, key, value) in a YAML document, lists shown as ``[i]``."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            here = f"{path}.{key}" if path else str(key)
            yield here, key, value
            yield from _walk(value, here)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


def _settings(doc: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    return _mapping(doc.get(name))


def _deployment_list(indexes: Sequence[int]) -> str:
    return ", ".join(f"#{i}" for i in indexes)


def _finding(dep: Deployment, rule: str, severity: Severity, field_name: str, message: str) -> Finding:
    return Finding(rule, severity, field_name, message, dep.index, dep.model_name)


# -- per-deployment rules --------------------------------------------------------------------------


def unknown_fields(dep: Deployment) -> list[Finding]:
    """``aws_*`` keys LiteLLM does not know (dropped silently) and ``xacct_*`` keys we do not know (or, on
    native ``bedrock/``, any ``xacct_*`` key: only bedrock-xacct reads them)."""
    found = []
    for key in dep.params:
        if not isinstance(key, str):
            continue
        if key.startswith("aws_") and key not in AWS_FIELDS:
            guess = _did_you_mean(key, AWS_FIELDS)
            fix = f"rename it to {guess}" if guess else f"use one of {', '.join(AWS_FIELDS)}"
            found.append(_finding(dep, "unknown-aws-field", "error", key,
                                  f"{key} is not an aws_* field LiteLLM knows: LiteLLM drops it silently, so this "
                                  f"deployment runs as if it were not set. Fix: {fix}."))
        elif key.startswith("xacct_") and dep.route == "bedrock":
            found.append(_finding(dep, "xacct-field-on-native", "error", key,
                                  f"{key} is read only by {PROVIDER}: native bedrock/ ignores it (or sends it to "
                                  f"Bedrock in the request body). Fix: move this deployment to {PREFIX} "
                                  "(`litellm-xacct migrate`), or remove the field."))
        elif key.startswith("xacct_") and key not in XACCT_FIELDS:
            guess = _did_you_mean(key, XACCT_FIELDS)
            fix = f"rename it to {guess}" if guess else f"use one of {', '.join(XACCT_FIELDS)}"
            found.append(_finding(dep, "unknown-xacct-field", "error", key,
                                  f"{key} is not a litellm-xacct field: every request to this deployment fails. "
                                  f"Fix: {fix}."))
    return found


def _env_refs(params: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(field, variable) for every ``os.environ/NAME`` the provider resolves (aws_*, xacct_*, chain hops)."""
    for key, value in params.items():
        if not (isinstance(key, str) and key.startswith(("aws_", "xacct_"))):
            continue
        values = [(key, value)]
        if key == "xacct_role_chain" and isinstance(value, list):
            values = [(f"{key}[{i}].{k}", v) for i, hop in enumerate(value)
                      for k, v in _mapping(hop).items()]
        for name, item in values:
            var = env_var(item)
            if var is not None:
                yield name, var


def unset_env(dep: Deployment) -> list[Finding]:
    """``os.environ/NAME`` references whose variable is not set in this environment. On ``bedrock-xacct`` the
    provider refuses the deployment (error); on native ``bedrock/`` LiteLLM resolves the field to nothing and
    fills it from the gateway's own environment: an error for the role (the gateway's own identity would sign),
    a note for the rest."""
    found = []
    for name, var in _env_refs(dep.params):
        if var in os.environ:
            continue
        fix = f"Fix: export {var}=... in the gateway's environment (and before running this check), or set {name} " \
              "directly."
        if dep.route == PROVIDER:
            found.append(_finding(dep, "unset-env-var", "error", name,
                                  f"{name} refers to environment variable {var}, which is not set: the gateway would "
                                  f"refuse every request to this deployment. {fix}"))
        else:
            role = _top_field(name) == "aws_role_name"
            effect = "no role is assumed and the gateway's own identity signs" if role else \
                "native bedrock/ fills it from the gateway's own AWS_* environment"
            found.append(_finding(dep, "unset-env-var", "error" if role else "info", name,
                                  f"{name} refers to environment variable {var}, which is not set here: LiteLLM "
                                  f"resolves it to no value, so {effect}. {fix}"))
    return found


def native_fields(dep: Deployment) -> list[Finding]:
    """The identity fields native ``bedrock/`` passes to STS, checked for shape (STS would refuse them on
    every request): the role ARN and the region."""
    found = []
    role = _resolve_env(dep.params.get("aws_role_name"))
    if isinstance(role, str) and role and not role.startswith(ENV_REF) and not ROLE_ARN.fullmatch(role):
        found.append(_finding(dep, "invalid-field", "error", "aws_role_name",
                              f"aws_role_name {role!r} is not an IAM role ARN: every request fails at AssumeRole. "
                              "Fix: use the full ARN, e.g. arn:aws:iam::111111111111:role/NAME."))
    region = _resolve_env(dep.params.get("aws_region_name"))
    if isinstance(region, str) and region and not region.startswith(ENV_REF) and not REGION.fullmatch(region):
        found.append(_finding(dep, "invalid-field", "error", "aws_region_name",
                              f"aws_region_name {region!r} is not an AWS region. Fix: use a region such as us-east-1."))
    return found


def _top_field(name: str) -> str:
    return name.split("[", 1)[0].split(".", 1)[0]


def runtime_validation(dep: Deployment) -> list[Finding]:
    """Validate exactly as a request does (``DeploymentConfig.from_params``, then botocore's AssumeRole
    parameter validation of each hop), reporting every invalid field, not only the first. Sets
    ``dep.config`` when the deployment is valid. Unknown ``xacct_*`` keys and unset variables are left
    to :func:`unknown_fields` / :func:`unset_env`, which report them."""
    from .._credentials import assume_role_kwargs

    params = {k: v for k, v in dep.params.items()
              if not (isinstance(k, str) and k.startswith("xacct_") and k not in XACCT_FIELDS)}
    unset = [name for name, var in _env_refs(dep.params) if var not in os.environ]
    for name in unset:
        top = _top_field(name)
        if isinstance(params.get(top), str):  # the whole field is a reference to an unset variable
            params[top] = _PLACEHOLDERS.get(top)
    params = {k: v for k, v in params.items() if v is not None}
    found: list[Finding] = []
    reported: set[str] = set()
    while True:
        try:
            config = DeploymentConfig.from_params(params, deployment=dep.model_name, model=dep.model[len(PREFIX):])
            for depth in range(1, len(config.chain) + 1):
                assume_role_kwargs(config, depth)  # botocore's own STS parameter validation, offline
        except ConfigError as exc:
            if exc.field in reported:
                return found  # no progress: one finding per field is enough
            reported.add(exc.field)
            missing = exc.field == "aws_region_name" and exc.problem == "is missing"
            found.append(_finding(dep, "missing-region" if missing else "invalid-field", "error", exc.field,
                                  f"{exc.field} {exc.problem}. Fix: {exc.fix}."))
            top = _top_field(exc.field)
            if top in _PLACEHOLDERS and params.get(top) != _PLACEHOLDERS[top]:
                params[top] = _PLACEHOLDERS[top]
            elif top in params and top != "model":
                del params[top]
            else:
                return found
            continue
        if not found and not unset:
            dep.config = config
        return found


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


def served_by_another_provider(dep: Deployment) -> list[Finding]:
    """A ``bedrock-xacct/`` deployment whose ``custom_llm_provider`` names another provider is served by it."""
    provider = dep.params.get("custom_llm_provider")
    if provider in (None, PROVIDER):
        return []
    native = " LiteLLM's native Bedrock path signs it with whatever identity that path finds (the gateway's own " \
             "when no role is set), and the provider's checks and audit record are skipped" if provider == "bedrock" \
        else ""
    return [_finding(dep, "served-natively" if provider == "bedrock" else "served-by-another-provider", "error",
                     "custom_llm_provider",
                     f"custom_llm_provider: {provider} makes LiteLLM hand this {PREFIX} deployment to provider "
                     f"{provider!r}, not to {PROVIDER}.{native}. Fix: remove custom_llm_provider from litellm_params "
                     f"(the {PREFIX} prefix selects the provider).")]


def api_key_ignored(dep: Deployment) -> list[Finding]:
    """A Bedrock API key (``api_key``) on a ``bedrock-xacct/`` deployment is ignored: the role signs."""
    found = []
    if dep.params.get("api_key") is not None:
        found.append(_finding(dep, "api-key-ignored", "error", "api_key",
                              f"api_key (a Bedrock API key) is ignored by {PROVIDER}: requests are signed with SigV4 "
                              "by this deployment's AWS identity (its role, keys or the gateway's own), so the key's "
                              "account is not the one billed. Fix: remove api_key, and set aws_role_name to a role in "
                              "the account the key belongs to."))
    if dep.params.get("api_base") is not None:
        found.append(_finding(dep, "api-base-ignored", "error", "api_base",
                              f"api_base is not read by {PROVIDER}: requests go to the regional Bedrock endpoint. "
                              "Fix: use aws_bedrock_runtime_endpoint: https://<host> (e.g. a PrivateLink endpoint)."))
    return found


def client_side_auth_params(index: int, model_name: str, params: Mapping[str, Any]) -> list[Finding]:
    """A deployment's ``configurable_clientside_auth_params`` lets callers override its credentials."""
    allowed = params.get("configurable_clientside_auth_params")
    if not allowed:
        return []
    return [Finding(
        "client-side-credentials", "error", "configurable_clientside_auth_params",
        f"configurable_clientside_auth_params ({json.dumps(allowed)}) lets callers send those fields in the "
        "request body and override this deployment's own: the department boundary is then the caller's "
        "choice. Fix: remove it.", index, model_name)]


def _xacct_supports(route: str) -> bool:
    """Whether this release's bedrock-xacct serves ``bedrock/<route>/`` models (asked of the provider itself)."""
    try:
        split_model(f"{route}/model", "probe")
    except ConfigError:
        return False
    return True


def native_bedrock(dep: Deployment) -> list[Finding]:
    """A native ``bedrock/`` deployment that signs with a role, keys, a profile or a web identity, or carries
    department tags: say what moving it to ``bedrock-xacct/`` changes (a note; never fails a gate)."""
    params = dep.params
    intent = [k for k in ("aws_role_name", "aws_access_key_id", "aws_profile_name", "aws_web_identity_token")
              if params.get(k)]
    tags = f"tags {dep.tags}" if dep.tags else f"model_info.tags {dep.model_info['tags']}" \
        if dep.model_info.get("tags") else ""
    if not intent and not tags:
        return []
    why = ", ".join(intent + ([tags] if tags else []))
    route = dep.model.split("/")[1] if dep.model.count("/") >= 2 else ""
    caveat = ""
    if dep.model_id == "*" or dep.model.endswith("/*"):
        caveat = " This is a wildcard: any Bedrock model id a caller names is signed with this identity; list the " \
                 "models instead."
    elif route == "invoke" and not _xacct_supports("invoke"):
        caveat = f" It uses the invoke/ route, which this release of {PROVIDER} does not serve: it stays native."
    return [_finding(
        dep, "native-bedrock-identity", "info", "model",
        f"native bedrock/ deployment signing as {dep.identity} ({why}). Moving it to {PREFIX} (`litellm-xacct "
        "migrate`) changes: identity, region and endpoints come only from this entry (native bedrock/ lets a "
        "request body override aws_role_name and endpoints on LiteLLM 1.82.3, keys and region on 1.108.7, and "
        "fills unset fields from the gateway's AWS_* environment); credentials are refreshed before they expire "
        "instead of on a waiting request; each response carries an audit record of the signing account; and "
        "`check --live` can prove the account before go-live." + caveat)]


# -- config-wide rules -----------------------------------------------------------------------------


def malformed_entries(ctx: Context) -> list[Finding]:
    """Entries LiteLLM cannot route (no litellm_params.model). Only a note when nothing reaches Bedrock:
    other providers' configs are not this check's business."""
    severity: Severity = "error" if ctx.deployments else "info"
    found = []
    for i, entry in enumerate(ctx.doc["model_list"]):
        params = _mapping(entry).get("litellm_params") if isinstance(entry, Mapping) else None
        if not isinstance(params, Mapping) or not isinstance(params.get("model"), str):
            found.append(Finding("malformed-deployment", severity, f"model_list[{i}]",
                                 f"model_list[{i}] needs model_name and litellm_params.model. Fix: complete or "
                                 "remove the entry.", i))
        elif bedrock_route(params) and not isinstance(entry.get("model_name"), str):
            found.append(Finding("malformed-deployment", "error", f"model_list[{i}].model_name",
                                 f"model_list[{i}] has no model_name. Fix: set model_name.", i))
    return found


def client_side_auth_everywhere(ctx: Context) -> list[Finding]:
    """``configurable_clientside_auth_params`` on any deployment, whatever its provider."""
    found = []
    for i, entry in enumerate(ctx.doc["model_list"]):
        params = _mapping(_mapping(entry).get("litellm_params"))
        found += client_side_auth_params(i, str(_mapping(entry).get("model_name")), params)
    return found


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


def client_side_credentials(ctx: Context) -> list[Finding]:
    """Proxy-wide switches that let callers supply credentials, and opt-ins LiteLLM does not read where they
    are (stated intent, worth removing)."""
    doc = ctx.doc
    found = []
    general = _settings(doc, "general_settings")
    if general.get("allow_client_side_credentials"):
        found.append(Finding(
            "client-side-credentials", "error", "general_settings.allow_client_side_credentials",
            "general_settings.allow_client_side_credentials lets every caller send credentials, api_base and "
            "other deployment fields in the request body, overriding the deployment's. Fix: remove it."))
    misplaced = [("litellm_settings", "allow_client_side_credentials"),
                 ("litellm_settings", "configurable_clientside_auth_params"),
                 ("general_settings", "configurable_clientside_auth_params")]
    for section, key in misplaced:
        if _settings(doc, section).get(key):
            found.append(Finding(
                "client-side-credentials", "warning", f"{section}.{key}",
                f"{section}.{key} asks LiteLLM to accept caller-supplied credential fields (it has no effect "
                "in this section today, but would in the right one). Fix: remove it."))
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


def provider_map(ctx: Context) -> list[Finding]:
    """``litellm_settings.custom_provider_map`` must map ``bedrock-xacct`` to a loadable handler."""
    if not ctx.of(PROVIDER):
        return []
    doc, config_dir = ctx.doc, ctx.config_dir
    field_name = "litellm_settings.custom_provider_map"
    example = f"[{{provider: {PROVIDER}, custom_handler: {SHIM}}}]"
    entries = _settings(doc, "litellm_settings").get("custom_provider_map")
    if entries is None:
        elsewhere = [p for p, k, _ in _walk(doc) if k == "custom_provider_map"]
        hint = f" (it is under {', '.join(elsewhere)}, where LiteLLM ignores it)" if elsewhere else ""
        return [Finding("provider-not-registered", "error", field_name,
                        f"{field_name} is missing{hint}: LiteLLM does not know provider {PROVIDER} and every "
                        f"request to its deployments fails. Fix: set {field_name}: {example} and put "
                        "xacct_handler.py beside the config.")]
    if not isinstance(entries, list):
        return [Finding("provider-not-registered", "error", field_name,
                        f"{field_name} must be a list. Fix: {field_name}: {example}.")]
    ours = [e for e in entries if isinstance(e, Mapping) and e.get("provider") == PROVIDER]
    if not ours:
        named = [str(e.get("provider")) for e in entries if isinstance(e, Mapping)]
        guess = _did_you_mean(PROVIDER, named)
        hint = f" ({guess!r} is listed: a typo?)" if guess else ""
        return [Finding("provider-not-registered", "error", field_name,
                        f"{field_name} does not map provider {PROVIDER}{hint}, so every request to its "
                        f"deployments fails. Fix: add {{provider: {PROVIDER}, custom_handler: {SHIM}}}.")]
    return [f for entry in ours for f in _check_handler(entry.get("custom_handler"), config_dir)]


def _check_handler(handler: Any, config_dir: Path) -> list[Finding]:
    """Mirror LiteLLM's ``get_instance_fn``: ``<config dir>/<module path>.py``, else (newer releases only)
    a normal import."""
    where = "litellm_settings.custom_provider_map[].custom_handler"
    if not isinstance(handler, str) or "." not in handler:
        return [Finding("handler-not-found", "error", where,
                        f"custom_handler {handler!r} is not `module.attribute`. Fix: custom_handler: {SHIM}.")]
    module = handler.rsplit(".", 1)[0]
    beside = config_dir.joinpath(*module.split(".")).with_suffix(".py")
    if beside.is_file():
        return []
    if not _importable(module):
        return [Finding("handler-not-found", "error", where,
                        f"custom_handler {handler!r}: {beside} does not exist and {module!r} is not importable, "
                        "so the proxy cannot load the provider. Fix: put xacct_handler.py (one line: `from "
                        f"litellm_xacct import guard, handler`) beside the config and use custom_handler: {SHIM}.")]
    return [Finding("handler-not-beside-config", "warning", where,
                    f"custom_handler {handler!r} is importable, but LiteLLM 1.82.3 only loads a handler from a "
                    f"file beside the config ({beside}) and fails to start. Fix: put xacct_handler.py (one line: "
                    f"`from litellm_xacct import guard, handler`) beside the config and use custom_handler: {SHIM}.")]


def _importable(module: str) -> bool:
    """Whether a fresh interpreter (like the proxy: no cwd on sys.path) finds ``module``."""
    probe = ("import importlib.util, os, sys\n"
             "sys.path[:] = [p for p in sys.path if p not in ('', os.getcwd())]\n"
             f"sys.exit(0 if importlib.util.find_spec({module!r}) else 1)\n")
    try:
        result = subprocess.run([sys.executable, "-c", probe], cwd=os.path.abspath(os.sep),
                                capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


_IMPORTS_GUARD = re.compile(r"^\s*from\s+litellm_xacct\s+import\s+[^#\n]*\bguard\b|litellm_xacct\.guard\b", re.M)


def _guard_entry(entry: Any, config_dir: Path) -> bool:
    """Whether a ``litellm_settings.callbacks`` entry is the litellm-xacct proxy guard: ``litellm_xacct.guard``,
    or ``<module>.guard`` where ``<module>.py`` beside the config imports guard from litellm_xacct."""
    if not isinstance(entry, str) or not entry.endswith(".guard"):
        return False
    module = entry.rsplit(".", 1)[0]
    if module == "litellm_xacct":
        return True
    beside = config_dir.joinpath(*module.split(".")).with_suffix(".py")
    try:
        return bool(_IMPORTS_GUARD.search(beside.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError):
        return False


def guard_armed(ctx: Context) -> list[Finding]:
    """``bedrock-xacct`` deployments must be protected by the proxy guard (``litellm_settings.callbacks``),
    which refuses request bodies that switch the provider or supply credentials before routing."""
    xacct = ctx.of(PROVIDER)
    if not xacct:
        return []
    callbacks = _settings(ctx.doc, "litellm_settings").get("callbacks")
    entries = callbacks if isinstance(callbacks, list) else [callbacks] if callbacks else []
    if any(_guard_entry(e, ctx.config_dir) for e in entries):
        return []
    listed = [e for e in entries if isinstance(e, str) and e.endswith(".guard")]
    why = (f" ({', '.join(listed)} is listed, but no file beside the config imports guard from litellm_xacct)"
           if listed else "")
    return [Finding(
        "guard-not-armed", "error", "litellm_settings.callbacks",
        f"the {PREFIX} deployments ({_deployment_list([d.index for d in xacct])}) are not protected by the "
        f"litellm-xacct proxy guard{why}: a request body carrying custom_llm_provider, aws_* keys or a model id "
        "can make LiteLLM bypass the provider and sign with another identity. Fix: make xacct_handler.py beside "
        "the config read `from litellm_xacct import guard, handler  # noqa: F401` and add litellm_settings: "
        f"{{callbacks: [\"{GUARD}\"]}}.", None, None, tuple(d.index for d in xacct))]


def _database_reason(doc: Mapping[str, Any]) -> str | None:
    """Why LiteLLM may load models from its database, or None. It does with store_model_in_db (the setting or
    the STORE_MODEL_IN_DB variable); a database_url alone may mean it, unless store_model_in_db is false."""
    general = _settings(doc, "general_settings")
    env = str(_settings(doc, "environment_variables").get("STORE_MODEL_IN_DB", "")).lower()
    if general.get("store_model_in_db") is True:
        return "general_settings.store_model_in_db is true"
    if env in ("true", "1", "yes"):
        return "environment_variables.STORE_MODEL_IN_DB is set"
    if general.get("database_url") and general.get("store_model_in_db") is not False:
        return ("general_settings.database_url is set (LiteLLM loads models from it when STORE_MODEL_IN_DB is set "
                "in the gateway's environment)")
    return None


def database_models(ctx: Context) -> list[Finding]:
    """Models kept in LiteLLM's database are invisible to a file check: say so."""
    reason = _database_reason(ctx.doc)
    if reason is None:
        return []
    return [Finding(
        "models-in-database", "info", "general_settings.store_model_in_db",
        f"{reason}: models added through the admin UI or /model/new live in LiteLLM's database, and this check "
        "did not see them. Fix: keep Bedrock deployments in the config file, or review the database's models "
        "(the UI's Models page) against these rules.")]


def nothing_to_do(ctx: Context) -> list[Finding]:
    if ctx.deployments:
        return []
    return [Finding("no-bedrock-deployments", "info", "model_list",
                    "no deployment reaches Amazon Bedrock (bedrock/, bedrock/converse/, bedrock/invoke/, "
                    f"custom_llm_provider: bedrock, {PREFIX}): there is nothing for litellm-xacct to check.")]


#: Every static rule, in the order it runs.
RULES: tuple[Rule, ...] = (
    malformed_entries,
    each(unknown_fields),
    each(unset_env),
    each(native_fields, "bedrock"),
    each(runtime_validation, PROVIDER),
    each(tags_shape),
    each(tags_in_model_info),
    each(served_by_another_provider, PROVIDER),
    each(api_key_ignored, PROVIDER),
    each(native_bedrock, "bedrock"),
    client_side_auth_everywhere,
    misplaced_tag_filtering,
    cross_account_routing,
    client_side_credentials,
    provider_map,
    guard_armed,
    database_models,
    *CALLER_RULES,
    nothing_to_do,
)
