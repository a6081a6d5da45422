"""Exceptions raised by litellm-xacct.

Every message names the deployment, the field, the offending value (never a secret) and the fix.

    XacctError                      base class; catch this to catch everything below
    ├── ConfigError                 a deployment's litellm_params are unusable (ValueError)
    │   └── CallerFieldError        a caller tried to supply an identity field (HTTP 400)
    └── CredentialError             credentials for a deployment could not be obtained
        └── RoleAssumptionError     STS refused AssumeRole / AssumeRoleWithWebIdentity

Inside LiteLLM the handler re-raises these as LiteLLM's own exception types (BadRequestError,
AuthenticationError, PermissionDeniedError) so the proxy answers with the right status code; the
original is kept as ``__cause__``.
"""

from __future__ import annotations


class XacctError(Exception):
    """Base class of every litellm-xacct error."""


class ConfigError(XacctError, ValueError):
    """A deployment's configuration is invalid.

    Attributes: ``deployment`` (model name), ``field`` (the litellm_params key) and ``fix``.
    """

    def __init__(self, deployment: str, field: str, problem: str, fix: str) -> None:
        self.deployment = deployment
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"deployment {deployment!r}: {field} {problem}. Fix: {fix}")


class CallerFieldError(ConfigError):
    """A request (not the operator's config) carried a field or header only the operator's config may set."""

    #: Raised through LiteLLM unmapped, 1.108.7 answers by this (400: no cooldown); the handler maps it itself.
    status_code = 400

    def __init__(self, deployment: str, field: str, where: str) -> None:
        super().__init__(
            deployment,
            field,
            f"was sent by the caller in {where}; AWS identity, region and endpoints come only from "
            "the operator's deployment config",
            f"remove {field!r} from the request",
        )


class CredentialError(XacctError):
    """Credentials for a deployment could not be obtained (no source identity, STS unreachable...)."""

    def __init__(self, deployment: str, message: str, *, code: str | None = None) -> None:
        self.deployment = deployment
        self.code = code
        super().__init__(f"deployment {deployment!r}: {message}")


class RoleAssumptionError(CredentialError):
    """STS refused to issue credentials for a configured role.

    Never falls back to the gateway's own identity: the request fails instead.
    Attributes: ``role_arn``, ``session_name``, ``code`` (the STS error code, e.g. ``AccessDenied``).
    """

    def __init__(
        self, deployment: str, role_arn: str, session_name: str, code: str, message: str
    ) -> None:
        self.role_arn = role_arn
        self.session_name = session_name
        super().__init__(
            deployment,
            f"cannot assume role {role_arn} (session {session_name!r}): STS {code}: {message}. "
            "No request was sent with any other identity. Fix: check the role's trust policy allows "
            "the gateway's identity (and the external id, if set), or correct aws_role_name",
            code=code,
        )
