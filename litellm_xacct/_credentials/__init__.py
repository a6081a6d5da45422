"""Credentials: source identity -> role chain -> a lease the signer can use, refreshed ahead of expiry.

Parts (each its own module): :mod:`.lease` (what a fetch yields), :mod:`.fetchers` (one class per source,
the assume-role hop, the one STS call path), :mod:`.pacing` (the STS rate budgets), :mod:`.cache` (the
refreshing cache: single-flight, windows, stale serve, backoff, threads). :class:`CredentialEngine` puts
them together behind the API the transport, ``check`` and the tests use.

Why not botocore's ``RefreshableCredentials``: in its advisory window the *requesting* thread does the
STS call, and its windows are fixed at 15/10 minutes (a 900 s credential would call STS on every
access). Here a request never runs STS itself once a deployment is warm (see :mod:`.cache`).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any

from .._config import DeploymentConfig
from .._errors import XacctError
from .cache import RefreshingCache
from .clients import BotocoreClients, ClientFactory
from .fetchers import SOURCES, BotocoreSessions, FetchEnv, Fetcher, chain_fetcher
from .lease import Lease, refresh_windows
from .pacing import BACKGROUND, COLD, DEFAULT_COLD_RETRY, DEFAULT_POLICY, Budgets, ColdRetry, PacingPolicy
from .sts import assume_role_kwargs

__all__ = [
    "SOURCES",
    "BotocoreClients",
    "ColdRetry",
    "CredentialEngine",
    "Fetcher",
    "Lease",
    "PacingPolicy",
    "assume_role_kwargs",
    "refresh_windows",
]

Clock = Callable[[], float]
Sleep = Callable[[float], None]
_ENGINE_IDS = itertools.count(1)
PREWARM_IN_FLIGHT = 8  # pre-warm fetches outstanding at once (the budget paces them; this bounds threads)


class CredentialEngine:
    """Resolves and caches credentials per deployment identity. Thread-safe; one per process is enough.

    Collaborators are injected: ``clock`` (epoch seconds), ``sleep`` (every wait: backoff and the STS
    budget; default: an interruptible wait that :meth:`close` cuts short), ``client_factory`` (botocore
    clients), so tests step time and point at a local STS instead of patching. ``background=False``
    disables the scheduler thread (tests then call :meth:`refresh_due`). ``cold_retry`` bounds the
    in-place retries of a cold fetch; ``pacing`` sets the STS rate budgets. Threads are named
    ``<engine name>:<role>``; :meth:`close` joins them.
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
        cold_retry: ColdRetry = DEFAULT_COLD_RETRY,
        pacing: PacingPolicy = DEFAULT_POLICY,
    ) -> None:
        self.name = f"xacct-engine-{next(_ENGINE_IDS)}"
        self.clock = clock
        self._stop = threading.Event()
        self.sleep: Sleep = sleep or self._wait
        self.cold_retry, self.pacing = cold_retry, pacing
        self.client_factory: ClientFactory = client_factory or BotocoreClients()
        self.stats = {"sts_calls": 0, "sts_throttled": 0, "waits": 0, "refresh_failures": 0, "served_stale": 0,
                      "cold_retries": 0}
        self.budgets = Budgets(pacing, clock, self.sleep)
        env = FetchEnv(clock=clock, sleep=self.sleep, clients=self.client_factory, budgets=self.budgets,
                       cold_retry=cold_retry, sessions=BotocoreSessions(), stats=self.stats,
                       closed=self._stop.is_set)
        self._cache = RefreshingCache(self.name, env, max_entries=max_entries, idle_timeout=idle_timeout,
                                      background=background)
        self._fetchers: OrderedDict[tuple[str, str], Fetcher] = OrderedDict()
        self._fetchers_lock = threading.Lock()
        self._extra: list[threading.Thread] = []  # warm-up and pre-warm threads
        warm = getattr(self.client_factory, "warm", None)
        if callable(warm):  # load botocore's STS model now, not inside the first request's refresh
            self._thread(warm, "warm")

    # -- public ----------------------------------------------------------------------------------
    @property
    def max_entries(self) -> int:
        return self._cache.max_entries

    @property
    def idle_timeout(self) -> float:
        return self._cache.idle_timeout

    @property
    def background(self) -> bool:
        return self._cache.background

    async def aget(self, config: DeploymentConfig) -> Lease:
        """The lease for ``config``'s final identity; awaits (off the loop) only when cold/expiring."""
        return await self._cache.aget(self.fetcher(config))

    def get(self, config: DeploymentConfig) -> Lease:
        """Blocking variant of :meth:`aget`, for synchronous callers and worker threads."""
        return self._cache.get(self.fetcher(config), COLD, count=True)

    def invalidate(self, config: DeploymentConfig, lease: Lease) -> None:
        """Forget ``lease`` (e.g. Bedrock said ExpiredTokenException) so the next access refreshes."""
        self._cache.invalidate(config.identity_key, lease)

    def refresh_due(self) -> int:
        """Start background refreshes for active identities entering their advisory window.
        Returns how many were started. The scheduler thread calls this; tests may call it directly."""
        return self._cache.refresh_due()

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until no refresh is in flight (tests, graceful shutdown)."""
        self._cache.settle(timeout)

    def prewarm(self, configs: Iterable[DeploymentConfig]) -> Future[tuple[int, int]]:
        """Fetch every config's credentials in the background, paced at background priority (a request's
        cold fetch goes first), at most :data:`PREWARM_IN_FLIGHT` at once. Returns at once; the future
        resolves to (fetched, failed). Failures are logged by the cache as usual and retried on demand."""
        done: Future[tuple[int, int]] = Future()
        todo = list(configs)
        self._thread(lambda: self._prewarm(todo, done), "prewarm")
        return done

    def close(self, timeout: float = 30.0) -> None:
        """Stop every thread this engine started (scheduler, spawner, refresh workers, warm-up, pre-warm)
        and wait up to ``timeout`` seconds for them. Idempotent. Later cold fetches fail with
        ``code="EngineClosed"``; cached leases are still served."""
        self._stop.set()  # cuts short any backoff or budget wait
        self.budgets.close()
        deadline = time.monotonic() + timeout
        self._cache.close(deadline)
        for thread in list(self._extra):
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    def threads(self) -> list[threading.Thread]:
        """The live threads this engine started (for shutdown checks)."""
        prefix = f"{self.name}:"
        return [t for t in threading.enumerate() if t.name.startswith(prefix)]

    def pacing_state(self) -> list[dict[str, Any]]:
        """Per STS budget: endpoint, rate, w_max, queued, granted, throttles (secret-free)."""
        return [{"sts_url": b.key[1], **b.state()} for b in self.budgets.all()]

    def __len__(self) -> int:
        return len(self._cache)

    # -- internals -------------------------------------------------------------------------------
    def fetcher(self, config: DeploymentConfig) -> Fetcher:
        """``config``'s final fetcher (built once per identity and deployment name)."""
        key = (config.identity_key, config.deployment)
        with self._fetchers_lock:
            fetcher = self._fetchers.get(key)
            if fetcher is not None:
                self._fetchers.move_to_end(key)
                return fetcher
        fetcher = chain_fetcher(config)  # outside the lock: validates parameters against botocore's model
        with self._fetchers_lock:
            self._fetchers[key] = fetcher
            while len(self._fetchers) > self._cache.max_entries:
                self._fetchers.popitem(last=False)
        return fetcher

    def _wait(self, seconds: float) -> None:
        self._stop.wait(seconds)  # the default wait: close() ends it early

    def stopped(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._stop.is_set()

    def sleep_real(self, seconds: float) -> None:
        """Wait in real time; :meth:`close` cuts it short (polling loops of engine threads)."""
        self._stop.wait(seconds)

    def start_thread(self, target: Callable[[], None], role: str) -> None:
        """Run ``target`` in a daemon thread named ``<engine name>:<role>`` that :meth:`close` joins."""
        self._thread(target, role)

    def _thread(self, target: Callable[[], None], role: str) -> None:
        thread = threading.Thread(target=target, daemon=True, name=f"{self.name}:{role}")
        self._extra = [t for t in self._extra if t.is_alive()] + [thread]
        thread.start()

    def _prewarm(self, configs: list[DeploymentConfig], done: Future[tuple[int, int]]) -> None:
        slots = threading.Semaphore(PREWARM_IN_FLIGHT)
        counts = [0, 0]
        lock = threading.Lock()

        def finished(fut: Future[Lease]) -> None:
            with lock:
                counts[0 if fut.exception() is None else 1] += 1
            slots.release()

        futures = []
        for config in configs:
            while not slots.acquire(timeout=0.5):
                if self._stop.is_set():
                    break
            if self._stop.is_set():
                break
            try:
                lease, fut = self._cache.lookup(self.fetcher(config), BACKGROUND)
            except XacctError:
                lease, fut = None, None
            if fut is None:  # already warm, or not a valid deployment
                with lock:
                    counts[0 if lease is not None else 1] += 1
                slots.release()
                continue
            futures.append(fut)
            fut.add_done_callback(finished)
        for fut in futures:
            while not fut.done() and not self._stop.is_set():
                self._stop.wait(0.2)
        done.set_result((counts[0], counts[1]))
