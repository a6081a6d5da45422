"""``litellm-xacct check``: find the config mistakes that break department isolation, before going live.
This module loads the config, runs the rules and the live identity resolution, and re-exports the
check's public names (the data types live in ``_findings``, the rules in ``_lint``, the renderers in
``_report``).

Use::

    report = check("config.yaml")                     # static lint, no AWS calls
    report = check("config.yaml", live=True)          # + resolve each deployment's identity via STS
    print(render_text(report))   # or render_json(report)
    exit_code = 1 if report.findings_all() else 0

Every rule is a small function returning :class:`Finding` objects (in ``_lint``); :func:`check_document`
runs them and :func:`render_text` / :func:`render_json` (in ``_report``) present the :class:`Report`. A
finding's ``message`` says what is wrong and ends with ``Fix: ...``. Nothing here prints a secret:
renderers pass their output through :meth:`Report.redact`, which hides every credential value the check
has seen.

:func:`load_config` raises :class:`UnusableConfig` (one-line reason) for input that cannot be checked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ._config import SECRET_FIELDS, DeploymentConfig
from ._errors import ConfigError, CredentialError
from ._findings import (
    ENV_REF,
    PREFIX,
    Deployment,
    Finding,
    Report,
    Severity,
    _mapping,
    _resolve_env,
    role_account,
    routing_tags,
)
from ._lint import (
    SHIM,
    SOURCE_IDENTITY,
    rule_client_side_credentials,
    rule_clientside_auth_params,
    rule_cross_account_routing,
    rule_has_xacct,
    rule_malformed_entries,
    rule_misplaced_tag_filtering,
    rule_provider_map,
    rule_runtime_validation,
    rule_tags_in_model_info,
    rule_tags_shape,
    rule_unknown_fields,
    rule_unset_env,
)
from ._report import WIDTH, render_json, render_text

__all__ = [
    "ENV_REF", "PREFIX", "SHIM", "SOURCE_IDENTITY", "WIDTH", "Deployment", "Finding", "Report", "Severity",
    "UnusableConfig", "check", "check_document", "load_config", "render_json", "render_text", "role_account",
    "routing_tags", "rule_client_side_credentials", "rule_clientside_auth_params", "rule_cross_account_routing",
    "rule_has_xacct", "rule_malformed_entries", "rule_misplaced_tag_filtering", "rule_provider_map",
    "rule_runtime_validation", "rule_tags_in_model_info", "rule_tags_shape", "rule_unknown_fields",
    "rule_unset_env", "run_live",
]

_ENV_SECRETS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN")


class UnusableConfig(Exception):
    """The config cannot be checked at all (missing, unreadable, not YAML, no model_list). ``str()`` is
    a one-line reason."""


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
