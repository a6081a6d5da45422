"""The one STS call path: parameters, the rate budget, retries, and errors classified on their code.

:func:`paced_call` queues for the rate budget of (calling identity, STS endpoint), classifies failures on
their structured code (the one place), re-queues a throttled call and retries a cold 5xx / connection
failure with jittered backoff, inside a bounded wait.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.credentials import ReadOnlyCredentials
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, ParamValidationError
from botocore.exceptions import ConnectionError as BotoConnectionError

from .. import _metrics
from .._config import CHAINED_MAX_SECONDS, DeploymentConfig
from .._errors import (
    THROTTLE_CODES,
    ConfigError,
    CredentialError,
    RoleAssumptionError,
    StsUnavailableError,
    sts_transient,
)
from .clients import ClientFactory
from .pacing import BudgetClosed, BudgetTimeout

if TYPE_CHECKING:
    from .fetchers import FetchContext, _RoleFetcher

log = logging.getLogger("litellm_xacct")


def paced_call(ctx: FetchContext, f: _RoleFetcher, creds: ReadOnlyCredentials | None,
               call: Callable[[Any], Any]) -> Any:
    """``call(sts_client)`` once the budget allows. A throttle re-queues (same place in line); a cold 5xx
    or connection failure backs off (:class:`ColdRetry`); the first call waits at most ``max_wait`` for the
    budget, and nothing waits past ``ColdRetry.budget`` after the first call."""
    env, config = ctx.env, f.config
    budget = env.budgets(f.caller_key, config.sts_url)
    policy = env.cold_retry
    start = env.clock()
    first: float | None = None
    calls = failures = 0
    last: StsUnavailableError | None = None
    while True:
        deadline = start + budget.policy.max_wait if first is None else first + policy.budget
        try:
            waited = budget.acquire(ctx.ticket, deadline)
        except BudgetTimeout as exc:
            if last is None:
                last = StsUnavailableError(config.deployment, f.hop.role_arn, config.sts_url, "Throttling",
                                           f"no STS call made: {exc}")
            raise _spent(last, calls, env.clock() - start) from None
        except BudgetClosed:
            raise _closed(config.deployment) from None
        _metrics.sts_queue_wait(waited)
        first = env.clock() if first is None else first
        calls += 1
        env.stats["sts_calls"] += 1
        sent = env.clock()
        try:
            response = _classified(config, f, creds, call, env.clients)
        except StsUnavailableError as exc:
            last = exc
            throttled = exc.code in THROTTLE_CODES
            if throttled:
                budget.throttled(sent)
                env.stats["sts_throttled"] += 1
            _metrics.sts_call(f.hop.role_arn, "throttled" if throttled else "error")
            if not ctx.retry or env.closed():
                raise _spent(exc, calls, env.clock() - start) from None
            if throttled:
                continue  # re-queue; acquire() refuses to wait past the deadline
            failures += 1
            delay = policy.delay(failures)
            if failures >= policy.attempts or env.clock() + delay - first > policy.budget:
                raise _spent(exc, calls, env.clock() - start) from None
            env.stats["cold_retries"] += 1
            log.debug("STS %s for deployment=%s role=%s; cold fetch retry %d in %.2fs",
                      exc.code, config.deployment, f.hop.role_arn, failures, delay)
            env.sleep(delay)
            if env.closed():  # close() cut the wait short: give up now, without another call
                raise _spent(exc, calls, env.clock() - start) from None
            continue
        except RoleAssumptionError:
            _metrics.sts_call(f.hop.role_arn, "denied")
            raise
        except CredentialError:
            _metrics.sts_call(f.hop.role_arn, "error")
            raise
        budget.succeeded()
        _metrics.sts_call(f.hop.role_arn, "ok")
        return response


def _spent(exc: StsUnavailableError, calls: int, waited: float) -> StsUnavailableError:
    exc.attempts, exc.waited = max(1, calls), max(0.0, waited)
    return exc


def _closed(deployment: str) -> CredentialError:
    return CredentialError(deployment, "the credential engine is closed (the gateway is shutting down)",
                           code="EngineClosed")


def _classified(config: DeploymentConfig, f: _RoleFetcher, creds: ReadOnlyCredentials | None,
                call: Callable[[Any], Any], clients: ClientFactory) -> Any:
    """One STS call; failures become our errors, classified on the structured code (the one place)."""
    role = f.hop.role_arn
    try:
        return call(clients("sts", config.sts_region, config.sts_url, creds))
    except ClientError as exc:
        err = exc.response.get("Error", {})
        code, message = str(err.get("Code", "Unknown")), str(err.get("Message", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if sts_transient(code, status):
            raise StsUnavailableError(config.deployment, role, config.sts_url, code,
                                      f"STS {code} (HTTP {status}): {message}") from None
        raise RoleAssumptionError(config.deployment, role, f.hop.session_name, code, message) from None
    except (BotoConnectionError, HTTPClientError) as exc:  # refused, reset, timed out: transient
        raise StsUnavailableError(config.deployment, role, config.sts_url, type(exc).__name__,
                                  f"cannot reach STS: {exc}") from None
    except BotoCoreError as exc:
        raise CredentialError(config.deployment, f"STS call to {config.sts_url} to assume {role} "
                              f"failed: {exc}", code=type(exc).__name__) from None


# -- AssumeRole parameters ------------------------------------------------------------------------------
def assume_role_kwargs(config: DeploymentConfig, depth: int) -> dict[str, Any]:
    """The AssumeRole parameters for hop ``depth`` (1-based), validated against botocore's STS model."""
    hop = config.chain[depth - 1]
    kwargs: dict[str, Any] = {"RoleArn": hop.role_arn, "RoleSessionName": hop.session_name}
    if hop.external_id:
        kwargs["ExternalId"] = hop.external_id
    if depth == len(config.chain):
        opts = config.options
        duration = opts.duration_seconds
        chained = depth > 1 or config.source.is_session
        if duration and chained and duration > CHAINED_MAX_SECONDS:
            _log_once(f"clamp:{config.identity_key}", logging.WARNING,
                      "deployment=%s role=%s xacct_duration_seconds=%d clamped to %d: AWS caps role-chained "
                      "sessions at one hour", config.deployment, hop.role_arn, duration, CHAINED_MAX_SECONDS)
            duration = CHAINED_MAX_SECONDS
        if duration:
            kwargs["DurationSeconds"] = duration
        if opts.source_identity:
            kwargs["SourceIdentity"] = opts.source_identity
        if opts.policy:
            kwargs["Policy"] = opts.policy
        if opts.policy_arns:
            kwargs["PolicyArns"] = [{"arn": a} for a in opts.policy_arns]
        if opts.tags:
            kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in opts.tags]
        if opts.transitive_tag_keys:
            kwargs["TransitiveTagKeys"] = list(opts.transitive_tag_keys)
    _validate_sts(config, "AssumeRole", kwargs)
    return kwargs


_STS_MODEL: Any = None


def _validate_sts(config: DeploymentConfig, operation: str, kwargs: dict[str, Any]) -> None:
    global _STS_MODEL
    import botocore.session
    from botocore.validate import validate_parameters

    if _STS_MODEL is None:
        _STS_MODEL = botocore.session.get_session().get_service_model("sts")
    try:
        validate_parameters(kwargs, _STS_MODEL.operation_model(operation).input_shape)
    except ParamValidationError as exc:
        raise ConfigError(config.deployment, "AssumeRole parameters", f"fail STS validation: {exc}",
                          "correct the aws_*/xacct_* field named in the message") from None


_logged: set[str] = set()


def _log_once(key: str, level: int, msg: str, *args: object) -> None:
    if key not in _logged:
        _logged.add(key)
        log.log(level, msg, *args)
