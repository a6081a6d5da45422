"""Deployment config: a deployment's litellm_params parsed once into one frozen, validated object.

Which source wins: every field comes from the deployment (the operator's config) and nowhere else.
There is no process-environment fallback for any per-deployment field (role, external id, session
name, region, endpoints); ``os.environ/NAME`` values are resolved explicitly, and an unset variable is
an error. Only the *source* identity may come from botocore's default chain, by design, when the
deployment names no keys, profile or web identity token.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import urlsplit

from ._env import UnsetEnvError, resolve_env
from ._errors import ConfigError
from ._names import PROVIDER as PROVIDER  # re-exported: modules still importing it from here
from ._sources import DefaultChain, Profile, SourceIdentity, StaticKeys, WebIdentity

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
_POLICY_ARN = re.compile(r"^arn:aws(?:-[a-z]+)*:iam::(?:\d{12}|aws):policy/[\w+=,.@/-]{1,512}$")
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$")
_TAG_KEY = re.compile(r"^[\w\s.:/=+\-@]{1,128}$")
_TAG_VALUE = re.compile(r"^[\w\s.:/=+\-@]{0,256}$")
_STS_HOST_REGION = re.compile(
    r"(?:^|\.)sts(?:-fips)?\.([a-z]{2}(?:-[a-z]+)+-\d{1,2})\.(?:vpce\.)?amazonaws\.com(?:\.cn)?$"
)
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


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


def _without_userinfo(url: str) -> str:
    """``url`` with anything before an ``@`` in its authority replaced by ``***``."""
    return re.sub(r"^([^:/?#]*:?//)[^/?#]*@", r"\1***@", url)


class _Parser:
    """Validation, one field at a time; every failure is a ConfigError naming field and fix."""

    def __init__(self, deployment: str, params: Mapping[str, Any]) -> None:
        self.deployment = deployment
        self.params = params

    def fail(self, name: str, problem: str, fix: str) -> ConfigError:
        return ConfigError(self.deployment, name, problem, fix)

    def shown(self, name: str, value: object) -> str:
        return "(value hidden)" if name in SECRET_FIELDS else repr(value)

    def get(self, name: str) -> Any:
        try:
            value = resolve_env(self.params.get(name), unset="error")
        except UnsetEnvError as exc:
            raise self.fail(name, f"refers to environment variable {exc.var!r}, which is not set",
                            f"export {exc.var}=... in the gateway's environment, or set {name} directly") from None
        if value == "":
            return None
        return value

    def text(self, name: str, *, min_len: int = 1, max_len: int = 2048, pattern: str | None = None,
             hint: str = "") -> str | None:
        value = self.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(name, f"must be a string, got {type(value).__name__}", hint or f"quote {name}")
        if not min_len <= len(value) <= max_len:
            raise self.fail(name, f"{self.shown(name, value)} must be {min_len}-{max_len} characters",
                            hint or f"shorten or lengthen {name}")
        if pattern and not re.fullmatch(pattern, value):
            raise self.fail(name, f"{self.shown(name, value)} must match {pattern}", hint or f"fix {name}")
        return value

    def endpoint(self, name: str) -> str | None:
        value = self.text(name)
        if value is None:
            return None
        shown = repr(_without_userinfo(value))  # a URL's user:password never reaches a message
        try:
            parts = urlsplit(value)
            hostname = parts.hostname
        except ValueError:  # e.g. an unbalanced "[" or a bad port
            raise self.fail(name, f"{shown} is not a valid URL", f"set {name}: https://<host>") from None
        if parts.scheme not in ("http", "https") or not hostname:
            raise self.fail(name, f"{shown} is not an http(s) URL", f"set {name}: https://<host>")
        if parts.scheme == "http" and hostname not in _LOOPBACK:
            raise self.fail(name, f"{shown} is plain http to a non-loopback host",
                            "use https (plain http is only accepted for 127.0.0.1/localhost test stand-ins)")
        if "@" in parts.netloc or parts.query or parts.fragment or parts.path not in ("", "/"):
            raise self.fail(name, f"{shown} has a path, query or credentials",
                            f"set {name} to scheme://host[:port] only")
        return value.rstrip("/")

    def build(self, model: str) -> DeploymentConfig:
        route, model_id = split_model(model, self.deployment)
        unknown = [k for k in self.params if k.startswith("xacct_") and k not in XACCT_FIELDS]
        if unknown:
            guess = difflib.get_close_matches(unknown[0], XACCT_FIELDS, n=1)
            raise self.fail(unknown[0], "is not a litellm-xacct field",
                            f"did you mean {guess[0]!r}?" if guess else f"use one of {', '.join(XACCT_FIELDS)}")
        if self.get("aws_bedrock_project_id") is not None:
            raise self.fail("aws_bedrock_project_id", "is not supported by bedrock-xacct",
                            "remove it (bedrock-xacct signs with SigV4 only)")
        region = self.text("aws_region_name", pattern=_REGION.pattern,
                           hint="set aws_region_name to a region such as us-east-1")
        if region is None:
            raise self.fail("aws_region_name", "is missing",
                            "set aws_region_name: <region> (e.g. us-east-1) in this deployment's litellm_params")
        chain = self.chain()
        options = self.options(chained=len(chain) > 1)
        source = self.source(has_role=bool(chain))
        if isinstance(source, WebIdentity):
            self.web_identity_first_hop(chain, options)
        return DeploymentConfig(
            deployment=self.deployment, model=model_id, route=route, region=region,
            source=source, chain=chain, options=options,
            sts_endpoint=self.endpoint("aws_sts_endpoint"),
            runtime_endpoint=self.endpoint("aws_bedrock_runtime_endpoint"),
        )

    def source(self, *, has_role: bool) -> SourceIdentity:
        akid = self.text("aws_access_key_id", min_len=16, max_len=128, pattern=r"\w+")
        secret = self.get("aws_secret_access_key")
        token = self.get("aws_session_token")
        if (akid is None) != (secret is None):
            missing = "aws_secret_access_key" if secret is None else "aws_access_key_id"
            raise self.fail(missing, "is missing while its pair is set", "set both keys, or neither")
        if token is not None and akid is None:
            raise self.fail("aws_session_token", "is set without aws_access_key_id/aws_secret_access_key",
                            "set the key pair too, or remove aws_session_token")
        if akid is not None:
            return StaticKeys(akid, str(secret), None if token is None else str(token))
        profile = self.text("aws_profile_name", max_len=128)
        if profile is not None:
            return Profile(profile)
        web = self.get("aws_web_identity_token")
        if web is not None:
            if not has_role:
                raise self.fail("aws_web_identity_token", "is set but no role is configured",
                                "set aws_role_name: the role AssumeRoleWithWebIdentity assumes")
            web = str(web)
            if web.startswith("/"):
                if not os.path.isfile(web):
                    raise self.fail("aws_web_identity_token", f"names token file {web!r}, which does not exist",
                                    "mount the token file, or give the token itself")
                return WebIdentity(token_file=web)
            return WebIdentity(token=web)
        return DefaultChain()

    def web_identity_first_hop(self, chain: tuple[RoleHop, ...], options: AssumeRoleOptions) -> None:
        """AssumeRoleWithWebIdentity takes no ExternalId, SourceIdentity or session tags: a first hop that
        sets them would have them dropped silently, so it is an error."""
        move = ("assume the web-identity role first (xacct_role_chain: [<that role>]) and put this role "
                "in aws_role_name, the second hop, which takes it")
        if chain[0].external_id is not None:
            name = "aws_external_id" if len(chain) == 1 else "xacct_role_chain[0].external_id"
            raise self.fail(name, "is set on the first hop, which aws_web_identity_token assumes with "
                            "AssumeRoleWithWebIdentity (no ExternalId parameter)", move)
        if len(chain) > 1:
            return  # the options apply to the final role, a plain AssumeRole
        for name, value in (("xacct_source_identity", options.source_identity),
                            ("xacct_session_tags / aws_session_tags", options.tags),
                            ("xacct_transitive_tag_keys", options.transitive_tag_keys)):
            if value:
                raise self.fail(name, "is set on the only hop, which aws_web_identity_token assumes with "
                                "AssumeRoleWithWebIdentity (it takes no SourceIdentity or session tags)", move)

    def hop(self, name: str, value: Any, session_name: str, external_id: str | None) -> RoleHop:
        if not isinstance(value, str) or not _ROLE_ARN.fullmatch(value):
            raise self.fail(name, f"{value!r} is not an IAM role ARN",
                            "use the full ARN, e.g. arn:aws:iam::111111111111:role/NAME")
        return RoleHop(value, session_name, external_id)

    def chain(self) -> tuple[RoleHop, ...]:
        session = self.text("aws_session_name", min_len=2, max_len=64, pattern=r"[\w+=,.@-]+",
                            hint="aws_session_name takes 2-64 of: letters, digits, _ + = , . @ -")
        external = self.text("aws_external_id", min_len=2, max_len=1224, pattern=r"[\w+=,.@:/-]+",
                             hint="aws_external_id takes 2-1224 of: letters, digits, _ + = , . @ : / -")
        hops: list[RoleHop] = []
        raw_chain = self.get("xacct_role_chain")
        if raw_chain is not None:
            if not isinstance(raw_chain, (list, tuple)) or not raw_chain:
                raise self.fail("xacct_role_chain", "must be a non-empty list of role ARNs or mappings",
                                "write xacct_role_chain: [arn:aws:iam::111111111111:role/hop1, ...]")
            for i, item in enumerate(raw_chain):
                hops.append(self.chain_hop(i, item))
        role = self.get("aws_role_name")
        if role is not None:
            hops.append(self.hop("aws_role_name", role, session or DEFAULT_SESSION_NAME, external))
        elif hops:
            raise self.fail("aws_role_name", "is missing while xacct_role_chain is set",
                            "set aws_role_name: the role the chain ends in")
        elif session is not None or external is not None:
            field_name = "aws_session_name" if session is not None else "aws_external_id"
            raise self.fail(field_name, "is set but aws_role_name is not",
                            "set aws_role_name, or remove the field")
        return tuple(hops)

    def chain_hop(self, i: int, item: Any) -> RoleHop:
        name = f"xacct_role_chain[{i}]"
        if isinstance(item, str):
            return self.hop(name, item, DEFAULT_SESSION_NAME, None)
        if not isinstance(item, Mapping):
            raise self.fail(name, f"{item!r} is neither a role ARN nor a mapping",
                            "give a role ARN or {role_arn, external_id, session_name}")
        extra = set(item) - {"role_arn", "external_id", "session_name"}
        if extra:
            raise self.fail(name, f"has unknown keys {sorted(extra)}", "use role_arn, external_id, session_name")
        sub = _Parser(self.deployment, {"aws_session_name": item.get("session_name"),
                                        "aws_external_id": item.get("external_id")})
        session = sub.text("aws_session_name", min_len=2, max_len=64, pattern=r"[\w+=,.@-]+",
                           hint=f"{name}.session_name takes 2-64 of: letters, digits, _ + = , . @ -")
        external = sub.text("aws_external_id", min_len=2, max_len=1224, pattern=r"[\w+=,.@:/-]+",
                            hint=f"{name}.external_id takes 2-1224 of: letters, digits, _ + = , . @ : / -")
        return self.hop(name, item.get("role_arn"), session or DEFAULT_SESSION_NAME, external)

    def options(self, *, chained: bool) -> AssumeRoleOptions:
        duration = self.get("xacct_duration_seconds")
        if duration is not None:
            try:
                duration = int(duration)
            except (TypeError, ValueError, OverflowError):  # OverflowError: float("inf")
                raise self.fail("xacct_duration_seconds", f"{duration!r} is not a whole number of seconds",
                                "use 900-43200") from None
            if not 900 <= duration <= 43200:
                raise self.fail("xacct_duration_seconds", f"{duration} is out of range",
                                "use 900-43200 (and at most the role's MaxSessionDuration)")
        policy = self.get("xacct_session_policy")
        if policy is not None:
            if isinstance(policy, str):
                try:
                    policy = json.loads(policy)
                except ValueError:
                    raise self.fail("xacct_session_policy", "is not valid JSON",
                                    "give a JSON policy document or a mapping") from None
            if not isinstance(policy, Mapping):
                raise self.fail("xacct_session_policy", "must be a policy document (JSON object)",
                                "give {Version: ..., Statement: [...]}")
            policy = json.dumps(policy, separators=(",", ":"), sort_keys=True)
        tags = self.tags()
        transitive = self.str_list("xacct_transitive_tag_keys")
        missing = [k for k in transitive if k not in dict(tags)]
        if missing:
            raise self.fail("xacct_transitive_tag_keys", f"names {missing}, which are not session tags",
                            "list only keys set in xacct_session_tags / aws_session_tags")
        arns = self.str_list("xacct_policy_arns")
        bad = [a for a in arns if not _POLICY_ARN.fullmatch(a)]
        if bad:
            raise self.fail("xacct_policy_arns", f"{bad[0]!r} is not a managed policy ARN",
                            "use arn:aws:iam::<account|aws>:policy/NAME")
        return AssumeRoleOptions(
            duration_seconds=duration,
            source_identity=self.text("xacct_source_identity", min_len=2, max_len=64, pattern=r"[\w+=,.@-]+",
                                      hint="xacct_source_identity takes 2-64 of: letters, digits, _ + = , . @ -"),
            policy=policy, policy_arns=tuple(arns), tags=tags, transitive_tag_keys=tuple(transitive),
        )

    def str_list(self, name: str) -> list[str]:
        value = self.get(name)
        if value is None:
            return []
        if not isinstance(value, Sequence) or isinstance(value, str) or not all(isinstance(v, str) for v in value):
            raise self.fail(name, f"{value!r} must be a list of strings", f"write {name}: [a, b]")
        return list(value)

    def tags(self) -> tuple[tuple[str, str], ...]:
        merged: dict[str, str] = {}
        lite = self.get("aws_session_tags")
        if lite is not None:
            if isinstance(lite, Mapping):
                items: list[tuple[Any, Any]] = list(lite.items())
            elif isinstance(lite, Sequence) and all(isinstance(t, Mapping) and set(t) == {"Key", "Value"}
                                                    for t in lite):
                items = [(t["Key"], t["Value"]) for t in lite]
            else:
                raise self.fail("aws_session_tags", f"{lite!r} is not a list of {{Key, Value}}",
                                "write aws_session_tags: [{Key: team, Value: dept-a}]")
            merged.update((str(k), str(v)) for k, v in items)
        ours = self.get("xacct_session_tags")
        if ours is not None:
            if not isinstance(ours, Mapping):
                raise self.fail("xacct_session_tags", f"{ours!r} must be a mapping of tag key to value",
                                "write xacct_session_tags: {team: dept-a}")
            merged.update((str(k), str(v)) for k, v in ours.items())
        for k, v in merged.items():
            if not _TAG_KEY.fullmatch(k) or not _TAG_VALUE.fullmatch(v):
                raise self.fail("xacct_session_tags", f"tag {k!r}={v!r} is not a valid STS session tag",
                                "keys 1-128, values 0-256 of: letters, digits, space, _ . : / = + - @")
        if len(merged) > 50:
            raise self.fail("xacct_session_tags", f"has {len(merged)} tags", "use at most 50")
        return tuple(sorted(merged.items()))


def refuse_sdk_endpoint(deployment: str, params: Mapping[str, Any]) -> None:
    """``api_base`` / ``base_url`` on a bedrock-xacct call is an error, not a silent fall back to the public
    endpoint (PrivateLink users would leave their VPC endpoint without noticing)."""
    for name in ("api_base", "base_url"):
        value = params.get(name)
        if value:
            raise ConfigError(deployment, name, f"{value!r} is not used by {PROVIDER}",
                              "set aws_bedrock_runtime_endpoint: https://<host> (e.g. your PrivateLink "
                              "endpoint) in the deployment's litellm_params, and remove " + name)
