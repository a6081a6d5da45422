"""Two LiteLLM proxy replicas sharing one Redis, one department throttled at Bedrock: who signed what.

Starts a throwaway ``redis-server`` (``make services`` installs it), the local AWS stand-in, and two
``litellm --config`` proxies (example_config.yaml + ``router_settings.redis_host/redis_port``), throttles
dept-a's account at Bedrock (``ThrottlingException``, HTTP 429, on every call), then sends requests
round-robin across both replicas for dept-a, dept-b and untagged (platform) traffic. Every Bedrock call is
matched to its request through a marker in the prompt: a call signed by an account other than the
request's department counts as misrouted.

    python benchmarks/replicas.py [--requests 200] [--concurrency 16] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _proxybench import log, ms, pct, table  # noqa: E402

from litellm_xacct.testing import LocalAWS, ProxyProcess, Role  # noqa: E402
from litellm_xacct.testing._redis import RedisServer  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEPT_A = "arn:aws:iam::111111111111:role/litellm-bedrock-dept-a"
DEPT_B = "arn:aws:iam::222222222222:role/litellm-bedrock-dept-b"
PLATFORM = "arn:aws:iam::333333333333:role/litellm-bedrock-platform"
EXTERNAL_ID = "ext-b-replicas"
#: department tag (None: untagged) -> the account that must sign its Bedrock calls
ACCOUNTS: dict[str | None, str] = {"dept-a": "111111111111", "dept-b": "222222222222", None: "333333333333"}
THROTTLED = "111111111111"
_MARK = re.compile(r"\[req (\d+) (dept-a|dept-b|none)\]")


def replica_config(redis_port: int) -> dict[str, Any]:
    """example_config.yaml with the Router's state (cooldowns, usage) in the shared Redis."""
    doc: dict[str, Any] = yaml.safe_load((REPO / "example_config.yaml").read_text(encoding="utf-8"))
    doc.setdefault("router_settings", {}).update({"redis_host": "127.0.0.1", "redis_port": redis_port})
    return doc


def roles() -> list[Role]:
    return [Role(DEPT_A), Role(DEPT_B, external_id=EXTERNAL_ID), Role(PLATFORM)]


@dataclass
class LoadResult:
    """What a load run saw: per-request outcomes and the Bedrock calls matched back to their requests."""

    requests: int
    latencies: list[float] = field(default_factory=list)
    failures: list[tuple[str | None, int, str]] = field(default_factory=list)  # (dept, status, message)
    ok: Counter[str | None] = field(default_factory=Counter)
    bedrock_calls: int = 0
    unmatched_calls: int = 0
    misrouted: list[tuple[str, str]] = field(default_factory=list)  # (request marker, signing account)


async def _one(client: Any, i: int, dept: str | None, result: LoadResult) -> None:
    extra = {"tags": [dept]} if dept else {}
    start = time.perf_counter()
    try:
        await client.chat.completions.create(
            model="claude-sonnet", max_tokens=5, extra_body=extra,
            messages=[{"role": "user", "content": f"[req {i} {dept or 'none'}] hello"}])
        result.ok[dept] += 1
    except Exception as exc:  # every failure is recorded with its status and message, none is hidden
        status = int(getattr(exc, "status_code", 0) or 0)
        result.failures.append((dept, status, str(getattr(exc, "message", exc))))
    result.latencies.append(time.perf_counter() - start)


async def run_load(proxies: Sequence[ProxyProcess], aws: LocalAWS, requests: int, concurrency: int) -> LoadResult:
    """``requests`` chat requests round-robin over ``proxies`` (dept-a, dept-b, untagged in turn) with at most
    ``concurrency`` in flight; then every Bedrock call since the start is matched to its request."""
    before = len(aws.bedrock_calls())
    clients = [p.async_openai_client() for p in proxies]
    result = LoadResult(requests)
    gate = asyncio.Semaphore(concurrency)
    depts: list[str | None] = ["dept-a", "dept-b", None]

    async def guarded(i: int) -> None:
        async with gate:
            await _one(clients[i % len(clients)], i, depts[i % 3], result)

    await asyncio.gather(*(guarded(i) for i in range(requests)))
    for client in clients:
        await client.close()
    calls = aws.bedrock_calls()[before:]
    result.bedrock_calls = len(calls)
    for call in calls:
        found = _MARK.search(json.dumps(call.body or {}))
        if found is None:
            result.unmatched_calls += 1
            continue
        dept = None if found.group(2) == "none" else found.group(2)
        if call.account != ACCOUNTS[dept]:
            result.misrouted.append((found.group(0), str(call.account)))
    return result


def summary_rows(result: LoadResult) -> list[list[str]]:
    by_status = Counter(status for _, status, _ in result.failures)
    failed = ", ".join(f"{n} x {s}" for s, n in sorted(by_status.items())) or "0"
    failed_depts = Counter(d or "untagged" for d, _, _ in result.failures)
    return [[str(result.requests), str(result.bedrock_calls), str(len(result.misrouted)), failed,
             ", ".join(f"{d}: {n}" for d, n in sorted(failed_depts.items())) or "-",
             ms(pct(result.latencies, 0.5)), ms(pct(result.latencies, 0.99))]]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="30 requests, concurrency 6 (smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.concurrency = 30, 6
    env = {"DEPT_B_EXTERNAL_ID": EXTERNAL_ID}
    with RedisServer() as redis, LocalAWS(roles=roles()) as aws:
        config = replica_config(redis.port)
        log(f"redis on 127.0.0.1:{redis.port}; starting two replicas")
        with ProxyProcess(config, aws, env=env) as one, ProxyProcess(config, aws, env=env) as two:
            aws.deny_model(THROTTLED, code="ThrottlingException", status=429)
            log(f"dept-a ({THROTTLED}) throttled at Bedrock; {args.requests} requests, concurrency {args.concurrency}")
            result = asyncio.run(run_load([one, two], aws, args.requests, args.concurrency))
    from importlib.metadata import version

    print(f"LiteLLM {version('litellm')}, 2 replicas sharing one Redis, dept-a throttled at Bedrock (429)\n")
    print(table(["requests", "Bedrock calls", "misrouted", "failed (count x status)", "failed by department",
                 "p50", "p99"], summary_rows(result)))
    messages = Counter((status, msg[:160]) for _, status, msg in result.failures)
    for (status, msg), n in messages.most_common(4):
        print(f"\n{n} x HTTP {status}: {msg}")
    return 0 if not result.misrouted else 1


if __name__ == "__main__":
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    sys.exit(main())
