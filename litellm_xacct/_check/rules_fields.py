"""``check`` rules about each deployment's fields: unknown ``aws_*`` / ``xacct_*`` keys, unset
``os.environ/`` variables, the shape of native identity fields, the provider's own validation, and
``model_list`` entries LiteLLM cannot route."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from .._config import _REGION as REGION
from .._config import _ROLE_ARN as ROLE_ARN
from .._config import AWS_FIELDS, XACCT_FIELDS, DeploymentConfig
from .._env import env_var
from .._errors import ConfigError
from .._names import PROVIDER
from .findings import ENV_REF, PREFIX, Deployment, Finding, Severity, _mapping, _resolve_env, bedrock_route
from .rules_base import Context, _did_you_mean, _finding

#: Stand-ins for a field already reported, so validation can go on to the next field without a follow-on
#: error (a removed role would make aws_session_name "set without a role"; a removed key, its pair "missing").
_PLACEHOLDERS: dict[str, Any] = {
    "aws_region_name": "us-east-1",
    "aws_role_name": "arn:aws:iam::000000000000:role/placeholder",
    "aws_access_key_id": "AKIAPLACEHOLDER00000",
    "aws_secret_access_key": "placeholder",
}


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
