"""Deployment config: a deployment's litellm_params parsed once into one frozen, validated object.

Which source wins: every field comes from the deployment (the operator's config) and nowhere else.
There is no process-environment fallback for any per-deployment field (role, external id, session
name, region, endpoints); ``os.environ/NAME`` values are resolved explicitly, and an unset variable is
an error. Only the *source* identity may come from botocore's default chain, by design, when the
deployment names no keys, profile or web identity token.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import urlsplit

from ._errors import ConfigError
from ._names import PROVIDER as PROVIDER  # re-exported: modules still importing it from here
from ._sources import SourceIdentity

#: Every AWS field LiteLLM knows. All of them are read from the deployment.
AWS_FIELDS: tuple[str, ...] = (
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_region_name",
    "aws_session_name",
    "aws_profile_name",
    "aws_role_name",
    "aws_web_identity_token",
    "aws_sts_endpoint",
    "aws_external_id",
    "aws_bedrock_runtime_endpoint",
    "aws_session_tags",
    "aws_bedrock_project_id",
)


#: Our own deployment-only fields (LiteLLM passes unknown keys through in optional_params).
XACCT_FIELDS: tuple[str, ...] = (
    "xacct_role_chain",
    "xacct_duration_seconds",
    "xacct_source_identity",
    "xacct_session_policy",
    "xacct_policy_arns",
    "xacct_transitive_tag_keys",
    "xacct_session_tags",
)


SECRET_FIELDS = frozenset(
    {"aws_secret_access_key", "aws_session_token", "aws_web_identity_token", "aws_access_key_id"}
)

DEFAULT_SESSION_NAME = "litellm-xacct"
CHAINED_MAX_SECONDS = 3600  # AWS caps role-chained sessions at one hour.

_ROLE_ARN = re.compile(r"^arn:aws(?:-[a-z]+)*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$")
_STS_HOST_REGION = re.compile(
    r"(?:^|\.)sts(?:-fips)?\.([a-z]{2}(?:-[a-z]+)+-\d{1,2})\.(?:vpce\.)?amazonaws\.com(?:\.cn)?$"
)


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class RoleHop:
    """One role to assume. ``options`` only apply to the deployment's final role."""

    role_arn: str
    session_name: str = DEFAULT_SESSION_NAME
    external_id: str | None = None

    @property
    def account(self) -> str:
        return self.role_arn.split(":")[4]


@dataclass(frozen=True)
class AssumeRoleOptions:
    """AssumeRole parameters beyond the role itself, applied to the final role."""

    duration_seconds: int | None = None
    source_identity: str | None = None
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeploymentConfig:
    """One deployment's identity and target, validated. Build with :meth:`from_params`.

    ``chain`` lists the roles assumed in order (``xacct_role_chain`` hops, then ``aws_role_name``);
    it is empty when the deployment signs with its source identity directly.
    """

    deployment: str
    model: str
    region: str
    source: SourceIdentity
    chain: tuple[RoleHop, ...] = ()
    options: AssumeRoleOptions = AssumeRoleOptions()
    sts_endpoint: str | None = None
    runtime_endpoint: str | None = None
    route: Route = "converse"
    identity_key: str = field(default="", repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "identity_key", self.hop_key(len(self.chain)))

    # -- identity -------------------------------------------------------------------------------
    def hop_key(self, depth: int) -> str:
        """Cache key of the credentials after ``depth`` hops (0 = the source identity itself).

        Covers the whole source -> target path, secrets included (hashed), so two deployments that
        differ in any identity field never share credentials.
        """
        src = self.source
        parts: list[object] = [type(src).__name__, *src.identity_parts()]
        if depth:
            parts += [self.sts_endpoint, self.sts_region, [h.__dict__ for h in self.chain[:depth]]]
            if depth == len(self.chain):
                parts.append(self.options.__dict__)
        return _digest(*parts)

    @property
    def role(self) -> RoleHop | None:
        """The final role, or None when the source identity signs directly."""
        return self.chain[-1] if self.chain else None

    @property
    def sts_url(self) -> str:
        """The STS endpoint used: the configured one, else the deployment region's regional one."""
        return self.sts_endpoint or f"https://sts.{self.region}.amazonaws.com"

    @property
    def sts_region(self) -> str:
        """The SigV4 region for STS: read from a regional or VPC endpoint's host name."""
        host = urlsplit(self.sts_url).hostname or ""
        match = _STS_HOST_REGION.search(host)
        if match:
            return match.group(1)
        return "us-east-1" if host in ("sts.amazonaws.com", "sts-fips.amazonaws.com") else self.region

    @property
    def runtime_url(self) -> str:
        return self.runtime_endpoint or f"https://bedrock-runtime.{self.region}.amazonaws.com"

    def audit(self) -> dict[str, str | None]:
        """Secret-free facts about who will sign (for hidden params, logs, ``check``)."""
        role = self.role
        return {
            "deployment": self.deployment,
            "role_arn": role.role_arn if role else None,
            "session_name": role.session_name if role else None,
            "expected_account": role.account if role else None,
            "source": self.source.describe(),
            "region": self.region,
        }

    # -- parsing --------------------------------------------------------------------------------
    @classmethod
    def from_params(cls, params: Mapping[str, Any], *, deployment: str, model: str) -> DeploymentConfig:
        """Parse and validate a deployment's ``aws_*`` / ``xacct_*`` fields.

        Raises :class:`ConfigError` naming the deployment, the field, the bad value (never a secret)
        and the fix.
        """
        from ._config_parse import _Parser  # imported on use: _config_parse imports this module

        return _Parser(deployment, params).build(model)

    @classmethod
    def cached(cls, params: Mapping[str, Any], *, deployment: str, model: str) -> DeploymentConfig:
        """:meth:`from_params`, memoised on the identity fields, so each request reuses one object."""
        relevant = tuple(
            sorted((k, json.dumps(v, sort_keys=True, default=str)) for k, v in params.items()
                   if (k.startswith(("aws_", "xacct_"))) and v is not None)
        )
        return _cached_config(relevant, deployment, model)


@lru_cache(maxsize=4096)
def _cached_config(relevant: tuple[tuple[str, str], ...], deployment: str, model: str) -> DeploymentConfig:
    return DeploymentConfig.from_params(
        {k: json.loads(v) for k, v in relevant}, deployment=deployment, model=model
    )


#: Route prefixes a model may carry: ``converse/`` (the default) and ``invoke/`` (InvokeModel).
ROUTES: tuple[str, ...] = ("converse", "invoke")
Route = Literal["converse", "invoke"]


SignerSource = Literal["static-keys", "profile", "web-identity", "default-chain"]


@dataclass(frozen=True)
class Signer:
    """Who signs a deployment, read from its raw ``litellm_params`` (nothing resolved, nothing validated):
    ``role`` (``aws_role_name``, the last hop, raw) signs when set; ``source`` is the identity that calls STS
    (or signs, without a role), ``value`` its raw field (profile name; key id: never print it)."""

    role: Any
    source: SignerSource
    value: Any = None


_SIGNER_SOURCES: tuple[tuple[str, SignerSource], ...] = (
    ("aws_access_key_id", "static-keys"), ("aws_profile_name", "profile"), ("aws_web_identity_token", "web-identity"))


def signer(params: Mapping[str, Any]) -> Signer:
    """The provider's precedence, in one place for the provider, ``check`` and ``migrate``: the role signs;
    the source is static keys, else a profile, else a web identity token, else botocore's default chain."""
    role = params.get("aws_role_name") or None
    for name, source in _SIGNER_SOURCES:
        if params.get(name):
            return Signer(role, source, params[name])
    return Signer(role, "default-chain")


def split_model(model: str, deployment: str) -> tuple[Route, str]:
    """``converse/<id>`` or ``<id>`` -> ("converse", id); ``invoke/<id>`` -> ("invoke", id)."""
    route, _, rest = model.partition("/")
    if route == "converse" and rest:
        return "converse", rest
    if route == "invoke" and rest:
        return "invoke", rest
    if not model:
        raise ConfigError(deployment, "model", "is empty", f"set model: {PROVIDER}/<bedrock model id>")
    return "converse", model


def refuse_sdk_endpoint(deployment: str, params: Mapping[str, Any]) -> None:
    """``api_base`` / ``base_url`` on a bedrock-xacct call is an error, not a silent fall back to the public
    endpoint (PrivateLink users would leave their VPC endpoint without noticing)."""
    for name in ("api_base", "base_url"):
        value = params.get(name)
        if value:
            raise ConfigError(deployment, name, f"{value!r} is not used by {PROVIDER}",
                              "set aws_bedrock_runtime_endpoint: https://<host> (e.g. your PrivateLink "
                              "endpoint) in the deployment's litellm_params, and remove " + name)
