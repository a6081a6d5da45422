"""``litellm-xacct check``: find the config mistakes that break department isolation, before going live.

Use::

    report = check("config.yaml")                     # static lint, no AWS calls
    report = check("config.yaml", live=True)          # + resolve each deployment's identity via STS
    print(render_text(report))   # or render_json(report)
    exit_code = 1 if report.findings_all() else 0

Every rule is a small function returning :class:`Finding` objects; :func:`check_document` runs them
and :func:`render_text` / :func:`render_json` present the :class:`Report`. A finding's ``message``
says what is wrong and ends with ``Fix: ...``. Nothing here prints a secret: renderers pass their
output through :meth:`Report.redact`, which hides every credential value the check has seen.

:func:`load_config` raises :class:`UnusableConfig` (one-line reason) for input that cannot be checked.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
import textwrap
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from ._config import AWS_FIELDS, PROVIDER, SECRET_FIELDS, XACCT_FIELDS, DeploymentConfig
from ._errors import ConfigError, CredentialError

Severity = Literal["error", "warning"]

PREFIX = f"{PROVIDER}/"
ENV_REF = "os.environ/"
SHIM = "xacct_handler.handler"  # the one-line file beside the config that every LiteLLM release can load
SOURCE_IDENTITY = "source identity"  # account key of a deployment that assumes no role
WIDTH = 160

_ROLE_ACCOUNT = re.compile(r"^arn:aws(?:-[a-z]+)*:iam::(\d{12}):role/")
_ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")
_ENV_SECRETS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN")


class UnusableConfig(Exception):
    """The config cannot be checked at all (missing, unreadable, not YAML, no model_list). ``str()`` is
    a one-line reason."""


@dataclass(frozen=True)
class Finding:
    """One problem. ``index`` is the model_list position of the deployment it is about (None when it is
    about the whole config or a model_name group, whose members are listed in ``deployments``)."""

    rule: str
    severity: Severity
    field: str
    message: str
    index: int | None = None
    model_name: str | None = None
    deployments: tuple[int, ...] = ()

    def as_json(self, *, config_wide: bool) -> dict[str, Any]:
        data: dict[str, Any] = {"rule": self.rule, "severity": self.severity, "field": self.field,
                                "message": self.message}
        if config_wide:
            data.update(model_name=self.model_name, deployments=list(self.deployments))
        return data


@dataclass
class Deployment:
    """One ``bedrock-xacct/`` entry of model_list, as checked. ``config`` is set when it validates."""

    index: int
    model_name: str
    params: Mapping[str, Any]
    model_info: Mapping[str, Any]
    config: DeploymentConfig | None = None
    findings: list[Finding] = field(default_factory=list)
    resolved_account: str | None = None
    resolved_arn: str | None = None

    @property
    def model(self) -> str:
        return str(self.params.get("model", ""))

    @property
    def tags(self) -> list[str]:
        """Routing tags: ``litellm_params.tags`` only (LiteLLM ignores ``model_info.tags``)."""
        return routing_tags(self.params)

    @property
    def role_arn(self) -> str | None:
        if self.config is not None:
            return self.config.role.role_arn if self.config.role else None
        role = _resolve_env(self.params.get("aws_role_name"))
        return role if isinstance(role, str) and role else None

    @property
    def session_name(self) -> str | None:
        if self.config is not None:
            return self.config.role.session_name if self.config.role else None
        name = _resolve_env(self.params.get("aws_session_name"))
        return name if isinstance(name, str) and name else None

    @property
    def expected_account(self) -> str | None:
        return role_account(self.role_arn)


@dataclass
class Report:
    """The result of a check: per-deployment rows and config-wide findings."""

    path: str
    live: bool
    deployments: list[Deployment]
    findings: list[Finding]
    secrets: set[str] = field(default_factory=set, repr=False)

    def findings_all(self) -> list[Finding]:
        return [f for d in self.deployments for f in d.findings] + self.findings

    def status(self, dep: Deployment) -> str:
        """``error`` / ``warning`` / ``ok``: the worst of the deployment's own findings and of the
        config-wide findings that name it."""
        related = dep.findings + [f for f in self.findings if dep.index in f.deployments]
        severities = {f.severity for f in related}
        return "error" if "error" in severities else "warning" if severities else "ok"

    def summary(self) -> dict[str, int]:
        every = self.findings_all()
        return {"errors": sum(f.severity == "error" for f in every),
                "warnings": sum(f.severity == "warning" for f in every)}

    def redact(self, text: str) -> str:
        """Hide every credential value seen during the check, and anything shaped like an access key id."""
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "(hidden)")
        return _ACCESS_KEY_ID.sub("(hidden)", text)


# -- small helpers ---------------------------------------------------------------------------------


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _resolve_env(value: Any) -> Any:
    """LiteLLM's ``os.environ/NAME`` indirection; the reference itself when the variable is unset."""
    if isinstance(value, str) and value.startswith(ENV_REF):
        return os.environ.get(value[len(ENV_REF):], value)
    return value


def role_account(role_arn: Any) -> str | None:
    """The 12-digit account of an IAM role ARN, or None."""
    match = _ROLE_ACCOUNT.match(role_arn) if isinstance(role_arn, str) else None
    return match.group(1) if match else None


def routing_tags(params: Mapping[str, Any]) -> list[str]:
    """``litellm_params.tags`` when it is a list (anything else does not route: see rule_tags_shape)."""
    tags = params.get("tags")
    return [str(t) for t in tags] if isinstance(tags, list) else []


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


# -- loading ---------------------------------------------------------------------------------------


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a LiteLLM proxy config. Raises :class:`UnusableConfig` with a one-line reason."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UnusableConfig(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UnusableConfig(f"{path}: is a directory, not a config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UnusableConfig(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise UnusableConfig(f"{path}: invalid YAML{where}: {problem}") from None
    if not isinstance(doc, dict):
        raise UnusableConfig(f"{path}: the config must be a YAML mapping, got {type(doc).__name__}")
    model_list = doc.get("model_list")
    if not isinstance(model_list, list) or not model_list:
        what = "is missing" if model_list is None else "is empty" if model_list == [] else "is not a list"
        raise UnusableConfig(f"{path}: model_list {what}; nothing to check")
    return doc


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


# -- running the rules -----------------------------------------------------------------------------


def _xacct_deployments(doc: Mapping[str, Any]) -> list[Deployment]:
    deployments = []
    for i, entry in enumerate(doc["model_list"]):
        if not isinstance(entry, Mapping):
            continue
        params = _mapping(entry.get("litellm_params"))
        if str(params.get("model", "")).startswith(PREFIX) and isinstance(entry.get("model_name"), str):
            deployments.append(Deployment(i, entry["model_name"], params, _mapping(entry.get("model_info"))))
    return deployments


def _check_deployment(dep: Deployment) -> list[Finding]:
    unknown = rule_unknown_fields(dep)
    unset = rule_unset_env(dep)
    return (unknown + unset + rule_runtime_validation(dep, {f.field for f in unknown}, bool(unset))
            + rule_tags_shape(dep) + rule_tags_in_model_info(dep)
            + rule_clientside_auth_params(dep.index, dep.model_name, dep.params))


def check_document(doc: Mapping[str, Any], *, path: str, config_dir: Path) -> Report:
    """Run every static rule on a loaded config (no AWS calls)."""
    deployments = _xacct_deployments(doc)
    by_index = {d.index: d for d in deployments}
    findings = [f for d in deployments for f in _check_deployment(d)]
    for i, entry in enumerate(doc["model_list"]):  # other providers' deployments can open credentials too
        params = _mapping(_mapping(entry).get("litellm_params"))
        if i not in by_index:
            findings += rule_clientside_auth_params(i, str(_mapping(entry).get("model_name")), params)
    findings += (rule_malformed_entries(doc) + rule_misplaced_tag_filtering(doc)
                 + rule_cross_account_routing(doc) + rule_client_side_credentials(doc)
                 + rule_has_xacct(deployments))
    if deployments:
        findings += rule_provider_map(doc, config_dir)
    report = Report(path=path, live=False, deployments=deployments, findings=[], secrets=_secrets(doc))
    for finding in findings:
        owner = by_index.get(finding.index) if finding.index is not None else None
        (owner.findings if owner else report.findings).append(finding)
    return report


def _secrets(doc: Mapping[str, Any]) -> set[str]:
    """Credential values this check could ever print: the config's secret fields and the AWS env vars."""
    values = {os.environ.get(name) for name in _ENV_SECRETS}
    for entry in doc["model_list"]:
        params = _mapping(_mapping(entry).get("litellm_params"))
        values |= {_resolve_env(params.get(name)) for name in SECRET_FIELDS}
    return {str(v) for v in values if v and len(str(v)) >= 8 and not str(v).startswith(ENV_REF)}


def check(path: str, *, live: bool = False, sts_endpoint: str | None = None) -> Report:
    """Load ``path`` and check it; with ``live``, also resolve every valid deployment's identity.
    Raises :class:`UnusableConfig`."""
    doc = load_config(path)
    report = check_document(doc, path=path, config_dir=Path(path).resolve().parent)
    if live:
        run_live(report, sts_endpoint=sts_endpoint)
    return report


# -- live ------------------------------------------------------------------------------------------


def run_live(report: Report, *, sts_endpoint: str | None = None, engine: Any = None) -> None:
    """For each deployment that validated: obtain its credentials exactly as a request does
    (``from_params`` then ``CredentialEngine.get``), ask STS GetCallerIdentity who they are, and compare
    with the role ARN's account. ``sts_endpoint`` replaces every deployment's aws_sts_endpoint (for
    pointing the check at a local stand-in). Source credentials come from this process's AWS chain."""
    from ._credentials import CredentialEngine

    report.live = True
    engine = engine or CredentialEngine(background=False)
    try:
        for dep in report.deployments:
            if dep.config is not None:
                dep.findings += _live_one(dep, engine, sts_endpoint, report.secrets)
    finally:
        engine.close()


def _live_one(dep: Deployment, engine: Any, sts_endpoint: str | None, secrets: set[str]) -> list[Finding]:
    from botocore.exceptions import BotoCoreError, ClientError

    params = dict(dep.params)
    if sts_endpoint:
        params["aws_sts_endpoint"] = sts_endpoint
    try:
        config = DeploymentConfig.from_params(params, deployment=dep.model_name, model=dep.model[len(PREFIX):])
        lease = engine.get(config)
    except ConfigError as exc:
        field_name = "--sts-endpoint" if sts_endpoint and exc.field == "aws_sts_endpoint" else exc.field
        return [Finding("invalid-field", "error", field_name, f"{field_name} {exc.problem}. Fix: {exc.fix}.",
                        dep.index, dep.model_name)]
    except CredentialError as exc:
        text = str(exc).removeprefix(f"deployment {dep.model_name!r}: ")
        if exc.code and exc.code not in text:
            text += f" (code {exc.code})"
        return [Finding("live-credentials", "error", "aws_role_name" if dep.role_arn else "source identity",
                        text, dep.index, dep.model_name)]
    creds = lease.credentials
    if creds is not None:
        secrets.update(s for s in (creds.access_key, creds.secret_key, creds.token) if s)
    try:
        sts = engine.client_factory("sts", config.sts_region, config.sts_url, creds)
        identity = sts.get_caller_identity()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        return [Finding("live-identity", "error", "aws_role_name",
                        f"GetCallerIdentity with this deployment's credentials failed: STS {code}. Fix: check the "
                        "role and the gateway's identity.", dep.index, dep.model_name)]
    except BotoCoreError as exc:
        return [Finding("live-identity", "error", "aws_sts_endpoint",
                        f"cannot reach STS at {config.sts_url}: {exc}. Fix: check aws_sts_endpoint / network.",
                        dep.index, dep.model_name)]
    dep.resolved_account, dep.resolved_arn = str(identity.get("Account")), str(identity.get("Arn"))
    return _compare_identity(dep)


def _compare_identity(dep: Deployment) -> list[Finding]:
    """The signing identity must be the configured role, in the role ARN's account."""
    expected, role = dep.expected_account, dep.role_arn
    if role is None:
        return []
    role_name = role.rsplit("/", 1)[-1]
    assumed = re.match(r"^arn:aws(?:-[a-z]+)*:sts::\d{12}:assumed-role/([^/]+)/", dep.resolved_arn or "")
    if dep.resolved_account != expected or (assumed and assumed.group(1) != role_name):
        return [Finding("account-mismatch", "error", "aws_role_name",
                        f"requests would be signed as {dep.resolved_arn} (account {dep.resolved_account}), not "
                        f"by {role} (account {expected}). Fix: check aws_role_name and the STS endpoint.",
                        dep.index, dep.model_name)]
    return []


# -- rendering -------------------------------------------------------------------------------------


def render_json(report: Report) -> str:
    """One stable JSON document (sorted keys), secrets redacted."""
    deployments = [{
        "index": d.index, "model_name": d.model_name, "model": d.model, "tags": d.tags,
        "role_arn": d.role_arn, "session_name": d.session_name, "expected_account": d.expected_account,
        "resolved_account": d.resolved_account, "resolved_arn": d.resolved_arn, "status": report.status(d),
        "findings": [f.as_json(config_wide=False) for f in d.findings],
    } for d in report.deployments]
    doc = {"config": report.path, "live": report.live, "deployments": deployments,
           "findings": [f.as_json(config_wide=True) for f in report.findings], "summary": report.summary()}
    return report.redact(json.dumps(doc, indent=2, sort_keys=True)) + "\n"


#: (header, narrowest it may be squeezed to; 0 = never squeezed)
_COLUMNS = (("#", 0), ("model_name", 12), ("model", 16), ("tags", 8), ("role", 12),
            ("expected account", 0), ("resolved account", 0), ("status", 0), ("problems", 14))


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 3, 1)] + "..."


def _row_cells(report: Report, dep: Deployment) -> list[str]:
    role = dep.role_arn
    related = [f.rule for f in dep.findings] + [f.rule for f in report.findings if dep.index in f.deployments]
    return [str(dep.index), dep.model_name, dep.model.removeprefix(PREFIX), ",".join(dep.tags) or "-",
            # the account has its own column: show the role's name part
            (role.split(":", 5)[-1] if role_account(role) else role) if role else "(source identity)",
            dep.expected_account or "-", dep.resolved_account or "-", report.status(dep),
            ", ".join(dict.fromkeys(related))]


def _fit_rules(rules: str, width: int) -> str:
    """As many whole rule ids as fit, then ``+N``."""
    ids = rules.split(", ") if rules else []
    for shown in range(len(ids), 0, -1):
        text = ", ".join(ids[:shown]) + (f" +{len(ids) - shown}" if shown < len(ids) else "")
        if len(text) <= width:
            return text
    return _clip(rules, width) if rules else "-"


def _table(report: Report) -> list[str]:
    rows = [[name for name, _ in _COLUMNS]] + [_row_cells(report, d) for d in report.deployments]
    widths = [max(len(r[c]) for r in rows) for c in range(len(_COLUMNS))]
    budget = WIDTH - 2 * (len(widths) - 1)
    # the problems column squeezes first (they are spelled out below each row), then the widest other one
    widths[-1] = max(min(widths[-1], budget - sum(widths[:-1])), _COLUMNS[-1][1])
    while sum(widths) > budget:
        c = max((c for c, (_, least) in enumerate(_COLUMNS) if least and widths[c] > least),
                key=lambda c: widths[c], default=None)
        if c is None:
            break
        widths[c] -= 1
    for row in rows[1:]:
        row[-1] = _fit_rules(row[-1], widths[-1])
    return ["  ".join(_clip(cell, w).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows]


def _wrap(prefix: str, text: str, indent: int = 0) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=prefix, subsequent_indent=" " * (indent or len(prefix)),
                         break_on_hyphens=False, break_long_words=True)


def render_text(report: Report) -> str:
    """A table per deployment, the problems under it, then config-wide findings; plain text, 160 columns."""
    mode = "live: credentials resolved through STS" if report.live else "static: no AWS calls; add --live to " \
        "resolve each role"
    lines = [*_wrap("", f"litellm-xacct check {report.path} ({mode})", 4), "", f"{PREFIX} deployments:"]
    if report.deployments:
        table = _table(report)
        lines += [table[0]]
        for dep, row in zip(report.deployments, table[1:], strict=True):
            lines.append(row)
            if dep.resolved_arn:
                lines += _wrap("   signs as ", dep.resolved_arn, 12)
            elif report.live and dep.config is None:
                lines.append("   not resolved live: fix the errors below first")
            for finding in dep.findings:
                lines += _wrap(f"   {finding.severity:<7}  {finding.rule}: ", finding.message, 12)
    else:
        lines.append(f"no {PREFIX} deployments")
    if report.findings:
        lines += ["", "config-wide:"]
        for finding in report.findings:
            lines += _wrap(f"   {finding.severity:<7}  {finding.rule}: ", finding.message, 12)
    summary = report.summary()
    verdict = "ok: no problems found" if not any(summary.values()) else \
        f"{summary['errors']} error(s), {summary['warnings']} warning(s)"
    lines += ["", verdict]
    return report.redact("\n".join(lines)) + "\n"
