"""What ``litellm-xacct check`` produces: :class:`Finding`, :class:`Deployment` and :class:`Report`, plus the
few config-reading helpers they share with the rules, the live resolution and the renderers. This is the
bottom layer of the check: it imports none of ``_check`` / ``_lint`` / ``_report``."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ._config import PROVIDER, DeploymentConfig

Severity = Literal["error", "warning"]

PREFIX = f"{PROVIDER}/"
ENV_REF = "os.environ/"

_ROLE_ACCOUNT = re.compile(r"^arn:aws(?:-[a-z]+)*:iam::(\d{12}):role/")
_ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")


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
