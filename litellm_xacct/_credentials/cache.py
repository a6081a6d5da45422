"""One refreshing cache over fetchers: a request never runs STS itself once an identity is warm.

* fresh lease (remaining > advisory window): served as is, no lock, no thread hop;
* advisory window: served as is; one background refresh is started (single-flight per identity);
* mandatory window or cold: callers share one in-flight refresh (one STS call for a cold burst);
  if it fails while the old lease is still valid, the old lease is served (stale serve);
* a scheduler thread refreshes active identities when they enter the advisory window, so steady
  traffic never sees it; identities idle longer than ``idle_timeout`` are left to lapse.

Failures back off exponentially with jitter (1 s .. 30 s, sooner as expiry nears) and are logged once per
incident. Fetches run on worker threads, never on the event loop. The cache is an LRU of ``max_entries``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future

from .. import _metrics
from .._errors import CredentialError
from .fetchers import FetchContext, FetchEnv, Fetcher
from .lease import Lease
from .pacing import BACKGROUND, COLD, Ticket
from .threads import Scheduler, Spawner

log = logging.getLogger("litellm_xacct")

BACKOFF_BASE, BACKOFF_CAP = 1.0, 30.0


class _Entry:
    __slots__ = ("key", "lease", "pending", "ticket", "last_used", "failures", "retry_at", "error", "incident",
                 "lock")

    def __init__(self, key: str) -> None:
        self.key = key
        self.lease: Lease | None = None
        self.pending: Future[Lease] | None = None
        self.ticket: Ticket | None = None
        self.last_used = 0.0
        self.failures = 0
        self.retry_at = 0.0
        self.error: CredentialError | None = None
        self.incident = False
        self.lock = threading.Lock()


class RefreshingCache:
    """Leases by fetcher key. ``env`` carries the injected clock, sleep and clients; threads are named
    ``<name>:<role>`` (spawner, scheduler, refresh) and :meth:`close` joins them."""

    def __init__(self, name: str, env: FetchEnv, *, max_entries: int, idle_timeout: float,
                 background: bool) -> None:
        self.name, self.env, self.clock = name, env, env.clock
        self.max_entries, self.idle_timeout, self.background = max_entries, idle_timeout, background
        self.stats = env.stats
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._spawner = Spawner(name)
        self._scheduler = Scheduler(name, env.clock, self.refresh_due, enabled=background)

    # -- lookup ----------------------------------------------------------------------------------
    def entry(self, key: str) -> _Entry:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(key)
        return entry

    def lookup(self, fetcher: Fetcher, priority: int = COLD) -> tuple[Lease | None, Future[Lease] | None]:
        """Non-blocking: (lease to use now, None) or (fallback lease or None, future to wait on)."""
        entry = self.entry(fetcher.key)
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
                    self.start(entry, fetcher, BACKGROUND)
                return lease, None
        elif entry.error is not None and now < entry.retry_at:
            fut: Future[Lease] = Future()
            fut.set_exception(entry.error)  # recent failure: answer at once, don't hammer STS
            return None, fut
        return lease, self.start(entry, fetcher, priority)

    def get(self, fetcher: Fetcher, priority: int = COLD, *, count: bool = False) -> Lease:
        """Blocking lookup (worker threads, synchronous callers)."""
        lease, fut = self.lookup(fetcher, priority)
        if fut is None:
            assert lease is not None
            return lease
        if count:
            self.stats["waits"] += 1
        try:
            return fut.result()
        except CredentialError as exc:
            return self.stale_or_raise(fetcher, lease, exc)

    async def aget(self, fetcher: Fetcher) -> Lease:
        """Awaits (off the loop) only when cold or in the mandatory window."""
        lease, fut = self.lookup(fetcher)
        if fut is None:
            assert lease is not None
            return lease
        self.stats["waits"] += 1
        try:
            return await asyncio.wrap_future(fut)
        except CredentialError as exc:
            return self.stale_or_raise(fetcher, lease, exc)

    def stale_or_raise(self, fetcher: Fetcher, lease: Lease | None, exc: CredentialError) -> Lease:
        if lease is not None and lease.expiry > self.clock():
            self.stats["served_stale"] += 1  # refresh failed but the current lease is still valid
            _metrics.stale_serve(fetcher.deployment, fetcher.role_arn)
            return lease
        raise exc

    def invalidate(self, key: str, lease: Lease) -> None:
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None:
            with entry.lock:
                if entry.lease is lease:
                    entry.lease = None

    # -- refresh ---------------------------------------------------------------------------------
    def start(self, entry: _Entry, fetcher: Fetcher, priority: int) -> Future[Lease]:
        """Single-flight: the refresh in flight for this entry (raised to ``priority``), or a new one."""
        with entry.lock:
            if entry.pending is not None:
                if entry.ticket is not None:
                    entry.ticket.promote(priority)  # a request now waits on a background fetch
                return entry.pending
            fut: Future[Lease] = Future()
            fut.set_running_or_notify_cancel()  # shared: one waiter's cancellation must not cancel it for all
            entry.pending, entry.ticket = fut, Ticket(priority)
        if not self._spawner.submit(lambda: self._refresh(entry, fetcher, fut)):
            with entry.lock:
                entry.pending = entry.ticket = None
            fut.set_exception(CredentialError(fetcher.deployment, "the credential engine is closed (the gateway "
                                              "is shutting down)", code="EngineClosed"))
        return fut

    def _refresh(self, entry: _Entry, fetcher: Fetcher, fut: Future[Lease]) -> None:
        current, ticket = entry.lease, entry.ticket
        assert ticket is not None
        cold = current is None or current.expiry <= self.clock()  # nobody can be served meanwhile
        ctx = FetchContext(self.env, cold, ticket, lambda parent: self.get(parent, ticket.priority))
        try:
            lease = fetcher.fetch(ctx)
        except CredentialError as exc:
            self._failed(entry, fetcher, exc)
            with entry.lock:
                entry.pending = entry.ticket = None
            fut.set_exception(exc)
            return
        except BaseException as exc:  # never leave waiters hanging
            with entry.lock:
                entry.pending = entry.ticket = None
            fut.set_exception(exc)
            raise
        with entry.lock:
            entry.lease, entry.pending, entry.ticket = lease, None, None
            entry.failures, entry.retry_at, entry.error = 0, 0.0, None
            recovered, entry.incident = entry.incident, False
        if recovered:
            log.warning("credential refresh recovered deployment=%s depth=%d", fetcher.deployment, fetcher.depth)
        if fetcher.role_arn is not None:
            _metrics.credential_expiry(fetcher.deployment, fetcher.role_arn, lease.expiry)
        self._schedule(fetcher, lease, lease.expiry - lease.advisory)
        fut.set_result(lease)

    def _failed(self, entry: _Entry, fetcher: Fetcher, exc: CredentialError) -> None:
        self.stats["refresh_failures"] += 1
        _metrics.refresh_failure(fetcher.deployment, str(exc.code), fetcher.role_arn)
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
            lease = entry.lease
        if lease is not None:  # retry in the background too, not only when a request comes
            self._schedule(fetcher, lease, entry.retry_at)
        if first:  # once per incident, not once per retry
            log.warning(
                "credential refresh failed deployment=%s depth=%d code=%s serving_current=%s error=%s",
                fetcher.deployment, fetcher.depth, exc.code, bool(lease and lease.expiry > self.clock()), exc,
            )

    def _schedule(self, fetcher: Fetcher, lease: Lease, at: float) -> None:
        if not math.isinf(lease.expiry):
            self._scheduler.push(at, (fetcher, lease))

    def refresh_due(self) -> int:
        """Start background refreshes for active identities entering their advisory window (or due for a
        retry). Returns how many were started."""
        now = self.clock()
        started = 0
        for fetcher, lease in self._scheduler.pop_due(now):
            with self._lock:
                entry = self._entries.get(fetcher.key)
            if entry is None or entry.lease is not lease or now < entry.retry_at:
                continue  # evicted, already refreshed, or backing off after a newer failure
            if now - entry.last_used > self.idle_timeout:
                continue  # idle: let it lapse; its next request fetches again
            self.start(entry, fetcher, BACKGROUND)
            started += 1
        return started

    # -- lifecycle -------------------------------------------------------------------------------
    def pending(self) -> list[Future[Lease]]:
        with self._lock:
            return [e.pending for e in self._entries.values() if e.pending is not None]

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until no refresh is in flight (tests, graceful shutdown)."""
        deadline = time.monotonic() + timeout
        while True:
            pending = self.pending()
            if not pending or time.monotonic() >= deadline:
                return
            for fut in pending:
                with contextlib.suppress(CredentialError, TimeoutError):
                    fut.result(timeout=max(0.0, deadline - time.monotonic()))

    def close(self, deadline: float) -> None:
        """Stop the scheduler and spawner and join every refresh worker until ``deadline`` (monotonic)."""
        self._scheduler.close(deadline)
        self._spawner.close(deadline)

    @property
    def closed(self) -> bool:
        return self._spawner.closed

    def __len__(self) -> int:
        return len(self._entries)
