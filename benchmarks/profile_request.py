"""Where one proxied request spends its time: ``bedrock-xacct/`` beside native ``bedrock/``, plain and stream.

One ``litellm --config`` proxy (one worker) serves the ``native``, ``xacct`` and ``floor`` groups of
``proxy_overhead.py`` (same role, same Bedrock fake). A ``sitecustomize`` module put on the proxy's
``PYTHONPATH`` arms cProfile in the proxy process: SIGUSR1 starts profiling the event-loop thread, SIGUSR2
stops it and writes the stats. For each (group, mode) cell, after a warm-up, ``--requests`` sequential
requests are profiled; the report prints, per cell, the profiled CPU time per request and the top
functions by cumulative time per request: first those of litellm_xacct (provider, guard, transport), then
LiteLLM's own.

Measure-only: it changes nothing. Limits: only the event-loop thread is profiled (work LiteLLM runs in its
thread pool, such as 1.108.7 opening a custom provider's stream, is not seen); cProfile inflates the cost
of many small calls, so compare cells against each other, not against wall-clock benchmarks.

    python benchmarks/profile_request.py [--requests 200] [--top 12]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _proxybench import log, versions  # noqa: E402
from proxy_overhead import FLOOR_MODULE, MESSAGES, ROLE, config  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SITECUSTOMIZE = '''
"""Benchmark hook (benchmarks/profile_request.py): cProfile the event-loop thread between SIGUSR1 and SIGUSR2."""
import cProfile, os, signal

_out = os.environ.get("XACCT_PROFILE_OUT")
if _out:
    _state = {"profile": None, "n": 0}

    def _start(signum, frame):
        _state["profile"] = cProfile.Profile()
        _state["profile"].enable()

    def _stop(signum, frame):
        profile, _state["profile"] = _state["profile"], None
        if profile is not None:
            profile.disable()
            _state["n"] += 1
            path = f"{_out}.{_state['n']}"
            profile.dump_stats(path + ".tmp")
            os.replace(path + ".tmp", path)

    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _stop)
'''


async def _send(proxy: Any, group: str, stream: bool, count: int) -> None:
    client = proxy.async_openai_client()  # one per event loop: asyncio.run closes its loop
    for _ in range(count):
        if stream:
            response = await client.chat.completions.create(model=group, messages=MESSAGES, stream=True)
            async for _chunk in response:
                pass
        else:
            await client.chat.completions.create(model=group, messages=MESSAGES)
    await client.close()


def _wait_for(path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the proxy wrote no profile at {path}")
        time.sleep(0.05)


def profile_cells(proxy: Any, out: str, requests: int) -> dict[tuple[str, bool], pstats.Stats]:
    """Profile ``requests`` sequential requests per (group, stream) cell in the proxy process."""
    cells: dict[tuple[str, bool], pstats.Stats] = {}
    number = 0
    for stream in (False, True):
        for group in ("native", "xacct", "floor"):
            asyncio.run(_send(proxy, group, stream, 5))  # warm: credentials, imports
            os.killpg(proxy.pid, signal.SIGUSR1)  # the proxy runs in its own session: group id == pid
            asyncio.run(_send(proxy, group, stream, requests))
            os.killpg(proxy.pid, signal.SIGUSR2)
            number += 1
            path = Path(f"{out}.{number}")
            _wait_for(path)
            cells[(group, stream)] = pstats.Stats(str(path))
            log(f"profiled {group} {'stream' if stream else 'plain'}")
    return cells


def _rows(stats: pstats.Stats, requests: int, match: str, top: int) -> list[tuple[float, float, int, str]]:
    rows = []
    for (filename, line, name), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        if match in filename:
            short = filename.split("site-packages/")[-1].split("/wt/ops/")[-1]
            rows.append((cumtime / requests * 1000, tottime / requests * 1000, calls // requests,
                         f"{short}:{line}({name})"))
    return sorted(rows, reverse=True)[:top]


def report(cells: dict[tuple[str, bool], pstats.Stats], requests: int, top: int) -> str:
    lines = [f"{versions()}; {requests} sequential requests per cell, cProfile on the proxy's event-loop thread",
             "", "| cell | profiled ms/request (loop idle excluded) | litellm_xacct cumulative ms/request "
             "(top function) |",
             "|---|---|---|"]
    for (group, stream), stats in cells.items():
        ours = _rows(stats, requests, "litellm_xacct", 1)
        top_ours = f"{ours[0][0]:.2f} ({ours[0][3]})" if ours else "-"
        idle = sum(tt for (_, _, name), (_, _, tt, _, _) in stats.stats.items()  # type: ignore[attr-defined]
                   if "poll" in name and ("epoll" in name or "select" in name))  # the loop waiting for I/O
        total = (stats.total_tt - idle) / requests * 1000  # type: ignore[attr-defined]
        lines.append(f"| {group} {'stream' if stream else 'plain'} | {total:.2f} | {top_ours} |")
    for (group, stream), stats in cells.items():
        if group == "floor":
            continue
        label = f"{group} {'stream' if stream else 'plain'}"
        for title, match in (("litellm_xacct", "litellm_xacct"), ("LiteLLM bedrock", "llms/bedrock")):
            rows = _rows(stats, requests, match, top)
            if not rows:
                continue
            lines += ["", f"#### {label}: {title} functions by cumulative time (ms per request)", "",
                      "| cumulative | own | calls/request | function |", "|---|---|---|---|"]
            lines += [f"| {c:.3f} | {t:.3f} | {n} | {f} |" for c, t, n, f in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--quick", action="store_true", help="20 requests per cell (smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests = 20
    from litellm_xacct.testing import LocalAWS, ProxyProcess, Role

    with tempfile.TemporaryDirectory(prefix="xacct-profile-") as hook_dir, LocalAWS(roles=[Role(ROLE)]) as aws:
        Path(hook_dir, "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
        out = str(Path(hook_dir, "proxy.prof"))
        path = os.pathsep.join(filter(None, [hook_dir, os.environ.get("PYTHONPATH"), str(REPO)]))
        env = {"AWS_ENDPOINT_URL_STS": aws.sts_endpoint, "XACCT_PROFILE_OUT": out, "PYTHONPATH": path}
        with ProxyProcess(config(aws), aws, env=env, files={"xacct_floor.py": FLOOR_MODULE},
                          startup_timeout=240) as proxy:
            log("proxy ready")
            cells = profile_cells(proxy, out, args.requests)
    print(report(cells, args.requests, args.top))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    sys.exit(main())
