"""Every failure as the LiteLLM exception a caller of native ``bedrock/`` would get, decided here only.

* our own errors (:class:`XacctError`: config, caller fields, credentials) -> :func:`lite_error`, applied by
  the one :func:`mapped` block the pipeline and the transport both run their steps in;
* Bedrock error answers -> :func:`bedrock_error`, through LiteLLM's exception mapping as provider ``bedrock``
  (ContextWindowExceeded, 429, 503...), their structured code read by :func:`error_code`;
* no answer -> :func:`network_error`; a stream that stopped early -> :func:`cut_error`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import httpx

from ._compat import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    BedrockError,
    InternalServerError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
    map_bedrock_error,
    permission_denied,
)
from ._config import PROVIDER, DeploymentConfig
from ._errors import THROTTLE_CODES, CallerFieldError, ConfigError, CredentialError, RoleAssumptionError, XacctError

_AUTH_CODES = frozenset({"InvalidClientTokenId", "ExpiredToken", "SignatureDoesNotMatch", "NoCredentials",
                         "IncompleteSignature", "MissingAuthenticationToken", "TokenFileUnreadable"})


@contextmanager
def mapped(label: str) -> Iterator[None]:
    """Run a step; an :class:`XacctError` raised in it leaves as :func:`lite_error` (original as cause)."""
    try:
        yield
    except XacctError as exc:
        raise lite_error(label, exc) from exc


def lite_error(label: str, exc: XacctError) -> Exception:
    """Our errors as LiteLLM's exception types, so the proxy answers with the right status."""
    model, provider, message = label, PROVIDER, str(exc)
    if isinstance(exc, CallerFieldError):
        return BadRequestError(message=message, model=model, llm_provider=provider)
    if isinstance(exc, ConfigError):
        return InternalServerError(message=message, llm_provider=provider, model=model)
    assert isinstance(exc, CredentialError)
    code = exc.code or ""
    if code in THROTTLE_CODES:  # the one list of STS throttle codes (_errors): all of them are a 429
        return RateLimitError(message=message, llm_provider=provider, model=model)
    if isinstance(exc, RoleAssumptionError) and code not in _AUTH_CODES:
        return permission_denied(message, provider, model)
    if code in _AUTH_CODES or isinstance(exc, RoleAssumptionError):
        return AuthenticationError(message=message, llm_provider=provider, model=model)
    return ServiceUnavailableError(message=message, llm_provider=provider, model=model)


def bedrock_error(config: DeploymentConfig, status: int, text: str, headers: Mapping[str, str]) -> Exception:
    """Map a Bedrock error answer the way native ``bedrock/`` does (ContextWindowExceeded, 429, 503...)."""
    return map_bedrock_error(config.model, status, text, headers)


def decoder_error(config: DeploymentConfig, exc: Exception) -> Exception:
    """An error LiteLLM's Bedrock stream decoder raised mid-stream (an exception event: ``BedrockError`` with
    Bedrock's status) as native maps it (400 BadRequestError, 429 RateLimitError...). Done here because a
    custom provider's stream wrapper maps it under the custom provider's name (on some releases
    APIConnectionError 500)."""
    if not isinstance(exc, BedrockError):
        return exc
    headers = exc.headers if isinstance(exc.headers, Mapping) else {}
    return bedrock_error(config, int(exc.status_code), str(exc.message), headers)


def error_code(text: str, headers: Mapping[str, str]) -> str | None:
    """Bedrock's structured error code (``x-amzn-ErrorType`` header, else the body's ``__type``)."""
    header = headers.get("x-amzn-errortype") or headers.get("x-amzn-ErrorType")
    if header:
        return header.split(":", 1)[0]
    try:
        kind = json.loads(text).get("__type")
    except (ValueError, AttributeError):
        return None
    return str(kind).rsplit("#", 1)[-1] if kind else None


def network_error(config: DeploymentConfig, exc: httpx.TransportError) -> Exception:
    """No answer from Bedrock, as native ``bedrock/`` reports it: a timeout is ``litellm.Timeout`` (408),
    anything else (refused, reset) ``APIConnectionError``; both are errors Router retries."""
    where = f"Bedrock at {config.runtime_url}"
    if isinstance(exc, httpx.TimeoutException):
        return Timeout(
            message=f"bedrock-xacct: {where} did not answer deployment {config.deployment!r} in time "
                    f"({type(exc).__name__}). Fix: raise the deployment's timeout / stream_timeout if the "
                    "model needs longer, or retry", model=config.model, llm_provider="bedrock")
    return APIConnectionError(
        message=f"bedrock-xacct: cannot reach {where} for deployment {config.deployment!r} "
                f"({type(exc).__name__}: {exc}). Fix: check the network path to the Bedrock runtime endpoint",
        llm_provider="bedrock", model=config.model)


def cut_error(config: DeploymentConfig, why: str, *, undecoded: bool = False) -> Exception:
    """What a stream that ended early raises: a connection error, the kind Router retries; a body that ended
    inside a frame (``undecoded``) is mapped as native maps it, as Bedrock's 502 (BadGatewayError where
    LiteLLM has it)."""
    if undecoded:
        return bedrock_error(config, 502, f"bedrock-xacct: the Bedrock event stream for {config.deployment} ended "
                             f"early ({why}); the answer is incomplete", {})
    return APIConnectionError(
        message=f"bedrock-xacct: the Bedrock event stream for {config.deployment} ended early ({why}); "
                "the answer is incomplete", llm_provider="bedrock", model=config.model)
