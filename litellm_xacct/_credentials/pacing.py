"""STS pacing: one adaptive rate budget per (calling identity, STS endpoint); callers queue for it in order.

The idea of botocore's adaptive retry mode (``botocore/retries/adaptive.py``: a token bucket whose fill
rate follows a CUBIC curve), applied to a queue of credential fetches instead of one client:

* a fetch takes one token per STS call; tokens refill at ``rate`` per second, up to ``max(1, rate)``;
* waiting fetches are served strictly in order of (priority, arrival): cold fetches (a request waits)
  before background ones (refresh-ahead, pre-warm); a throttled call re-queues with its original place;
* until the first throttle the rate grows by ``slow_start`` calls/s per success (about +15 %/s);
* on a throttle: ``w_max`` = min(rate, successes/s measured over ``window``), rate = ``beta`` x w_max
  (once per round trip: a call that was already in flight at the last slow-down does not count again);
  then rate(t) = ``scale`` * (t - K)^3 + w_max with K = cbrt(w_max (1 - beta) / scale): back to w_max
  after K seconds, flat near it, probing above it slowly (botocore's CubicCalculator, same constants);
* the rate stays within [min_rate, max_rate] and below max(initial_rate, 2 x measured successes/s), so
  an idle budget does not come back with an unbounded burst; after two throttles in a row (nothing
  accepted in between) it is ``min_rate`` until a call is accepted.

Time and waiting are injected (``clock``, ``sleep``) like the rest of the engine: tests step time.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

COLD, BACKGROUND = 0, 1  # ticket priorities: lower is served first
_SEQ = itertools.count()


@dataclass(frozen=True)
class PacingPolicy:
    """Parameters of every STS budget (defaults suit AWS's per-account STS quotas; see docs/credentials.md)."""

    initial_rate: float = 5.0  # calls/s before anything is learned (and after a quiet spell)
    max_rate: float = 100.0  # never more than this many calls/s per budget
    min_rate: float = 0.5  # never slower than this (botocore's TokenBucket minimum)
    beta: float = 0.7  # on a throttle, the rate drops to beta x the rate STS accepted
    scale: float = 0.4  # CUBIC growth constant after a throttle (botocore's)
    slow_start: float = 0.15  # calls/s added per success until the first throttle
    window: float = 2.0  # seconds over which accepted calls/s are measured
    max_wait: float = 120.0  # the longest a cold fetch queues for its first call


@dataclass(frozen=True)
class ColdRetry:
    """How a cold fetch retries an STS 5xx or connection failure: full-jitter exponential backoff (``base``
    doubling up to ``cap`` seconds), at most ``attempts`` calls, and never waiting past ``budget`` seconds
    after the first call (a waiting request has a bounded worst case). A *throttled* call is not counted
    as an attempt: it re-queues for the rate budget, within the same ``budget`` seconds."""

    attempts: int = 6
    base: float = 0.25
    cap: float = 4.0
    budget: float = 15.0

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based); jittered so a failing fan-out spreads."""
        return random.uniform(0.2, 1.0) * min(self.cap, self.base * 2 ** (retry - 1))


DEFAULT_POLICY, DEFAULT_COLD_RETRY = PacingPolicy(), ColdRetry()


class BudgetTimeout(Exception):
    """The wait for the rate budget would pass the caller's deadline (``waited`` s so far, ``ahead`` queued)."""

    def __init__(self, waited: float, ahead: int) -> None:
        super().__init__(f"waited {waited:.1f}s for the STS rate budget, {ahead} fetch(es) ahead")
        self.waited, self.ahead = waited, ahead


class BudgetClosed(Exception):
    """The engine closed while a fetch waited for the budget."""


class Ticket:
    """One fetch's place in a budget's queue: ``priority`` (may be raised) and its arrival order."""

    __slots__ = ("seq", "priority", "wake", "queued", "budget")

    def __init__(self, priority: int) -> None:
        self.seq = next(_SEQ)
        self.priority = priority
        self.wake = threading.Event()
        self.queued = False
        self.budget: StsBudget | None = None  # the budget it last queued for

    def promote(self, priority: int) -> None:
        """Raise the priority (a request joined a background fetch), moving it up its queue."""
        if priority < self.priority:
            self.priority = priority  # written before ``budget`` is read: see StsBudget._enqueue
            budget = self.budget
            if budget is not None:
                budget.requeue(self)
            self.wake.set()

    def __lt__(self, other: Ticket) -> bool:  # queue rows of one ticket may tie on (priority, seq)
        return False


class AdaptiveRate:
    """The send rate of one budget: slow start, then CUBIC after throttles (see the module docstring)."""

    def __init__(self, policy: PacingPolicy, now: float) -> None:
        self.policy = policy
        self.w_max: float | None = None  # None: no throttle seen yet (slow start)
        self.k = 0.0
        self.last_throttle = now
        self._start = policy.initial_rate
        self.refused = 0  # throttles since the last accepted call
        self._ok: deque[float] = deque()

    def measured(self, now: float) -> float:
        """Accepted (successful) calls per second over the last ``window`` seconds."""
        while self._ok and self._ok[0] <= now - self.policy.window:
            self._ok.popleft()
        return len(self._ok) / self.policy.window

    def rate(self, now: float) -> float:
        p = self.policy
        if self.refused >= 2:  # STS refuses everything: one probe per 1/min_rate s until a call passes
            return p.min_rate
        cubic = None if self.w_max is None else p.scale * (now - self.last_throttle - self.k) ** 3 + self.w_max
        raw = self._start if cubic is None else cubic
        ceiling = max(p.initial_rate, 2 * self.measured(now))
        return max(p.min_rate, min(p.max_rate, raw, ceiling))

    def success(self, now: float) -> None:
        self._ok.append(now)
        self.refused = 0
        if self.w_max is None:
            self._start = min(self.policy.max_rate, self._start + self.policy.slow_start)

    def throttled(self, now: float, sent: float) -> float:
        """Record a throttle of a call sent at ``sent``; returns the new rate. A call already in flight at
        the last slow-down does not slow down again (one reduction per round trip, as TCP)."""
        if self.w_max is not None and sent < self.last_throttle:
            return self.rate(now)
        current, accepted = self.rate(now), self.measured(now)
        self.refused += 1
        self.w_max = max(self.policy.min_rate, min(current, accepted) if accepted > 0 else current)
        self.k = (self.w_max * (1 - self.policy.beta) / self.policy.scale) ** (1 / 3)
        self.last_throttle = now
        return self.rate(now)


class StsBudget:
    """One rate budget: a token bucket refilled at the adaptive rate, and the queue of fetches waiting for it."""

    def __init__(self, key: tuple[str, str], policy: PacingPolicy, clock: Callable[[], float],
                 sleep: Callable[[float], None]) -> None:
        self.key, self.policy, self.clock, self.sleep = key, policy, clock, sleep
        self._lock = threading.Lock()
        now = clock()
        self.rate = AdaptiveRate(policy, now)
        self._tokens = max(1.0, policy.initial_rate)
        self._at = now
        self._queue: list[tuple[int, int, Ticket]] = []  # (priority, seq, ticket); stale rows skipped
        self._waiting = 0
        self.closed = False
        self.granted = 0
        self.throttles = 0

    # -- queue -----------------------------------------------------------------------------------
    def _head(self) -> Ticket | None:
        q = self._queue
        while q:
            priority, _, ticket = q[0]
            if ticket.queued and priority == ticket.priority:
                return ticket
            heapq.heappop(q)  # left the queue, or the row from before a promotion
        return None

    def _enqueue(self, ticket: Ticket) -> None:
        ticket.budget = self  # set before the priority is read, so a concurrent promote() is never lost
        if not ticket.queued:
            ticket.queued = True
            self._waiting += 1
        heapq.heappush(self._queue, (ticket.priority, ticket.seq, ticket))

    def requeue(self, ticket: Ticket) -> None:
        """A queued ticket's priority was raised: give it a row at its new place."""
        with self._lock:
            if ticket.queued:
                heapq.heappush(self._queue, (ticket.priority, ticket.seq, ticket))

    def _leave(self, ticket: Ticket) -> None:
        if ticket.queued:
            ticket.queued = False
            self._waiting -= 1
        head = self._head()
        if head is not None:
            head.wake.set()  # the next in line now checks the bucket

    # -- tokens ----------------------------------------------------------------------------------
    def _refill(self, now: float, rate: float) -> None:
        self._tokens = min(max(1.0, rate), self._tokens + max(0.0, now - self._at) * rate)
        self._at = now

    def acquire(self, ticket: Ticket, deadline: float) -> float:
        """Wait for this ticket's turn and one token; returns the seconds waited. Raises
        :class:`BudgetTimeout` rather than wait past ``deadline`` (clock time), :class:`BudgetClosed`."""
        start = self.clock()
        with self._lock:
            self._enqueue(ticket)
        try:
            while True:
                with self._lock:
                    if self.closed:
                        raise BudgetClosed()
                    now = self.clock()
                    head = self._head()
                    delay: float | None = None
                    if head is ticket:
                        rate = self.rate.rate(now)
                        self._refill(now, rate)
                        if self._tokens >= 1.0:
                            self._tokens -= 1.0
                            self.granted += 1
                            self._leave(ticket)
                            return now - start
                        delay = (1.0 - self._tokens) / rate
                    ahead = self._waiting - 1
                    ticket.wake.clear()
                if now + (delay or 0.0) > deadline:
                    raise BudgetTimeout(now - start, ahead)
                if delay is not None:
                    self.sleep(delay)
                else:  # not our turn: the ticket ahead wakes us when it leaves (or re-check every second)
                    ticket.wake.wait(min(1.0, max(0.01, deadline - now)))
        except BaseException:
            with self._lock:
                self._leave(ticket)
            raise

    def succeeded(self) -> None:
        with self._lock:
            self.rate.success(self.clock())

    def throttled(self, sent: float) -> float:
        """STS throttled a call sent at ``sent`` (clock time): slow down. Returns the new rate."""
        with self._lock:
            self.throttles += 1
            now = self.clock()
            rate = self.rate.throttled(now, sent)
            self._refill(now, rate)
            self._tokens = min(self._tokens, 0.0)  # the call just refused used what was there
            return rate

    def close(self) -> None:
        """Wake every waiting fetch; each raises :class:`BudgetClosed`."""
        with self._lock:
            self.closed = True
            for _, _, ticket in self._queue:
                ticket.wake.set()

    def state(self) -> dict[str, float]:
        """Secret-free figures for logs and tests: rate, w_max, queued, granted, throttles."""
        with self._lock:
            now = self.clock()
            w_max = self.rate.w_max
            return {"rate": self.rate.rate(now), "w_max": math.nan if w_max is None else w_max,
                    "queued": float(self._waiting), "granted": float(self.granted),
                    "throttles": float(self.throttles)}


class Budgets:
    """The budgets of one engine, one per (calling identity key, STS endpoint), created on first use."""

    def __init__(self, policy: PacingPolicy, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.policy, self.clock, self.sleep = policy, clock, sleep
        self._lock = threading.Lock()
        self._budgets: dict[tuple[str, str], StsBudget] = {}

    def __call__(self, caller_key: str, sts_url: str) -> StsBudget:
        key = (caller_key, sts_url)
        with self._lock:
            budget = self._budgets.get(key)
            if budget is None:
                budget = self._budgets[key] = StsBudget(key, self.policy, self.clock, self.sleep)
            return budget

    def all(self) -> list[StsBudget]:
        with self._lock:
            return list(self._budgets.values())

    def close(self) -> None:
        """Wake every waiting fetch; they raise :class:`BudgetClosed`."""
        for budget in self.all():
            budget.close()
