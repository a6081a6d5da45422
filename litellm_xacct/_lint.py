"""The static rules of ``litellm-xacct check``: each ``rule_*`` function looks at one deployment or at the whole
config and returns :class:`Finding` objects (no AWS calls). :func:`litellm_xacct._check.check_document`
runs them in order."""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ._config import AWS_FIELDS, PROVIDER, XACCT_FIELDS, DeploymentConfig
from ._errors import ConfigError
from ._findings import ENV_REF, PREFIX, Deployment, Finding, _mapping, _resolve_env, role_account, routing_tags

SHIM = "xacct_handler.handler"  # the one-line file beside the config that every LiteLLM release can load
SOURCE_IDENTITY = "source identity"  # account key of a deployment that assumes no role


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


# -- per-deployment rules --------------------------------------------------------------------------


def rule_unknown_fields(dep: Deployment) -> list[Finding]:
    """``aws_*`` keys LiteLLM does not know (dropped silently) and ``xacct_*`` keys we do not know."""
    found = []
    for key in dep.params:
        if not isinstance(key, str):
            continue
        if key.startswith("aws_") and key not in AWS_FIELDS:
            guess = _did_you_mean(key, AWS_FIELDS)
            fix = f"rename it to {guess}" if guess else f"use one of {', '.join(AWS_FIELDS)}"
            found.append(Finding(
                "unknown-aws-field", "error", key,
                f"{key} is not an aws_* field LiteLLM knows: LiteLLM drops it silently, so this deployment "
                f"runs as if it were not set. Fix: {fix}.", dep.index, dep.model_name))
        elif key.startswith("xacct_") and key not in XACCT_FIELDS:
            guess = _did_you_mean(key, XACCT_FIELDS)
            fix = f"rename it to {guess}" if guess else f"use one of {', '.join(XACCT_FIELDS)}"
            found.append(Finding(
                "unknown-xacct-field", "error", key,
                f"{key} is not a litellm-xacct field: every request to this deployment fails. Fix: {fix}.",
                dep.index, dep.model_name))
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
            if isinstance(item, str) and item.startswith(ENV_REF):
                yield name, item[len(ENV_REF):]


def rule_unset_env(dep: Deployment) -> list[Finding]:
    """``os.environ/NAME`` references whose variable is not set in this environment."""
    return [
        Finding("unset-env-var", "error", name,
                f"{name} refers to environment variable {var}, which is not set: the gateway would refuse "
                f"every request to this deployment. Fix: export {var}=... in the gateway's environment "
                f"(and before running this check), or set {name} directly.", dep.index, dep.model_name)
        for name, var in _env_refs(dep.params)
        if var not in os.environ
    ]


def rule_runtime_validation(dep: Deployment, unknown: set[str], unset_reported: bool) -> list[Finding]:
    """Validate exactly as a request does: ``DeploymentConfig.from_params`` and the AssumeRole
    parameters of each hop. Sets ``dep.config`` on success. ``unknown`` keys are left out and an unset
    variable's error is dropped when ``unset_reported``: rule_unknown_fields / rule_unset_env said it."""
    from ._credentials import assume_role_kwargs

    params = {k: v for k, v in dep.params.items() if k not in unknown}
    try:
        config = DeploymentConfig.from_params(params, deployment=dep.model_name,
                                              model=dep.model[len(PREFIX):])
        for depth in range(1, len(config.chain) + 1):
            assume_role_kwargs(config, depth)  # botocore's own STS parameter validation, offline
    except ConfigError as exc:
        if unset_reported and exc.problem.startswith("refers to environment variable"):
            return []
        rule = "missing-region" if exc.field == "aws_region_name" and exc.problem == "is missing" else "invalid-field"
        return [Finding(rule, "error", exc.field, f"{exc.field} {exc.problem}. Fix: {exc.fix}.",
                        dep.index, dep.model_name)]
    dep.config = config
    return []


def rule_tags_shape(dep: Deployment) -> list[Finding]:
    """``litellm_params.tags`` must be a list of strings (LiteLLM would match a string's characters)."""
    tags = dep.params.get("tags")
    if tags is None or (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        return []
    return [Finding("tags-not-a-list", "error", "tags",
                    f"litellm_params.tags is {json.dumps(tags)}, not a list of strings, so tag routing does not "
                    f"match it. Fix: write tags: [{', '.join(map(str, tags)) if isinstance(tags, list) else tags}].",
                    dep.index, dep.model_name)]


def rule_tags_in_model_info(dep: Deployment) -> list[Finding]:
    """``model_info.tags`` are metadata; LiteLLM routes on ``litellm_params.tags`` only."""
    if "tags" not in dep.model_info:
        return []
    moved = dep.model_info["tags"]
    if dep.tags:
        return [Finding("tags-in-model-info", "warning", "model_info.tags",
                        "model_info.tags is not used for routing (litellm_params.tags is). Fix: remove "
                        "model_info.tags so the routing tags are in one place.", dep.index, dep.model_name)]
    return [Finding("tags-in-model-info", "error", "model_info.tags",
                    f"model_info.tags is not used for routing: LiteLLM routes on litellm_params.tags, and this "
                    f"deployment has none. Fix: move `tags: {json.dumps(moved)}` into litellm_params.",
                    dep.index, dep.model_name)]


def rule_clientside_auth_params(index: int, model_name: str, params: Mapping[str, Any]) -> list[Finding]:
    """A deployment's ``configurable_clientside_auth_params`` lets callers override its credentials."""
    allowed = params.get("configurable_clientside_auth_params")
    if not allowed:
        return []
    return [Finding(
        "client-side-credentials", "error", "configurable_clientside_auth_params",
        f"configurable_clientside_auth_params ({json.dumps(allowed)}) lets callers send those fields in the "
        "request body and override this deployment's own: the department boundary is then the caller's "
        "choice. Fix: remove it.", index, model_name)]


# -- config-wide rules -----------------------------------------------------------------------------


def rule_misplaced_tag_filtering(doc: Mapping[str, Any]) -> list[Finding]:
    """``enable_tag_filtering`` only works under ``router_settings``; anywhere else it is ignored."""
    router_on = _settings(doc, "router_settings").get("enable_tag_filtering") is True
    found = []
    for path, key, value in _walk(doc):
        if key != "enable_tag_filtering" or path == "router_settings.enable_tag_filtering":
            continue
        if re.fullmatch(r"model_list\[\d+\]\.model_info\.enable_tag_filtering", path):
            continue  # read per model_name by newer LiteLLM releases: judged by rule_cross_account_routing
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


def rule_client_side_credentials(doc: Mapping[str, Any]) -> list[Finding]:
    """Proxy-wide switches that let callers supply credentials, and per-deployment opt-ins that LiteLLM
    does not read where they are (stated intent, worth removing)."""
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


def _account_key(params: Mapping[str, Any]) -> str:
    """Who signs a deployment's requests: the account of its role, else the gateway's own identity."""
    role = _resolve_env(params.get("aws_role_name"))
    if not role:
        return SOURCE_IDENTITY
    return role_account(role) or f"unparsed role {role!r}"


def _model_groups(doc: Mapping[str, Any]) -> dict[str, list[tuple[int, Mapping[str, Any]]]]:
    """model_name -> [(index, deployment)] for every model_name served by at least one bedrock-xacct
    deployment (other providers in the same group count too: the router spreads across them all)."""
    groups: dict[str, list[tuple[int, Mapping[str, Any]]]] = defaultdict(list)
    for i, entry in enumerate(doc["model_list"]):
        if isinstance(entry, Mapping) and isinstance(entry.get("model_name"), str):
            groups[entry["model_name"]].append((i, entry))
    return {name: members for name, members in groups.items()
            if any(str(_mapping(e.get("litellm_params")).get("model", "")).startswith(PREFIX) for _, e in members)}


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
    untagged = [i for i, e in members if not routing_tags(_mapping(e.get("litellm_params")))]
    in_info = [i for i in untagged if "tags" in _mapping(dict(members)[i].get("model_info"))]
    if in_info:
        gaps.append(f"{_deployment_list(in_info)} have their tags under model_info, which routing ignores")
    if len(in_info) < len(untagged):
        gaps.append(f"{_deployment_list([i for i in untagged if i not in in_info])} have no litellm_params.tags")
    return gaps


def rule_cross_account_routing(doc: Mapping[str, Any]) -> list[Finding]:
    """One model_name served from several accounts must be separated by tag routing; untagged
    requests must have a ``default``; no tag may lead to two accounts."""
    found: list[Finding] = []
    for name, members in _model_groups(doc).items():
        accounts = {i: _account_key(_mapping(e.get("litellm_params"))) for i, e in members}
        if len(set(accounts.values())) < 2:
            continue
        indexes = tuple(i for i, _ in members)
        spread = ", ".join(f"{acct} ({_deployment_list([i for i in indexes if accounts[i] == acct])})"
                           for acct in dict.fromkeys(accounts.values()))
        gaps = _tag_routing_gaps(doc, members)
        if gaps:
            found.append(Finding(
                "cross-account-spread", "error", "router_settings.enable_tag_filtering / litellm_params.tags",
                f"model_name {name!r} is served from {spread}, but {'; '.join(gaps)}: LiteLLM load-balances "
                "requests across all of them, so one department's requests are signed in another's account. "
                "Fix: set router_settings.enable_tag_filtering: true and give each deployment its department's "
                "tag in litellm_params.tags (or give each department its own model_name).",
                None, name, indexes))
        else:
            found += _untagged_spread(name, members, indexes)
        found += _shared_tags(name, members, accounts)
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


def _shared_tags(name: str, members: list[tuple[int, Mapping[str, Any]]],
                 accounts: Mapping[int, str]) -> list[Finding]:
    holders: dict[str, list[int]] = defaultdict(list)
    for i, entry in members:
        for tag in dict.fromkeys(routing_tags(_mapping(entry.get("litellm_params")))):
            holders[tag].append(i)
    found = []
    for tag, indexes in holders.items():
        if len({accounts[i] for i in indexes}) > 1:
            found.append(Finding(
                "shared-tag", "error", "litellm_params.tags",
                f"tag {tag!r} of model_name {name!r} is on deployments in different accounts "
                f"({', '.join(f'#{i} {accounts[i]}' for i in indexes)}): requests with it are spread across "
                "those accounts. Fix: give each account's deployment its own tag.", None, name, tuple(indexes)))
    return found


def rule_provider_map(doc: Mapping[str, Any], config_dir: Path) -> list[Finding]:
    """``litellm_settings.custom_provider_map`` must map ``bedrock-xacct`` to a loadable handler."""
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
                        f"litellm_xacct import handler`) beside the config and use custom_handler: {SHIM}.")]
    return [Finding("handler-not-beside-config", "warning", where,
                    f"custom_handler {handler!r} is importable, but LiteLLM 1.82.3 only loads a handler from a "
                    f"file beside the config ({beside}) and fails to start. Fix: put xacct_handler.py (one line: "
                    f"`from litellm_xacct import handler`) beside the config and use custom_handler: {SHIM}.")]


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


def rule_has_xacct(deployments: list[Deployment]) -> list[Finding]:
    if deployments:
        return []
    return [Finding("no-xacct-deployments", "warning", "model_list",
                    f"no deployment uses {PREFIX}: there is nothing for litellm-xacct to do. Fix: set "
                    f"litellm_params.model: {PREFIX}<bedrock model id> on the cross-account deployments.")]


def rule_malformed_entries(doc: Mapping[str, Any]) -> list[Finding]:
    found = []
    for i, entry in enumerate(doc["model_list"]):
        params = _mapping(entry).get("litellm_params") if isinstance(entry, Mapping) else None
        if not isinstance(params, Mapping) or not isinstance(params.get("model"), str):
            found.append(Finding("malformed-deployment", "error", f"model_list[{i}]",
                                 f"model_list[{i}] needs model_name and litellm_params.model. Fix: complete or "
                                 "remove the entry.", i))
        elif str(params["model"]).startswith(PREFIX) and not isinstance(entry.get("model_name"), str):
            found.append(Finding("malformed-deployment", "error", f"model_list[{i}].model_name",
                                 f"model_list[{i}] has no model_name. Fix: set model_name.", i))
    return found
