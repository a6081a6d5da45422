"""Shared parts of the proxy benchmarks: statistics, markdown tables, and which process made a wire call.

Which worker made a call: the stand-in records each caller's ``host:port`` (``StsCall.peer``,
``BedrockCall.peer``). While the benchmark runs, :class:`PortOwners` samples ``/proc`` (Linux) every
200 ms and maps every local TCP port owned by a process of the proxy's process tree to that process.
The proxy's STS and Bedrock connections are keep-alive, so each stays open (and is sampled) for as long
as it is used; a call whose port was never seen open is reported as unattributed.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from importlib.metadata import version

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

MODEL = "us.anthropic.claude-sonnet-4-6"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..1); nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.1f} ms"


def table(head: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def versions() -> str:
    py = sys.version.split()[0]
    return f"LiteLLM {version('litellm')}, openai {version('openai')}, Python {py}, {os.cpu_count()} CPUs"


# -- processes ------------------------------------------------------------------------------------------


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (from /proc/*/stat)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as fh:
                stat = fh.read()
        except OSError:
            continue
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = [root], [root]
    while frontier:
        children = [pid for pid, ppid in parents.items() if ppid in frontier]
        tree += children
        frontier = children
    return tree


def rss_bytes(pids: Iterable[int]) -> int:
    """Summed resident set size (VmRSS) of ``pids``."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _local_ports_by_inode() -> dict[int, int]:
    ports = {}
    for table_path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table_path, encoding="utf-8") as fh:
                next(fh)
                for line in fh:
                    fields = line.split()
                    ports[int(fields[9])] = int(fields[1].rsplit(":", 1)[1], 16)
        except (OSError, StopIteration):
            continue
    return ports


class PortOwners:
    """Samples which process of ``root``'s tree owns each local TCP port (see the module docstring)."""

    def __init__(self, root: int, interval: float = 0.2) -> None:
        self.root = root
        self.interval = interval
        self.owner: dict[int, int] = {}  # local port -> pid (first owner seen)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="bench-port-owners")

    def sample(self) -> None:
        by_inode = _local_ports_by_inode()
        for pid in process_tree(self.root):
            for inode in _socket_inodes(pid):
                port = by_inode.get(inode)
                if port is not None:
                    self.owner.setdefault(port, pid)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> PortOwners:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def pid_of(self, peer: str | None) -> int | None:
        if not peer:
            return None
        return self.owner.get(int(peer.rsplit(":", 1)[1]))
