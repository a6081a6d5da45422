"""Fetchers: one small class per credential source, and the assume-role hop, behind one protocol.

A deployment's credentials are a chain of fetchers, each its own cache entry (so hops refresh on their
own): a *source* (static keys, a botocore profile / default chain, or a web identity token that assumes
the first role itself), then one :class:`AssumeRoleHop` per further role, each signed by its parent's
lease. Adding a source = one fetcher class + one line in :data:`SOURCES`.

Every STS call goes through :func:`paced_call`: it queues for the rate budget of (calling identity, STS
endpoint), classifies failures on their structured code (one place), re-queues a throttled call and
retries a cold 5xx / connection failure with jittered backoff, inside a bounded wait.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

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
from .._sources import DefaultChain, Profile, StaticKeys, WebIdentity
from .clients import ClientFactory
from .lease import Lease
from .pacing import BudgetClosed, Budgets, BudgetTimeout, ColdRetry, Ticket

log = logging.getLogger("litellm_xacct")

SOURCE_LEASE_SECONDS = 300.0  # how often a profile/default-chain source is re-read from botocore


@dataclass(frozen=True)
class FetchEnv:
    """The engine's collaborators, shared by every fetch (injected: tests step ``clock`` and ``sleep``)."""

    clock: Callable[[], float]
    sleep: Callable[[float], None]
    clients: ClientFactory
    budgets: Budgets
    cold_retry: ColdRetry
    sessions: BotocoreSessions
    stats: dict[str, int]
    closed: Callable[[], bool]


@dataclass(frozen=True)
class FetchContext:
    """One fetch: ``retry`` when nobody can be served meanwhile (cold), its place in the STS queue, and
    ``parent`` to get the lease of the hop below through the cache."""

    env: FetchEnv
    retry: bool
    ticket: Ticket
    parent: Callable[[Fetcher], Lease]


class Fetcher(Protocol):
    """Produces one identity's lease. ``key`` is its cache key (it hashes the whole source -> role path,
    secrets included); ``parent`` is the fetcher whose lease signs this one's STS call (None for sources)."""

    key: str
    deployment: str
    depth: int  # roles assumed to get here: 0 for a plain source
    role_arn: str | None  # the role this fetcher assumes (for logs and metrics; never a secret)
    parent: Fetcher | None

    def fetch(self, ctx: FetchContext) -> Lease: ...


class BotocoreSessions:
    """One botocore session per profile (None: the default chain); botocore refreshes its own sources."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str | None, Any] = {}

    def __call__(self, profile: str | None) -> Any:
        import botocore.session

        with self._lock:
            session = self._sessions.get(profile)
            if session is None:
                session = self._sessions[profile] = botocore.session.Session(profile=profile)
            return session


# -- sources --------------------------------------------------------------------------------------------
class StaticKeysFetcher:
    """The deployment's own keys: never expire, never call anything."""

    depth: int = 0
    role_arn: str | None = None
    parent: Fetcher | None = None

    def __init__(self, config: DeploymentConfig) -> None:
        assert isinstance(config.source, StaticKeys)
        self.source, self.deployment, self.key = config.source, config.deployment, config.hop_key(0)

    def fetch(self, ctx: FetchContext) -> Lease:
        src = self.source
        return Lease(ReadOnlyCredentials(src.access_key_id, src.secret_access_key, src.session_token),
                     issued=ctx.env.clock(), expiry=math.inf)


class BotocoreChainFetcher:
    """A profile or botocore's default chain (env, container, IRSA, instance profile), re-read every
    :data:`SOURCE_LEASE_SECONDS`; botocore refreshes what it resolves."""

    depth: int = 0
    role_arn: str | None = None
    parent: Fetcher | None = None

    def __init__(self, config: DeploymentConfig) -> None:
        assert isinstance(config.source, (Profile, DefaultChain))
        self.source, self.deployment, self.key = config.source, config.deployment, config.hop_key(0)
        self.profile = config.source.name if isinstance(config.source, Profile) else None

    def fetch(self, ctx: FetchContext) -> Lease:
        now = ctx.env.clock()
        try:
            creds = ctx.env.sessions(self.profile).get_credentials()
            frozen = None if creds is None else creds.get_frozen_credentials()
        except BotoCoreError as exc:
            raise CredentialError(self.deployment, f"cannot load source identity ({self.source.describe()}): {exc}",
                                  code=type(exc).__name__) from None
        if frozen is None or not frozen.access_key:
            raise CredentialError(
                self.deployment,
                f"no source identity: {self.source.describe()} found no AWS credentials. Fix: give the gateway "
                "an AWS identity (env, instance profile, IRSA), or set aws_profile_name / aws_access_key_id",
                code="NoCredentials",
            )
        return Lease(frozen, issued=now, expiry=now + SOURCE_LEASE_SECONDS)


# -- roles ----------------------------------------------------------------------------------------------
class _RoleFetcher:
    """Shared by the two STS fetchers: the hop's parameters, its budget key and the lease it yields."""

    parent: Fetcher | None = None
    caller_key: str  # whose STS quota this call spends (the calling identity's cache key)

    def __init__(self, config: DeploymentConfig, depth: int) -> None:
        self.config, self.depth, self.deployment = config, depth, config.deployment
        self.hop = config.chain[depth - 1]
        self.role_arn: str | None = self.hop.role_arn
        self.key = config.hop_key(depth) if depth != len(config.chain) else config.identity_key
        self.kwargs = assume_role_kwargs(config, depth)

    def _lease(self, ctx: FetchContext, response: Any, started: float) -> Lease:
        creds = response["Credentials"]
        principal = response.get("AssumedRoleUser", {}).get("Arn")
        lease = Lease(
            ReadOnlyCredentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]),
            issued=ctx.env.clock(), expiry=creds["Expiration"].timestamp(),
            account=principal.split(":")[4] if principal else self.hop.account, principal_arn=principal,
        )
        log.info("assumed role deployment=%s role=%s session=%s account=%s expires=%s duration_ms=%.0f",
                 self.deployment, self.hop.role_arn, self.hop.session_name, lease.account,
                 creds["Expiration"].isoformat(), (time.monotonic() - started) * 1000)
        return lease


class AssumeRoleHop(_RoleFetcher):
    """AssumeRole into hop ``depth``, signed by ``parent``'s lease."""

    def __init__(self, config: DeploymentConfig, depth: int, parent: Fetcher) -> None:
        super().__init__(config, depth)
        self.parent, self.caller_key = parent, parent.key

    def fetch(self, ctx: FetchContext) -> Lease:
        assert self.parent is not None
        source = ctx.parent(self.parent)
        started = time.monotonic()
        response = paced_call(ctx, self, source.credentials,
                              lambda client: client.assume_role(**self.kwargs))
        return self._lease(ctx, response, started)


class WebIdentityFetcher(_RoleFetcher):
    """A web identity token assumes the first role itself (AssumeRoleWithWebIdentity, unsigned); a token
    file is re-read on every refresh (EKS/IRSA rotates it)."""

    def __init__(self, config: DeploymentConfig) -> None:
        assert isinstance(config.source, WebIdentity)
        super().__init__(config, 1)
        self.source, self.caller_key = config.source, config.hop_key(0)
        for key in ("ExternalId", "SourceIdentity", "Tags", "TransitiveTagKeys"):
            self.kwargs.pop(key, None)  # not accepted by AssumeRoleWithWebIdentity (_config refuses them)

    def fetch(self, ctx: FetchContext) -> Lease:
        token = self._token()
        started = time.monotonic()
        response = paced_call(ctx, self, None, lambda client: client.assume_role_with_web_identity(
            WebIdentityToken=token, **self.kwargs))
        return self._lease(ctx, response, started)

    def _token(self) -> str:
        if self.source.token_file is None:
            return str(self.source.token)
        try:
            with open(self.source.token_file, encoding="utf-8") as fh:
                return fh.read().strip()
        except OSError as exc:
            raise CredentialError(
                self.deployment,
                f"cannot read aws_web_identity_token file {self.source.token_file}: {exc.strerror}",
                code="TokenFileUnreadable",
            ) from None


#: Which fetcher reads each source. A source's fetcher covers depth 0, or depth 1 when it assumes the
#: first role itself (web identity); every further role is an :class:`AssumeRoleHop`.
SOURCES: dict[type, Callable[[DeploymentConfig], Fetcher]] = {
    StaticKeys: StaticKeysFetcher,
    Profile: BotocoreChainFetcher,
    DefaultChain: BotocoreChainFetcher,
    WebIdentity: WebIdentityFetcher,
}


def chain_fetcher(config: DeploymentConfig) -> Fetcher:
    """The fetcher of ``config``'s final identity, its parents linked down to the source."""
    fetcher = SOURCES[type(config.source)](config)
    for depth in range(fetcher.depth + 1, len(config.chain) + 1):
        fetcher = AssumeRoleHop(config, depth, fetcher)
    return fetcher


# -- one paced STS call ---------------------------------------------------------------------------------
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
        try:
            response = _classified(config, f, creds, call, env.clients)
        except StsUnavailableError as exc:
            last = exc
            throttled = exc.code in THROTTLE_CODES
            if throttled:
                budget.throttled()
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
