"""``check --live``: obtain each valid ``bedrock-xacct`` deployment's credentials exactly as a request does
(``DeploymentConfig.from_params`` then ``CredentialEngine.get``), ask STS GetCallerIdentity who they are,
and compare with the role ARN's account."""

from __future__ import annotations

import os
import re
from typing import Any

from .._config import DeploymentConfig
from .._errors import ConfigError, CredentialError
from .findings import PREFIX, Deployment, Finding, Report, _resolve_env


def run_live(report: Report, *, sts_endpoint: str | None = None, engine: Any = None) -> None:
    """Resolve every validated deployment's identity. ``sts_endpoint`` replaces every deployment's
    aws_sts_endpoint (for pointing the check at a local stand-in). Source credentials come from this
    process's AWS chain. Native ``bedrock/`` deployments resolve through LiteLLM's own credential code
    (:func:`_live_native`), the path their requests take."""
    from .._credentials import CredentialEngine

    report.live = True
    engine = engine or CredentialEngine(background=False)
    try:
        for dep in report.deployments:
            if dep.config is not None:
                dep.findings += _live_one(dep, engine, sts_endpoint, report.secrets)
            elif dep.route == "bedrock" and dep.model_id != "*":
                dep.findings += _live_native(dep, sts_endpoint, report.secrets)
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


def _live_native(dep: Deployment, sts_endpoint: str | None, secrets: set[str]) -> list[Finding]:
    """A native ``bedrock/`` deployment's identity, obtained by LiteLLM's own ``BaseAWSLLM.get_credentials``
    (the code its requests run), then GetCallerIdentity. Parameters the installed release does not take
    are left out (:func:`._compat.native_credential_params`, from the method's signature)."""
    import boto3

    from .._compat import native_credential_params, native_credentials

    accepted = native_credential_params()
    params = {k: _resolve_env(v) for k, v in dep.params.items() if k in accepted and v is not None}
    if sts_endpoint:
        params["aws_sts_endpoint"] = sts_endpoint
    region = str(params.get("aws_region_name") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
                 or "us-east-1")
    try:
        creds = native_credentials(**params)
        frozen = creds.get_frozen_credentials() if hasattr(creds, "get_frozen_credentials") else creds
        secrets.update(s for s in (frozen.access_key, frozen.secret_key, frozen.token) if s)
        sts = boto3.client("sts", region_name=region, endpoint_url=params.get("aws_sts_endpoint"),
                           aws_access_key_id=frozen.access_key, aws_secret_access_key=frozen.secret_key,
                           aws_session_token=frozen.token)
        identity = sts.get_caller_identity()
    except Exception as exc:  # LiteLLM raises its own types or botocore's; the message is what the user needs
        text = " ".join(str(getattr(exc, "message", "") or exc).split())[:300]
        return [Finding("live-credentials", "error", "aws_role_name" if dep.role_arn else "source identity",
                        f"LiteLLM's native Bedrock credential path failed for this deployment: {type(exc).__name__}: "
                        f"{text}", dep.index, dep.model_name)]
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
