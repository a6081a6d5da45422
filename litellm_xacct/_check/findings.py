"""What ``litellm-xacct check`` produces: :class:`Finding`, :class:`Deployment`, :class:`Probe` and
:class:`Report`, plus the few config-reading helpers the rules, the live steps and the renderers share.
This is the bottom layer of the check: it imports no other module of the check."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .._config import DeploymentConfig, signer
from .._env import ENV_REF as ENV_REF
from .._env import resolve_env
from .._names import PROVIDER

Severity = Literal["error", "warning", "info"]
Route = Literal["bedrock-xacct", "bedrock"]

PREFIX = f"{PROVIDER}/"
NATIVE_PREFIX = "bedrock/"
GATEWAY_IDENTITY = "the gateway's own identity"  # who signs a deployment that names no role, keys or profile

#: A Bedrock model id written without a provider prefix, which LiteLLM resolves to native Bedrock
_BARE_BEDROCK_ID = re.compile(r"^(?:(?:us|eu|apac|global|jp|au|ca|us-gov)\.)?(?:anthropic|amazon|meta|mistral|cohere|"
                              r"ai21|deepseek|writer|qwen|openai|twelvelabs|stability|luma|moonshot|minimax)\.[\w.:-]+$")
_ROLE_ACCOUNT = re.compile(r"^arn:aws(?:-[a-z]+)*:iam::(\d{12}):role/")
_ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")


@dataclass(frozen=True)
class Finding:
    """One problem (``error``/``warning``) or note (``info``, never fails a CI gate). ``index`` is the
    model_list position of the deployment it is about (None when it is about the whole config or a
    model_name group, whose members are listed in ``deployments``)."""

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


@dataclass(frozen=True)
class Probe:
    """The outcome of ``--probe`` for one deployment: ``ok`` (the account invoked the model), ``denied``
    (Bedrock refused: ``code`` and ``message`` are Bedrock's own), ``failed`` (no answer from Bedrock:
    credentials, network) or ``skipped`` (``message`` says why)."""

    status: Literal["ok", "denied", "failed", "skipped"]
    code: str | None = None
    message: str = ""


@dataclass
class Deployment:
    """One model_list entry that reaches Amazon Bedrock, as checked. ``route`` is the provider that
    serves it; ``config`` is set when a ``bedrock-xacct`` deployment validates; ``source`` names the
    ``include:`` file it came from (None: the config itself)."""

    index: int
    model_name: str
    params: Mapping[str, Any]
    model_info: Mapping[str, Any]
    route: Route = PROVIDER
    source: str | None = None
    config: DeploymentConfig | None = None
    findings: list[Finding] = field(default_factory=list)
    resolved_account: str | None = None
    resolved_arn: str | None = None
    probe: Probe | None = None

    @property
    def model(self) -> str:
        return str(self.params.get("model", ""))

    @property
    def model_id(self) -> str:
        """The Bedrock model id without provider and route prefixes (``*`` for a wildcard)."""
        rest = self.model.split("/", 1)[1] if "/" in self.model else self.model
        for route in ("converse/", "invoke/"):
            rest = rest.removeprefix(route)
        return rest

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

    @property
    def identity(self) -> str:
        return signing_identity(self.params)


@dataclass
class Report:
    """The result of a check: per-deployment rows and config-wide findings."""

    path: str
    live: bool
    deployments: list[Deployment]
    findings: list[Finding]
    secrets: set[str] = field(default_factory=set, repr=False)
    probed: bool = False
    callers: str | None = None  # the caller mode line (docs/callers.md); None: no department to bind

    def findings_all(self) -> list[Finding]:
        return [f for d in self.deployments for f in d.findings] + self.findings

    def failing(self) -> list[Finding]:
        """The findings that fail a CI gate (errors and warnings; ``info`` never does)."""
        return [f for f in self.findings_all() if f.severity != "info"]

    def exit_code(self) -> int:
        return 1 if self.failing() else 0

    def status(self, dep: Deployment) -> str:
        """``error`` / ``warning`` / ``ok``: the worst of the deployment's own findings and of the
        config-wide findings that name it (``info`` counts as ok)."""
        related = dep.findings + [f for f in self.findings if dep.index in f.deployments]
        severities = {f.severity for f in related}
        return "error" if "error" in severities else "warning" if "warning" in severities else "ok"

    def summary(self) -> dict[str, int]:
        every = self.findings_all()
        return {"errors": sum(f.severity == "error" for f in every),
                "warnings": sum(f.severity == "warning" for f in every),
                "info": sum(f.severity == "info" for f in every)}

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
    return resolve_env(value, unset="keep")


def role_account(role_arn: Any) -> str | None:
    """The 12-digit account of an IAM role ARN, or None."""
    match = _ROLE_ACCOUNT.match(role_arn) if isinstance(role_arn, str) else None
    return match.group(1) if match else None


def routing_tags(params: Mapping[str, Any]) -> list[str]:
    """``litellm_params.tags`` when it is a list (anything else does not route: see rule_tags_shape)."""
    tags = params.get("tags")
    return [str(t) for t in tags] if isinstance(tags, list) else []


def bedrock_route(params: Mapping[str, Any]) -> Route | None:
    """Which provider serves a deployment that reaches Bedrock (``bedrock-xacct`` or native ``bedrock``),
    None for any other provider. ``custom_llm_provider: bedrock`` makes LiteLLM serve any model natively, and
    LiteLLM maps a bare Bedrock model id (``anthropic.claude-...``, ``us.amazon.nova-...``) to Bedrock."""
    model = params.get("model")
    if not isinstance(model, str):
        return None
    if model.startswith(PREFIX):
        return PROVIDER
    if model.startswith(NATIVE_PREFIX) or params.get("custom_llm_provider") == "bedrock":
        return "bedrock"
    if "custom_llm_provider" not in params and _BARE_BEDROCK_ID.match(model):
        return "bedrock"  # LiteLLM's provider lookup maps bare Bedrock ids to bedrock
    return None


def signing_identity(params: Mapping[str, Any]) -> str:
    """Who signs a Bedrock deployment's requests, as far as the config says: the role's account, else the
    keys / profile / web identity it names, else the gateway's own identity."""
    found = signer(params)
    role = _resolve_env(found.role)
    if role:
        return role_account(role) or f"role {role}"
    keys = found.value
    if found.source == "static-keys":
        # never print a literal key id: an env reference names the variable, a literal stays hidden
        if isinstance(keys, str) and keys.startswith(ENV_REF):
            return f"keys {keys}"
        return f"static keys #{hashlib.sha256(str(keys).encode()).hexdigest()[:6]}"
    if found.source == "profile":
        return f"profile {found.value}"
    if params.get("api_key") and bedrock_route(params) == "bedrock":
        return "a Bedrock API key"
    return GATEWAY_IDENTITY
