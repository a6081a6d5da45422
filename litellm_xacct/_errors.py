"""Exceptions raised by litellm-xacct.

Every message names the deployment, the field, the offending value (never a secret) and the fix.

    XacctError                      base class; catch this to catch everything below
    ├── ConfigError                 a deployment's litellm_params are unusable (ValueError)
    │   └── CallerFieldError        a caller tried to supply an identity field (HTTP 400)
    └── CredentialError             credentials for a deployment could not be obtained
        ├── RoleAssumptionError     STS refused AssumeRole / AssumeRoleWithWebIdentity (not retried)
        └── StsUnavailableError     STS throttled, failed (5xx) or could not be reached (transient)

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

    #: Raised through LiteLLM unmapped, some releases answer by this (400: no cooldown; ``_compat.facts``:
    #: ``caller-field-status``); the handler maps it itself.
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


#: STS error codes that say "try again later", not "you may not" (AWS marks them retryable).
THROTTLE_CODES = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
                            "PriorRequestNotComplete"})
UNAVAILABLE_CODES = frozenset({"InternalFailure", "InternalError", "ServiceUnavailable", "IDPCommunicationError",
                               "RequestTimeout", "RequestTimeoutException"})

#: The fix for each kind of STS refusal, keyed by its structured error code.
_REFUSAL_FIXES: dict[str, str] = {
    "AccessDenied": "check the role's trust policy allows the gateway's identity (and the external id, if "
                    "set: aws_external_id), or correct aws_role_name",
    "InvalidClientTokenId": "the gateway's source credentials are unknown to AWS: check aws_access_key_id / "
                            "aws_profile_name or the gateway's own AWS identity",
    "SignatureDoesNotMatch": "the gateway's source secret key does not match its access key id: check "
                             "aws_secret_access_key (or the profile / environment providing it)",
    "IncompleteSignature": "the gateway's source credentials are incomplete: set both the access key id "
                           "and the secret key",
    "ExpiredToken": "the gateway's source session token has expired: renew the source credentials "
                    "(aws_session_token / profile / instance role)",
    "UnrecognizedClientException": "the gateway's source credentials are unknown to AWS: check the "
                                   "source identity",
    "RegionDisabledException": "STS is not activated in this region for the account: activate it in IAM "
                               "account settings, or set aws_sts_endpoint to an activated region",
    "MalformedPolicyDocument": "the session policy is not valid IAM policy JSON: correct "
                               "xacct_session_policy",
    "PackedPolicyTooLarge": "the session policy and tags are too large once packed: shorten "
                            "xacct_session_policy / xacct_policy_arns / session tags",
    "ValidationError": "a parameter failed STS validation: correct the aws_*/xacct_* field the message names",
    "InvalidIdentityToken": "the web identity token was rejected: check aws_web_identity_token (its "
                            "issuer must be an OIDC provider the role trusts)",
    "ExpiredTokenException": "the web identity token has expired: make sure its file is being rotated "
                             "(aws_web_identity_token)",
    "IDPRejectedClaim": "the identity provider's token claims do not satisfy the role's trust policy "
                        "conditions (aud / sub): fix the trust policy or the token's audience",
}
_DEFAULT_REFUSAL_FIX = ("check the role's trust policy and the deployment's aws_* fields; the STS code "
                        "above names the cause")


def sts_transient(code: str, status: int) -> bool:
    """Whether an STS error is transient (throttled or STS-side failure), judged on its code and status."""
    return code in THROTTLE_CODES or code in UNAVAILABLE_CODES or status >= 500


class RoleAssumptionError(CredentialError):
    """STS refused to issue credentials for a configured role (not a transient failure; not retried).

    Never falls back to the gateway's own identity: the request fails instead. The fix in the message
    depends on the STS error code (trust policy, source credentials, region, session policy...).
    Attributes: ``role_arn``, ``session_name``, ``code`` (the STS error code, e.g. ``AccessDenied``).
    """

    def __init__(
        self, deployment: str, role_arn: str, session_name: str, code: str, message: str
    ) -> None:
        self.role_arn = role_arn
        self.session_name = session_name
        fix = _REFUSAL_FIXES.get(code, _DEFAULT_REFUSAL_FIX)
        super().__init__(
            deployment,
            f"cannot assume role {role_arn} (session {session_name!r}): STS {code}: {message}. "
            f"No request was sent with any other identity. Fix: {fix}",
            code=code,
        )


class StsUnavailableError(CredentialError):
    """STS throttled the call, failed on its side (5xx) or could not be reached (reset, timeout).

    Transient: not a trust-policy problem. A cold fetch has already retried it (``attempts`` calls over
    ``waited`` seconds); the engine keeps retrying in the background with backoff.
    Attributes: ``role_arn``, ``sts_url``, ``code`` (STS error code or the connection error's type).
    """

    def __init__(self, deployment: str, role_arn: str, sts_url: str, code: str, detail: str) -> None:
        self.role_arn = role_arn
        self.sts_url = sts_url
        self.detail = detail
        self.attempts = 1
        self.waited = 0.0
        super().__init__(deployment, "", code=code)

    def __str__(self) -> str:  # attempts/waited are filled in after the retries, so render late
        if self.code in THROTTLE_CODES:
            cause = "STS is throttling this gateway's AssumeRole calls"
            fix = ("transient: retry shortly. If it persists, lower the number of distinct roles refreshed "
                   "at once, lengthen xacct_duration_seconds, or ask AWS for a higher STS quota")
        else:
            cause = f"STS at {self.sts_url} is unavailable"
            fix = ("transient, not a trust-policy problem: retry shortly. If it persists, check the network "
                   "path to STS and AWS service health, or set aws_sts_endpoint to another regional endpoint")
        return (f"deployment {self.deployment!r}: cannot assume role {self.role_arn}: {cause} ({self.detail}; "
                f"{self.attempts} attempt(s) over {self.waited:.1f}s). No request was sent with any other "
                f"identity. Fix: {fix}")
