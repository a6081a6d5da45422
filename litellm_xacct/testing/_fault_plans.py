"""AWS-error faults the stand-in servers inject (connection-level faults are in ``_faults``): :class:`Fault`
(an error code, HTTP status and message), :class:`FaultPlan` ("fail the next N calls") and
:class:`RateLimit` (STS's per-account request quota, as a token bucket), with STS's default messages."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    """An injected AWS error: error ``code``, HTTP ``status`` and ``message``."""

    code: str
    status: int
    message: str


class FaultPlan:
    """A thread-safe "fail the next N calls" switch; ``count=None`` fails until :meth:`clear`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fault: Fault | None = None
        self._remaining: int | None = None

    def set(self, fault: Fault, count: int | None) -> None:
        if count is not None and count < 0:
            raise ValueError("count must be >= 0 or None")
        with self._lock:
            self._fault, self._remaining = fault, count

    def take(self) -> Fault | None:
        """The fault to apply to this call (consuming one of the count), or None."""
        with self._lock:
            if self._fault is None:
                return None
            if self._remaining is not None:
                if self._remaining <= 0:
                    self._fault = None
                    return None
                self._remaining -= 1
            return self._fault

    def clear(self) -> None:
        with self._lock:
            self._fault, self._remaining = None, None


class RateLimit:
    """A token bucket in front of STS, like AWS's per-account request quota: beyond ``rate`` calls per
    second (bursts up to ``burst``) a call gets ``Throttling``. Off until :meth:`set`; thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._rate: float | None = None
        self._burst = 0.0
        self._tokens = 0.0
        self._at = 0.0

    def set(self, rate: float | None, burst: float | None = None) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be > 0 calls per second, or None to turn throttling off")
        with self._lock:
            self._rate = rate
            self._burst = self._tokens = float(burst if burst is not None else (rate or 0.0))
            self._at = self._clock()

    def take(self) -> Fault | None:
        """None if this call is within the quota, else the ``Throttling`` fault to answer with."""
        with self._lock:
            if self._rate is None:
                return None
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
            self._at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return None
        return Fault("Throttling", 400, default_sts_message("Throttling"))

    def clear(self) -> None:
        self.set(None)


_STS_DEFAULT_MESSAGES = {
    "Throttling": "Rate exceeded",
    "InternalFailure": "An internal error occurred.",
    "ServiceUnavailable": "Service is unavailable. Please try again later.",
}


def default_sts_message(code: str) -> str:
    return _STS_DEFAULT_MESSAGES.get(code, f"Injected {code} fault")
