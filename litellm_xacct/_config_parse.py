"""Parsing a deployment's ``litellm_params`` into a :class:`~._config.DeploymentConfig`: :class:`_FieldReader`
reads one field (``os.environ/`` resolved, then type, length and pattern checked), :class:`_Parser` the
whole deployment (model route, region, source identity, role chain, AssumeRole options). Every failure is
a :class:`ConfigError` naming the deployment, the field, the bad value (never a secret) and the fix."""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from ._config import (
    _REGION,
    _ROLE_ARN,
    DEFAULT_SESSION_NAME,
    SECRET_FIELDS,
    XACCT_FIELDS,
    AssumeRoleOptions,
    DeploymentConfig,
    RoleHop,
    split_model,
)
from ._env import UnsetEnvError, resolve_env
from ._errors import ConfigError
from ._sources import DefaultChain, Profile, SourceIdentity, StaticKeys, WebIdentity

_POLICY_ARN = re.compile(r"^arn:aws(?:-[a-z]+)*:iam::(?:\d{12}|aws):policy/[\w+=,.@/-]{1,512}$")
_TAG_KEY = re.compile(r"^[\w\s.:/=+\-@]{1,128}$")
_TAG_VALUE = re.compile(r"^[\w\s.:/=+\-@]{0,256}$")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _without_userinfo(url: str) -> str:
    """``url`` with anything before an ``@`` in its authority replaced by ``***``."""
    return re.sub(r"^([^:/?#]*:?//)[^/?#]*@", r"\1***@", url)


class _FieldReader:
    """Reading one field: ``os.environ/NAME`` resolved (unset is an error), then type, length, pattern or URL
    shape checked; every failure is a ConfigError naming field and fix."""

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

    def str_list(self, name: str) -> list[str]:
        value = self.get(name)
        if value is None:
            return []
        if not isinstance(value, Sequence) or isinstance(value, str) or not all(isinstance(v, str) for v in value):
            raise self.fail(name, f"{value!r} must be a list of strings", f"write {name}: [a, b]")
        return list(value)


class _Parser(_FieldReader):
    """Validation of a whole deployment, one field at a time; every failure is a ConfigError naming field and fix."""

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
