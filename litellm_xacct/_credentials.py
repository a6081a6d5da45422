"""Credentials: source identity -> role chain -> a lease the signer can use, refreshed ahead of expiry.

Why not botocore's ``RefreshableCredentials``: in its advisory window the *requesting* thread does the
STS call, and its windows are fixed at 15/10 minutes (a 900 s credential would call STS on every
access). Here a request never runs STS itself once a deployment is warm:

* fresh lease (remaining > advisory window): served as is, no lock, no thread hop;
* advisory window: served as is; one background refresh is started (single-flight per identity);
* mandatory window or cold: callers share one in-flight refresh (one STS call for a cold burst);
  if it fails while the old lease is still valid, the old lease is served;
* a scheduler thread refreshes active identities when they enter the advisory window, so steady
  traffic never even sees it. Windows scale with the lifetime: advisory = min(15 min, L/2),
  mandatory = min(10 min, L/4).

STS and boto3 calls always run on worker threads, never on the event loop. Failures back off
exponentially with jitter (1 s .. 30 s) and are logged once per incident. A *cold* fetch (no valid
lease to serve instead) retries a transient STS failure (throttling, 5xx, connection reset, timeout)
in place with jittered backoff inside a bounded total wait (:class:`ColdRetry`), so a cold fan-out
under STS throttling still serves its requests; trust and auth refusals are never retried.
:meth:`CredentialEngine.close` stops and joins every thread the engine started. Each hop of a role chain is
its own cache entry, so hops refresh independently. The cache is an LRU bounded by ``max_entries``.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
import queue
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from botocore.credentials import ReadOnlyCredentials
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, ParamValidationError
from botocore.exceptions import ConnectionError as BotoConnectionError

from . import _metrics
from ._config import CHAINED_MAX_SECONDS, DeploymentConfig, RoleHop
from ._errors import ConfigError, CredentialError, RoleAssumptionError, StsUnavailableError, sts_transient

log = logging.getLogger("litellm_xacct")

Clock = Callable[[], float]
Sleep = Callable[[float], None]
#: (service, region, endpoint_url, credentials or None for unsigned) -> a botocore client
ClientFactory = Callable[[str, str, str, "ReadOnlyCredentials | None"], Any]

SOURCE_LEASE_SECONDS = 300.0  # how often a profile/default-chain source is re-read from botocore
BACKOFF_BASE, BACKOFF_CAP = 1.0, 30.0
CLIENT_CACHE_SIZE = 64
_ENGINE_IDS = itertools.count(1)


@dataclass(frozen=True)
class ColdRetry:
    """How a cold fetch retries a transient STS failure: full-jitter exponential backoff
    (``base`` doubling up to ``cap`` seconds), at most ``attempts`` calls, and never sleeping past
    ``budget`` seconds after the first call (so a waiting request has a bounded worst case)."""

    attempts: int = 6
    base: float = 0.25
    cap: float = 4.0
    budget: float = 15.0

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based); jittered so a throttled fan-out spreads."""
        return random.uniform(0.2, 1.0) * min(self.cap, self.base * 2 ** (retry - 1))


def refresh_windows(lifetime: float) -> tuple[float, float]:
    """(advisory, mandatory) seconds before expiry, scaled to the credential's lifetime."""
    return min(900.0, lifetime / 2), min(600.0, lifetime / 4)


@dataclass(frozen=True)
class Lease:
    """One set of credentials and who they are. ``credentials`` is a botocore ReadOnlyCredentials."""

    credentials: ReadOnlyCredentials | None = field(repr=False)
    issued: float
    expiry: float  # epoch seconds; math.inf for static keys
    account: str | None = None
    principal_arn: str | None = None
    advisory: float = field(init=False, repr=False)
    mandatory: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        advisory, mandatory = refresh_windows(self.expiry - self.issued)
        object.__setattr__(self, "advisory", advisory)
        object.__setattr__(self, "mandatory", mandatory)


class _Entry:
    __slots__ = ("key", "lease", "pending", "last_used", "failures", "retry_at", "error", "incident", "lock")

    def __init__(self, key: str) -> None:
        self.key = key
        self.lease: Lease | None = None
        self.pending: Future[Lease] | None = None
        self.last_used = 0.0
        self.failures = 0
        self.retry_at = 0.0
        self.error: CredentialError | None = None
        self.incident = False
        self.lock = threading.Lock()


class BotocoreClients:
    """Default client factory: one botocore session, clients created under a lock (sessions are not
    thread-safe), bounded retries and timeouts so a cold request never hangs for minutes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._session: Any = None
        # Clients are thread-safe and cost ~3 ms of CPU to create: reuse them per (endpoint, identity).
        self._clients: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    def warm(self) -> None:
        self("sts", "us-east-1", "https://sts.us-east-1.amazonaws.com", None)

    def __call__(self, service: str, region: str, endpoint_url: str, creds: ReadOnlyCredentials | None) -> Any:
        import botocore.session
        from botocore import UNSIGNED
        from botocore.config import Config

        # No botocore retries: the engine owns them (bounded, jittered, and only where a caller waits).
        config = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=5, read_timeout=10)
        kwargs: dict[str, Any] = {"region_name": region, "endpoint_url": endpoint_url}
        if creds is None:
            config = config.merge(Config(signature_version=UNSIGNED))
        else:
            kwargs.update(aws_access_key_id=creds.access_key, aws_secret_access_key=creds.secret_key,
                          aws_session_token=creds.token)
        key = (service, region, endpoint_url, tuple(creds) if creds is not None else None)
        with self._lock:
            client = self._clients.get(key)
            if client is not None:
                self._clients.move_to_end(key)
                return client
            if self._session is None:
                self._session = botocore.session.Session()
            client = self._clients[key] = self._session.create_client(service, config=config, **kwargs)
            while len(self._clients) > CLIENT_CACHE_SIZE:
                self._clients.popitem(last=False)
            return client


def assume_role_kwargs(config: DeploymentConfig, depth: int) -> dict[str, Any]:
    """The AssumeRole parameters for hop ``depth`` (1-based), validated against botocore's STS model."""
    hop: RoleHop = config.chain[depth - 1]
    kwargs: dict[str, Any] = {"RoleArn": hop.role_arn, "RoleSessionName": hop.session_name}
    if hop.external_id:
        kwargs["ExternalId"] = hop.external_id
    if depth == len(config.chain):
        opts = config.options
        duration = opts.duration_seconds
        chained = depth > 1 or (config.source.kind == "static" and config.source.session_token is not None)
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


class CredentialEngine:
    """Resolves and caches credentials per deployment identity. Thread-safe; one per process is enough.

    Collaborators are injected: ``clock`` (epoch seconds), ``sleep`` (the cold-retry backoff wait;
    default: an interruptible wait that :meth:`close` cuts short), ``client_factory`` (botocore
    clients), so tests step time and point at a local STS instead of patching. ``background=False``
    disables the scheduler thread (tests then call :meth:`refresh_due`). ``cold_retry`` bounds the
    in-place retries of a cold fetch. Threads are named ``<engine name>:<role>``; :meth:`close` joins them.
    """

    def __init__(
        self,
        *,
        clock: Clock = time.time,
        client_factory: ClientFactory | None = None,
        max_entries: int = 1024,
        idle_timeout: float = 3600.0,
        background: bool = True,
        sleep: Sleep | None = None,
        cold_retry: ColdRetry = ColdRetry(),
    ) -> None:
        self.name = f"xacct-engine-{next(_ENGINE_IDS)}"
        self.clock = clock
        self._stop = threading.Event()
        self.sleep: Sleep = sleep or self._wait
        self.cold_retry = cold_retry
        self.client_factory: ClientFactory = client_factory or BotocoreClients()
        self.max_entries = max_entries
        self.idle_timeout = idle_timeout
        self.background = background
        self.stats = {"sts_calls": 0, "waits": 0, "refresh_failures": 0, "served_stale": 0, "cold_retries": 0}
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._due: list[tuple[float, int, str, int, DeploymentConfig, Lease]] = []
        self._seq = itertools.count()  # heap tiebreaker: configs and leases don't order
        self._due_cv = threading.Condition(self._lock)
        self._scheduler: threading.Thread | None = None
        self._spawner: threading.Thread | None = None
        self._spawn_queue: queue.SimpleQueue[tuple[_Entry, DeploymentConfig, int, Future[Lease]] | None] = (
            queue.SimpleQueue())
        self._workers: set[threading.Thread] = set()  # refresh threads still running
        self._botocore_sources: dict[str | None, Any] = {}
        self._closed = False
        self._warm: threading.Thread | None = None
        warm = getattr(self.client_factory, "warm", None)
        if callable(warm):  # load botocore's STS model now, not inside the first request's refresh
            self._warm = threading.Thread(target=warm, daemon=True, name=f"{self.name}:warm")
            self._warm.start()

    # -- public ----------------------------------------------------------------------------------
    async def aget(self, config: DeploymentConfig) -> Lease:
        """The lease for ``config``'s final identity; awaits (off the loop) only when cold/expiring."""
        lease, fut = self._lookup(config, len(config.chain))
        if fut is None:
            assert lease is not None
            return lease
        self.stats["waits"] += 1
        try:
            return await asyncio.wrap_future(fut)
        except CredentialError as exc:
            return self._stale_or_raise(lease, exc)

    def get(self, config: DeploymentConfig) -> Lease:
        """Blocking variant of :meth:`aget`, for synchronous callers and worker threads."""
        return self._get_depth(config, len(config.chain), count=True)

    def invalidate(self, config: DeploymentConfig, lease: Lease) -> None:
        """Forget ``lease`` (e.g. Bedrock said ExpiredTokenException) so the next access refreshes."""
        with self._lock:
            entry = self._entries.get(config.identity_key)
        if entry is not None:
            with entry.lock:
                if entry.lease is lease:
                    entry.lease = None

    def refresh_due(self) -> int:
        """Start background refreshes for active identities entering their advisory window.
        Returns how many were started. The scheduler thread calls this; tests may call it directly."""
        now = self.clock()
        started = 0
        with self._lock:
            ready = []
            while self._due and self._due[0][0] <= now:
                ready.append(heapq.heappop(self._due))
        for _, _, key, depth, config, lease in ready:
            with self._lock:
                entry = self._entries.get(key)
            if entry is None or entry.lease is not lease or now < entry.retry_at:
                continue  # evicted, already refreshed, or backing off after a newer failure
            if now - entry.last_used > self.idle_timeout:
                continue  # idle: let it lapse; its next request fetches again
            self._start_refresh(entry, config, depth)
            started += 1
        return started

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until no refresh is in flight (tests, graceful shutdown)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = [e.pending for e in self._entries.values() if e.pending is not None]
            if not pending:
                return
            for fut in pending:
                with contextlib.suppress(CredentialError):
                    fut.result(timeout=max(0.0, deadline - time.monotonic()))

    def close(self, timeout: float = 30.0) -> None:
        """Stop every thread this engine started (scheduler, spawner, refresh workers, warm-up) and
        wait up to ``timeout`` seconds for them. Idempotent. Later cold fetches fail with
        ``code="EngineClosed"``; cached leases are still served."""
        with self._lock:
            self._closed = True
            self._stop.set()  # cuts short any cold-retry backoff wait
            self._due_cv.notify_all()
            spawner, scheduler = self._spawner, self._scheduler
        if spawner is not None:
            self._spawn_queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in (spawner, scheduler, self._warm):
            if thread is not None and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        while True:
            with self._lock:
                workers = [t for t in self._workers if t is not threading.current_thread()]
            if not workers or time.monotonic() >= deadline:
                return
            for thread in workers:
                thread.join(max(0.0, deadline - time.monotonic()))

    def _wait(self, seconds: float) -> None:
        self._stop.wait(seconds)  # the default backoff wait: close() ends it early

    def threads(self) -> list[threading.Thread]:
        """The live threads this engine started (for shutdown checks)."""
        prefix = f"{self.name}:"
        return [t for t in threading.enumerate() if t.name.startswith(prefix)]

    def __len__(self) -> int:
        return len(self._entries)

    # -- lookup ----------------------------------------------------------------------------------
    def _entry(self, key: str) -> _Entry:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(key)
        return entry

    def _lookup(self, config: DeploymentConfig, depth: int) -> tuple[Lease | None, Future[Lease] | None]:
        """Non-blocking: (lease to use now, None) or (fallback lease or None, future to wait on)."""
        entry = self._entry(config.hop_key(depth) if depth != len(config.chain) else config.identity_key)
        now = self.clock()
        entry.last_used = now
        lease = entry.lease
        if lease is not None:
            remaining = lease.expiry - now
            if remaining > lease.advisory:
                return lease, None
            # Valid and either not yet mandatory, or refreshes are failing: serve it, retry behind it.
            if remaining > lease.mandatory or (remaining > 0 and (now < entry.retry_at or entry.failures)):
                if now >= entry.retry_at:
                    self._start_refresh(entry, config, depth)
                return lease, None
        elif entry.error is not None and now < entry.retry_at:
            fut: Future[Lease] = Future()
            fut.set_exception(entry.error)  # recent failure: answer at once, don't hammer STS
            return None, fut
        return lease, self._start_refresh(entry, config, depth)

    def _get_depth(self, config: DeploymentConfig, depth: int, *, count: bool = False) -> Lease:
        lease, fut = self._lookup(config, depth)
        if fut is None:
            assert lease is not None
            return lease
        if count:
            self.stats["waits"] += 1
        try:
            return fut.result()
        except CredentialError as exc:
            return self._stale_or_raise(lease, exc)

    def _stale_or_raise(self, lease: Lease | None, exc: CredentialError) -> Lease:
        if lease is not None and lease.expiry > self.clock():
            self.stats["served_stale"] += 1  # refresh failed but the current lease is still valid
            _metrics.stale_serve(exc.deployment)
            return lease
        raise exc

    # -- refresh ---------------------------------------------------------------------------------
    def _start_refresh(self, entry: _Entry, config: DeploymentConfig, depth: int) -> Future[Lease]:
        with entry.lock:
            if entry.pending is not None:
                return entry.pending
            fut: Future[Lease] = Future()
            entry.pending = fut
        # Thread.start() blocks until the new thread runs, and that thread then holds the GIL: hand
        # the start to a spawner thread so an event-loop caller returns at once.
        with self._lock:
            closed = self._closed
            if self._spawner is None and not closed:
                self._spawner = threading.Thread(target=self._run_spawner, daemon=True,
                                                 name=f"{self.name}:spawner")
                self._spawner.start()
        if closed:
            with entry.lock:
                entry.pending = None
            fut.set_exception(CredentialError(config.deployment, "the credential engine is closed (the gateway "
                                              "is shutting down)", code="EngineClosed"))
            return fut
        self._spawn_queue.put((entry, config, depth, fut))
        return fut

    def _run_spawner(self) -> None:
        # A fresh thread per refresh (refreshes are rare): a bounded pool could deadlock when a
        # chain hop waits on the hop below it.
        while True:
            args = self._spawn_queue.get()
            if args is None:  # close()
                return
            thread = threading.Thread(target=self._run_worker, args=args, daemon=True, name=f"{self.name}:refresh")
            with self._lock:
                self._workers.add(thread)
            thread.start()

    def _run_worker(self, entry: _Entry, config: DeploymentConfig, depth: int, fut: Future[Lease]) -> None:
        try:
            self._refresh(entry, config, depth, fut)
        finally:
            with self._lock:
                self._workers.discard(threading.current_thread())

    def _refresh(self, entry: _Entry, config: DeploymentConfig, depth: int, fut: Future[Lease]) -> None:
        current = entry.lease
        cold = current is None or current.expiry <= self.clock()  # nobody can be served meanwhile
        try:
            lease = self._fetch(config, depth, retry=cold)
        except CredentialError as exc:
            self._failed(entry, config, depth, exc)
            with entry.lock:
                entry.pending = None
            fut.set_exception(exc)
            return
        except BaseException as exc:  # never leave waiters hanging
            with entry.lock:
                entry.pending = None
            fut.set_exception(exc)
            raise
        with entry.lock:
            entry.lease, entry.pending = lease, None
            entry.failures, entry.retry_at, entry.error = 0, 0.0, None
            recovered, entry.incident = entry.incident, False
        if recovered:
            log.warning("credential refresh recovered deployment=%s depth=%d", config.deployment, depth)
        self._schedule(entry, config, depth, lease)
        _metrics.credential_expiry(config.deployment, config.chain[depth - 1].role_arn if depth else "", lease.expiry)
        fut.set_result(lease)

    def _failed(self, entry: _Entry, config: DeploymentConfig, depth: int, exc: CredentialError) -> None:
        self.stats["refresh_failures"] += 1
        _metrics.refresh_failure(config.deployment, exc.code or "error",
                                 config.chain[depth - 1].role_arn if depth else None)
        with entry.lock:
            entry.failures += 1
            delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (entry.failures - 1))
            now = self.clock()
            if entry.lease is not None and entry.lease.expiry > now:
                # Retry more often as expiry nears, so an outage ending in time is noticed in time.
                delay = min(delay, max(BACKOFF_BASE, (entry.lease.expiry - now) / 3))
            entry.retry_at = now + delay * random.uniform(0.5, 1.0)
            entry.error = exc
            first, entry.incident = not entry.incident, True
        if entry.lease is not None:  # retry in the background too, not only when a request comes
            with self._lock:
                heapq.heappush(self._due, (entry.retry_at, next(self._seq), entry.key, depth, config, entry.lease))
                self._due_cv.notify_all()
        if first:  # once per incident, not once per retry
            lease = entry.lease
            log.warning(
                "credential refresh failed deployment=%s depth=%d code=%s serving_current=%s error=%s",
                config.deployment, depth, exc.code, bool(lease and lease.expiry > self.clock()), exc,
            )

    def _schedule(self, entry: _Entry, config: DeploymentConfig, depth: int, lease: Lease) -> None:
        if math.isinf(lease.expiry):
            return
        with self._lock:
            heapq.heappush(self._due, (lease.expiry - lease.advisory, next(self._seq), entry.key, depth, config, lease))
            self._due_cv.notify_all()
            if self.background and self._scheduler is None and not self._closed:
                self._scheduler = threading.Thread(target=self._run_scheduler, daemon=True,
                                                   name=f"{self.name}:scheduler")
                self._scheduler.start()

    def _run_scheduler(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                wait = (self._due[0][0] - self.clock()) if self._due else 60.0
                if wait > 0:
                    self._due_cv.wait(timeout=min(wait, 60.0))
                    continue
            self.refresh_due()

    # -- fetching (worker threads only) ----------------------------------------------------------
    def _fetch(self, config: DeploymentConfig, depth: int, *, retry: bool = False) -> Lease:
        if depth == 0:
            return self._source_lease(config)
        hop = config.chain[depth - 1]
        kwargs = assume_role_kwargs(config, depth)
        web = depth == 1 and config.source.kind == "web_identity"
        source = None if web else self._get_depth(config, depth - 1)
        started = time.monotonic()
        policy = self.cold_retry
        first = self.clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._call_sts(config, hop, dict(kwargs), web, source)
                break
            except StsUnavailableError as exc:
                if not retry or attempt >= policy.attempts or self._closed:
                    exc.attempts, exc.waited = attempt, max(0.0, self.clock() - first)
                    raise
                delay = policy.delay(attempt)
                if self.clock() + delay - first > policy.budget:
                    exc.attempts, exc.waited = attempt, max(0.0, self.clock() - first)
                    raise
                self.stats["cold_retries"] += 1
                log.debug("STS %s for deployment=%s role=%s; cold fetch retry %d in %.2fs",
                          exc.code, config.deployment, hop.role_arn, attempt, delay)
                self.sleep(delay)
                if self._closed:  # close() cut the wait short: give up now, without another call
                    exc.attempts, exc.waited = attempt, max(0.0, self.clock() - first)
                    raise
        _metrics.sts_call(hop.role_arn, "ok")
        creds = response["Credentials"]
        principal = response.get("AssumedRoleUser", {}).get("Arn")
        lease = Lease(
            ReadOnlyCredentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]),
            issued=self.clock(), expiry=creds["Expiration"].timestamp(),
            account=principal.split(":")[4] if principal else hop.account, principal_arn=principal,
        )
        log.info(
            "assumed role deployment=%s role=%s session=%s account=%s expires=%s duration_ms=%.0f",
            config.deployment, hop.role_arn, hop.session_name, lease.account,
            creds["Expiration"].isoformat(), (time.monotonic() - started) * 1000,
        )
        return lease

    def _call_sts(self, config: DeploymentConfig, hop: RoleHop, kwargs: dict[str, Any], web: bool,
                  source: Lease | None) -> Any:
        """One AssumeRole* call; STS failures become our errors, classified on the structured code."""
        try:
            client = self.client_factory("sts", config.sts_region, config.sts_url,
                                         None if source is None else source.credentials)
            self.stats["sts_calls"] += 1
            if web:
                for key in ("ExternalId", "SourceIdentity", "Tags", "TransitiveTagKeys"):
                    kwargs.pop(key, None)  # not accepted by AssumeRoleWithWebIdentity
                return client.assume_role_with_web_identity(
                    WebIdentityToken=self._web_identity_token(config), **kwargs)
            return client.assume_role(**kwargs)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code, message = str(err.get("Code", "Unknown")), str(err.get("Message", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            _metrics.sts_call(hop.role_arn, _metrics.sts_outcome(code, status))
            if sts_transient(code, status):
                raise StsUnavailableError(config.deployment, hop.role_arn, config.sts_url, code,
                                          f"STS {code} (HTTP {status}): {message}") from None
            raise RoleAssumptionError(config.deployment, hop.role_arn, hop.session_name, code, message) from None
        except (BotoConnectionError, HTTPClientError) as exc:  # refused, reset, timed out: transient
            _metrics.sts_call(hop.role_arn, "error")
            raise StsUnavailableError(config.deployment, hop.role_arn, config.sts_url, type(exc).__name__,
                                      f"cannot reach STS: {exc}") from None
        except BotoCoreError as exc:
            raise CredentialError(config.deployment, f"STS call to {config.sts_url} to assume {hop.role_arn} "
                                  f"failed: {exc}", code=type(exc).__name__) from None

    def _web_identity_token(self, config: DeploymentConfig) -> str:
        src = config.source
        if src.web_identity_token_file is None:
            return str(src.web_identity_token)
        try:  # re-read on every refresh: EKS/IRSA rotates the file
            with open(src.web_identity_token_file, encoding="utf-8") as fh:
                return fh.read().strip()
        except OSError as exc:
            raise CredentialError(
                config.deployment,
                f"cannot read aws_web_identity_token file {src.web_identity_token_file}: {exc.strerror}",
                code="TokenFileUnreadable",
            ) from None

    def _source_lease(self, config: DeploymentConfig) -> Lease:
        src, now = config.source, self.clock()
        if src.kind == "static":
            return Lease(ReadOnlyCredentials(src.access_key_id, src.secret_access_key, src.session_token),
                         issued=now, expiry=math.inf)
        if src.kind == "web_identity":
            return Lease(None, issued=now, expiry=math.inf)
        import botocore.session

        with self._lock:
            session = self._botocore_sources.get(src.profile)
            if session is None:
                session = self._botocore_sources[src.profile] = botocore.session.Session(profile=src.profile)
        try:
            creds = session.get_credentials()  # botocore refreshes its own sources (IMDS, containers...)
            frozen = None if creds is None else creds.get_frozen_credentials()
        except BotoCoreError as exc:
            raise CredentialError(config.deployment, f"cannot load source identity ({src.describe()}): {exc}",
                                  code=type(exc).__name__) from None
        if frozen is None or not frozen.access_key:
            raise CredentialError(
                config.deployment,
                f"no source identity: {src.describe()} found no AWS credentials. Fix: give the gateway an "
                "AWS identity (env, instance profile, IRSA), or set aws_profile_name / aws_access_key_id",
                code="NoCredentials",
            )
        return Lease(frozen, issued=now, expiry=now + SOURCE_LEASE_SECONDS)
