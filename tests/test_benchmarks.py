"""Smoke runs of the proxy benchmarks: each script, at tiny sizes, must print its table and route every
request to its own account on the wire. Speed is not asserted (CI machines vary); the numbers printed
here are not representative."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.proxy

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def run(script: str, *args: str) -> str:
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True")
    done = subprocess.run([sys.executable, str(BENCH / script), "--quick", *args], env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, f"{script} exited {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"
    return done.stdout


def row(out: str, first_cell: str) -> list[str]:
    """The cells of the markdown table row whose first cell is ``first_cell``."""
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no table row starting with {first_cell!r} in:\n{out}")


def test_proxy_load_routes_every_request_to_its_department() -> None:
    out = run("proxy_load.py", "--workers", "1", "--requests", "40")
    cells = row(out, "1")  # the 1-worker row
    assert cells[1].startswith("40 (10 stream, 13 tools)"), cells
    assert (cells[3], cells[4]) == ("0", "0"), f"misrouted/failed: {cells}\n{out}"
    # one worker: it fetched one credential per department (5 roles) and served all 40 wire calls
    assert cells[8].startswith("w1: 5 (5 roles); total 5"), cells
    assert cells[9] == "w1: 40", cells
    assert "Goal met: 0 misrouted, 0 failed." in out


def test_proxy_overhead_prints_ratios_for_every_path() -> None:
    out = run("proxy_overhead.py")
    for kind in ("non-stream", "stream"):
        ratios = [line for line in out.splitlines() if line.startswith(f"| {kind} | **xacct ÷ native**")]
        assert len(ratios) == 1, out
        assert re.search(r"\*\*\d+\.\d\d\*\*", ratios[0]), ratios[0]
        for group in ("native", "xacct", "floor"):
            failed, sent = row_failed(out, kind, group)
            assert failed == 0 and sent > 0, (kind, group, out)
    assert re.search(r"not signed by 111111111111 or not answered 200: 0;", out), out
    lines = out.split("### SDK path", 1)[1].splitlines()
    sdk = [cells for cells in (line.strip().strip("|").split("|") for line in lines)
           if len(cells) == 8 and cells[1].strip().isdigit()]
    assert [c[0].strip() for c in sdk] == ["non-stream", "stream"], out  # in-process native vs xacct, both kinds
    assert all(re.fullmatch(r"\*\*\d+\.\d\d\*\*", c[4].strip()) for c in sdk), sdk


def row_failed(out: str, kind: str, group: str) -> tuple[int, int]:
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[:2] == [kind, group]:
            failed, sent = cells[-1].split(" / ")
            return int(failed), int(sent)
    raise AssertionError(f"no row for {kind} {group}:\n{out}")


def test_scale_states_memory_and_sts_per_deployment() -> None:
    out = run("scale.py", "--deployments", "12", "--baseline", "2", "--lifetime", "12", "--steady", "8")
    assert row(out, "cold fan-out: misrouted (wire)")[1:3] == ["0", "0"], out
    answered = row(out, next(line.split("|")[1].strip() for line in out.splitlines()
                             if "AssumeRole answered / throttled" in line))
    ok_big, throttled_big = (int(x) for x in answered[2].split(" / "))
    assert ok_big >= 12 and throttled_big >= 0, answered  # every deployment got a credential at least once
    assert row(out, "GOAL failed first requests (goal 0)")[1:3] == ["0", "0"], out  # paced, not failed
    assert "fan-out within 1.2 x quota time" in out, out
    assert re.search(r"\| RSS after startup \| \d+ MiB \| \d+ MiB \| -?\d+\.\d KiB \|", out), out
    steady = row(out, "steady: AssumeRole in the window (answered)")
    assert int(steady[2]) > 0 and steady[3].endswith("per hour (rule: 600.0)"), steady  # L=12 s: every 6 s


def test_metrics_agree_with_the_wire() -> None:
    out = run("metrics.py")
    assert "Every counted figure agrees with the wire." in out, out
    assert re.search(r"secrets the stand-in issued found on /metrics: 0 of [1-9]", out), out
    ok = [line for line in out.splitlines() if "outcome=ok" in line and line.rstrip().endswith("| yes |")]
    assert len(ok) == 3, out  # one series per role that signed traffic, each equal to the wire
    assert re.search(r"outcome=throttled \| [1-9]", out), out
