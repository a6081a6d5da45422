"""Loopback server plumbing both stand-in servers share: :class:`LoopbackServerMixin` (socket tweaks for a
local server under load) and starting / stopping a server on its own thread."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any


class LoopbackServerMixin:
    """Socket tweaks for a local stand-in under load, mixed into a ``socketserver.TCPServer`` subclass.

    A deep listen backlog (no resets under a burst of connections), TCP_NODELAY on every accepted
    socket (no ~25 ms Nagle/delayed-ACK stall per keep-alive request), and tracking of open connections
    so :meth:`close_connections` can end idle keep-alive handler threads on stop.
    """

    request_queue_size = 512

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()  # type: ignore[misc]
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._open_lock:
            self._open.add(sock)
        return sock, addr

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)  # type: ignore[misc]

    def close_connections(self) -> None:
        """Shut down every accepted connection still open (idle keep-alives would otherwise linger)."""
        with self._open_lock:
            open_now = list(self._open)
        for sock in open_now:
            with contextlib.suppress(OSError):  # already closed by the peer
                sock.shutdown(socket.SHUT_RDWR)


def serve_in_thread(server: Any, name: str) -> threading.Thread:
    """Run ``server.serve_forever`` on a daemon thread; a short poll keeps ``shutdown()`` quick."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name,
                              daemon=True)
    thread.start()
    return thread


def stop_server(server: Any, thread: threading.Thread | None) -> None:
    """Stop accepting, end open connections, close the socket and join the serving thread."""
    server.shutdown()
    server.close_connections()
    server.server_close()
    if thread is not None:
        thread.join(timeout=5)
