"""The cache's two kinds of thread: a spawner that starts refresh workers without blocking the caller,
and a scheduler that wakes up when the earliest refresh is due. Both stop and are joined on close."""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
import time
from collections.abc import Callable
from typing import Any


class Spawner:
    """Runs each job in a fresh thread ``<name>:refresh``. Thread.start() blocks until the new thread runs
    (and that thread then holds the GIL), so starts are handed to one spawner thread and an event-loop
    caller returns at once. A fresh thread per job (refreshes are rare): a bounded pool could deadlock
    when a chain hop waits on the hop below it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._workers: set[threading.Thread] = set()  # jobs still running
        self.closed = False

    def submit(self, job: Callable[[], None]) -> bool:
        """Queue ``job``; False (not run) once closed."""
        with self._lock:
            if self.closed:
                return False
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True, name=f"{self.name}:spawner")
                self._thread.start()
        self._queue.put(job)
        return True

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:  # close()
                return
            thread = threading.Thread(target=self._work, args=(job,), daemon=True, name=f"{self.name}:refresh")
            with self._lock:
                self._workers.add(thread)
            thread.start()

    def _work(self, job: Callable[[], None]) -> None:
        try:
            job()
        finally:
            with self._lock:
                self._workers.discard(threading.current_thread())

    def close(self, deadline: float) -> None:
        """Stop the spawner, then join it and every running job until ``deadline`` (monotonic)."""
        with self._lock:
            self.closed = True
            spawner = self._thread
        if spawner is not None:
            self._queue.put(None)
            spawner.join(max(0.0, deadline - time.monotonic()))
        while True:
            with self._lock:
                workers = [t for t in self._workers if t is not threading.current_thread()]
            if not workers or time.monotonic() >= deadline:
                return
            for thread in workers:
                thread.join(max(0.0, deadline - time.monotonic()))


class Scheduler:
    """Items due at a clock time; one thread ``<name>:scheduler`` (started by the first :meth:`push`, when
    ``enabled``) calls ``on_due()`` whenever the earliest is reached. Without the thread, the owner calls
    :meth:`pop_due` itself (tests step the clock)."""

    def __init__(self, name: str, clock: Callable[[], float], on_due: Callable[[], Any], *, enabled: bool) -> None:
        self.name, self.clock, self.on_due, self.enabled = name, clock, on_due, enabled
        self._lock = threading.Lock()
        self._cv = threading.Condition(self._lock)
        self._due: list[tuple[float, int, Any]] = []
        self._seq = itertools.count()  # heap tiebreaker: items don't order
        self._thread: threading.Thread | None = None
        self.closed = False

    def push(self, at: float, item: Any) -> None:
        with self._lock:
            heapq.heappush(self._due, (at, next(self._seq), item))
            self._cv.notify_all()
            if self.enabled and self._thread is None and not self.closed:
                self._thread = threading.Thread(target=self._run, daemon=True, name=f"{self.name}:scheduler")
                self._thread.start()

    def pop_due(self, now: float) -> list[Any]:
        with self._lock:
            ready = []
            while self._due and self._due[0][0] <= now:
                ready.append(heapq.heappop(self._due)[2])
            return ready

    def _run(self) -> None:
        while True:
            with self._lock:
                if self.closed:
                    return
                wait = (self._due[0][0] - self.clock()) if self._due else 60.0
                if wait > 0:
                    self._cv.wait(timeout=min(wait, 60.0))
                    continue
            self.on_due()

    def close(self, deadline: float) -> None:
        with self._lock:
            self.closed = True
            self._cv.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
