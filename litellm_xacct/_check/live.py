"""``check --live``: obtain each valid ``bedrock-xacct`` deployment's credentials exactly as a request does
(``DeploymentConfig.from_params`` then ``CredentialEngine.get``), ask STS GetCallerIdentity who they are,
and compare with the role ARN's account."""

from __future__ import annotations

import re
from typing import Any

from .._config import DeploymentConfig
from .._errors import ConfigError, CredentialError
from .findings import PREFIX, Deployment, Finding, Report


def run_live(report: Report, *, sts_endpoint: str | None = None, engine: Any = None) -> None:
    """Resolve every validated deployment's identity. ``sts_endpoint`` replaces every deployment's
    aws_sts_endpoint (for pointing the check at a local stand-in). Source credentials come from this
    process's AWS chain. Native ``bedrock/`` deployments are left to ``--probe``, which signs through
    LiteLLM's own native path."""
    from .._credentials import CredentialEngine

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
