"""Connection-level faults for the stand-in: STS connection resets and Bedrock streams cut mid-way.

Kept apart from the AWS-error faults (``FaultPlan``): these act on the TCP connection, below HTTP.

* :class:`Countdown` -- a thread-safe "do it to the next N calls" switch (``None``: until cleared).
* :func:`reset_if_planned` -- called by the STS request handler before it reads a request: when a reset
  is planned it waits for the request to arrive, then closes the socket with an RST (SO_LINGER 0), so
  the client sees ``ConnectionResetError`` exactly as when a load balancer drops the connection.
* :func:`send_cut_stream` -- writes the first ``after_frames`` event-stream frames of a streamed answer,
  then closes the connection without the terminating chunk: the client sees an incomplete body.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from typing import Any


class Countdown:
    """Apply something to the next ``count`` calls (``None``: every call until :meth:`clear`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._remaining: int | None = 0
        self._done = 0
        self.after_frames = 1

    def set(self, count: int | None) -> None:
        if count is not None and count < 0:
            raise ValueError("count must be >= 0 or None")
        with self._lock:
            self._remaining = count

    def pending(self) -> bool:
        with self._lock:
            return self._remaining is None or self._remaining > 0

    def take(self) -> bool:
        """Whether to apply it to this call (consuming one of the count)."""
        with self._lock:
            if self._remaining is None:
                self._done += 1
                return True
            if self._remaining > 0:
                self._remaining -= 1
                self._done += 1
                return True
            return False

    @property
    def done(self) -> int:
        """How many times it was applied since creation or :meth:`clear`."""
        with self._lock:
            return self._done

    def clear(self) -> None:
        with self._lock:
            self._remaining, self._done = 0, 0


def _rst_close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close => RST
    with contextlib.suppress(OSError):
        sock.close()


def reset_if_planned(handler: Any, plan: Countdown | None) -> bool:
    """For a request handler about to read a request: if a reset is planned and a request arrives,
    reset the connection and return True (the handler must then stop). Costs nothing when none is planned."""
    if plan is None or not plan.pending():
        return False
    sock: socket.socket = handler.connection
    try:
        arrived = sock.recv(1, socket.MSG_PEEK)  # wait for the request without consuming it
    except OSError:
        return False
    if not arrived or not plan.take():
        return False
    handler.close_connection = True
    _rst_close(sock)
    return True


def send_cut_stream(handler: Any, frames: list[bytes], extra: dict[str, str], after_frames: int) -> None:
    """A 200 event stream that stops after ``after_frames`` frames: no terminating chunk, connection closed."""
    handler._send_head(200, "application/vnd.amazon.eventstream", extra, None)
    handler.close_connection = True
    try:
        for frame in frames[:after_frames]:
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            handler.wfile.flush()
    except OSError:
        return
    _rst_close(handler.connection)
