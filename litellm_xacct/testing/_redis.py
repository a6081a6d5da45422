"""A throwaway ``redis-server`` on 127.0.0.1 for tests and benchmarks (replicas sharing cooldowns).

Example::

    with RedisServer() as redis:
        ProxyProcess(config_with(redis_host="127.0.0.1", redis_port=redis.port), aws)

No persistence (``--save ""``, no AOF), a fresh directory, a free port; stopped and removed on exit.
Debian's ``redis-server`` package provides the binary (``make services`` installs it).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from ._proxy import free_port


class RedisServerMissing(RuntimeError):
    """``redis-server`` is not on PATH."""


class RedisServer:
    """``redis-server`` on a free 127.0.0.1 port, in its own fresh directory. Use as a context manager."""

    def __init__(self, startup_timeout: float = 20.0) -> None:
        self.binary = shutil.which("redis-server")
        self.port = 0
        self.startup_timeout = startup_timeout
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        if self.binary is None:
            raise RedisServerMissing("redis-server is not installed: run `make services` (as root: apt-get "
                                     "install redis-server)")
        self._dir = Path(tempfile.mkdtemp(prefix="xacct-redis-"))
        self.port = free_port()
        self._proc = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self._dir), "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + self.startup_timeout
        while not self._pong():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer PING on 127.0.0.1:{self.port}")
            time.sleep(0.05)
        return self

    def _pong(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server and remove its directory. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
