"""Load through a real proxy: 4 departments + ``default``, mixed traffic, 1 and 2 workers, judged on the wire.

Usage::

    LITELLM_LOCAL_MODEL_COST_MAP=True python benchmarks/proxy_load.py            # 2,000 requests x {1, 2} workers
    LITELLM_LOCAL_MODEL_COST_MAP=True python benchmarks/proxy_load.py --quick    # smoke run: 120 requests, 2 workers

A ``litellm --config`` proxy (:class:`litellm_xacct.testing.ProxyProcess`) serves one model name from five
``bedrock-xacct`` deployments: ``dept-a`` .. ``dept-d`` and ``default``, each a role in its own account
(tag routing, ``router_settings.enable_tag_filtering``). The official ``openai`` async client sends the
requests at a fixed concurrency: one in four streaming, one in three with a tool, one in five untagged (the
``default`` deployment must take those). Nothing is warmed up: the first requests of each worker fetch
credentials.

How the verdicts are reached:

* **misrouted**: every request's user message carries a unique marker; the Bedrock stand-in keeps each
  call's body and the identity whose key signed it. A request is misrouted if any wire call with its
  marker was signed by another role than its department's. The reply text is not trusted for this.
* **failed**: the client raised, or the reply did not name the department's account, or no wire call
  with its marker was answered 200.
* **AssumeRole per worker**: each worker is its own process with its own credential engine, and every
  AssumeRole answer is a fresh access key. The stand-in records the caller's port for every Bedrock call
  and ``PortOwners`` maps ports to worker processes (see ``benchmarks/_proxybench.py``); the distinct
  keys a worker signed with are the AssumeRole answers it fetched. Their sum is checked against the STS
  log's count (a fetched credential never used would show as "never used").
* latency: request sent to last byte (streams: last chunk) at the client; requests/s = requests / wall.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import re
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from _proxybench import MODEL, PortOwners, log, ms, pct, process_tree, table, versions

MODEL_NAME = "claude-sonnet"
DEPARTMENTS = {  # tag -> role (each in its own account)
    "dept-a": "arn:aws:iam::111111111111:role/bench-dept-a",
    "dept-b": "arn:aws:iam::222222222222:role/bench-dept-b",
    "dept-c": "arn:aws:iam::333333333333:role/bench-dept-c",
    "dept-d": "arn:aws:iam::444444444444:role/bench-dept-d",
    "default": "arn:aws:iam::555555555555:role/bench-platform",
}
TAGS = ["dept-a", "dept-b", "dept-c", "dept-d", None]  # None: untagged, must land on `default`
TOOL = {"type": "function", "function": {
    "name": "lookup_signer", "description": "Look up who signed the request.",
    "parameters": {"type": "object", "properties": {"signer": {"type": "string"}}, "required": ["signer"]}}}
MARKER = re.compile(r"bench-\d{5}-[0-9a-f]{8}")


def config() -> dict[str, Any]:
    deployments = [{
        "model_name": MODEL_NAME,
        "litellm_params": {"model": f"bedrock-xacct/{MODEL}", "aws_region_name": "us-east-1",
                           "aws_role_name": role, "aws_session_name": f"gw-{tag}", "tags": [tag]},
        "model_info": {"base_model": MODEL},
    } for tag, role in DEPARTMENTS.items()]
    return {"model_list": deployments, "router_settings": {"enable_tag_filtering": True},
            "litellm_settings": {"drop_params": True}}


@dataclass
class Request:
    index: int
    tag: str | None
    stream: bool
    tools: bool
    marker: str = field(default_factory=str)
    latency: float = 0.0
    error: str | None = None

    @property
    def role(self) -> str:
        return DEPARTMENTS[self.tag or "default"]

    @property
    def account(self) -> str:
        return self.role.split(":")[4]


def plan(n: int, seed: int) -> list[Request]:
    requests = [Request(i, TAGS[i % 5], stream=i % 4 == 0, tools=i % 3 == 1,
                        marker=f"bench-{i:05d}-{uuid.uuid4().hex[:8]}") for i in range(n)]
    random.Random(seed).shuffle(requests)
    return requests


async def send(client: Any, req: Request) -> None:
    kwargs: dict[str, Any] = {"model": MODEL_NAME,
                              "messages": [{"role": "user", "content": f"who signed this request? {req.marker}"}],
                              "extra_body": {"tags": [req.tag]} if req.tag else {}}
    if req.tools:
        kwargs["tools"] = [TOOL]
    started = time.perf_counter()
    try:
        if req.stream:
            stream = await client.chat.completions.create(stream=True, stream_options={"include_usage": True},
                                                          **kwargs)
            parts: list[str] = []
            async for chunk in stream:
                for choice in chunk.choices:
                    parts.append(choice.delta.content or "")
                    for call in choice.delta.tool_calls or []:
                        parts.append((call.function and call.function.arguments) or "")
            text = "".join(parts)
        else:
            response = await client.chat.completions.create(**kwargs)
            message = response.choices[0].message
            text = (message.content or "") + "".join(c.function.arguments for c in message.tool_calls or [])
        req.latency = time.perf_counter() - started
        if req.account not in text:
            req.error = f"reply does not name account {req.account}: {text[:80]!r}"
    except Exception as exc:  # noqa: BLE001 - every failure is a data point
        req.latency = time.perf_counter() - started
        req.error = f"{type(exc).__name__}: {str(exc)[:160]}"


async def drive(proxy: Any, requests: list[Request], concurrency: int) -> float:
    client = proxy.async_openai_client(timeout=120.0)
    gate = asyncio.Semaphore(concurrency)

    async def one(req: Request) -> None:
        async with gate:
            await send(client, req)

    started = time.perf_counter()
    await asyncio.gather(*(one(r) for r in requests))
    wall = time.perf_counter() - started
    await client.close()
    return wall


def judge(requests: list[Request], aws: Any, owners: PortOwners, proxy_pid: int) -> dict[str, Any]:
    by_marker: dict[str, list[Any]] = collections.defaultdict(list)
    unmarked = 0
    calls = aws.bedrock_calls()
    for call in calls:
        found = MARKER.search(json.dumps(call.body or {}))
        if found:
            by_marker[found.group(0)].append(call)
        else:
            unmarked += 1
    misrouted, failed, retried, errors = [], [], 0, collections.Counter()
    for req in requests:
        wire = by_marker.get(req.marker, [])
        if any(c.role_arn != req.role for c in wire):
            misrouted.append(req.index)
        retried += max(0, len(wire) - 1)
        if req.error or not any(c.status == 200 for c in wire):
            failed.append(req.index)
            errors[(req.error or "no answered wire call")[:100]] += 1
    # Each AssumeRole answer is a fresh access key, and a worker signs only with keys its own engine
    # fetched: the distinct keys a worker's Bedrock calls were signed with are the AssumeRole answers it
    # fetched (and used). Bedrock connections are keep-alive, so their ports map to worker processes.
    per_worker: dict[int, dict[str, Any]] = {}
    for call in calls:
        w = per_worker.setdefault(owners.pid_of(call.peer) or 0, {"bedrock": 0, "keys": set(), "roles": set()})
        w["bedrock"] += 1
        if call.access_key_id:
            w["keys"].add(call.access_key_id)
            w["roles"].add(call.role_arn)
    answered = [c for c in aws.sts_calls("AssumeRole") if c.status == 200]
    return {"misrouted": misrouted, "failed": failed, "retried": retried, "errors": dict(errors),
            "unmarked_calls": unmarked, "assume_role": len(answered), "per_worker": per_worker,
            "assume_role_unused": len(answered) - sum(len(w["keys"]) for w in per_worker.values()),
            "get_caller_identity": len(aws.sts_calls("GetCallerIdentity")), "proxy_pid": proxy_pid}


def run_one(workers: int, n: int, concurrency: int, seed: int) -> dict[str, Any]:
    from litellm_xacct.testing import LocalAWS, ProxyProcess, Role

    requests = plan(n, seed)
    with LocalAWS(roles=[Role(r) for r in DEPARTMENTS.values()]) as aws:
        t0 = time.perf_counter()
        with ProxyProcess(config(), aws, num_workers=workers, startup_timeout=240) as proxy:
            startup = time.perf_counter() - t0
            assert proxy.pid is not None
            log(f"{workers} worker(s): proxy ready in {startup:.1f} s, pids {process_tree(proxy.pid)}; "
                f"sending {n} requests at concurrency {concurrency}")
            with PortOwners(proxy.pid) as owners:
                wall = asyncio.run(drive(proxy, requests, concurrency))
                owners.sample()
            verdict = judge(requests, aws, owners, proxy.pid)
    ok = [r.latency for r in requests if r.index not in set(verdict["failed"])]
    return {"workers": workers, "requests": n, "concurrency": concurrency, "wall": wall, "startup": startup,
            "streaming": sum(r.stream for r in requests), "tools": sum(r.tools for r in requests),
            "p50": pct(ok, 0.5), "p99": pct(ok, 0.99), "rps": n / wall, **verdict}


def per_worker(result: dict[str, Any]) -> tuple[str, str]:
    ws = sorted(result["per_worker"].items(), key=lambda kv: (kv[0] == 0, kv[0]))
    named = [(f"w{i + 1}" if pid else "unattributed", w) for i, (pid, w) in enumerate(ws)]
    assume = ", ".join(f"{name}: {len(w['keys'])} ({len(w['roles'])} roles)" for name, w in named)
    assume += f"; total {result['assume_role']}"
    if result["assume_role_unused"]:
        assume += f" ({result['assume_role_unused']} never used)"
    served = ", ".join(f"{name}: {w['bedrock']}" for name, w in named)
    return assume, served


def render(results: list[dict[str, Any]], quick: bool) -> str:
    rows = []
    for r in results:
        assume, served = per_worker(r)
        rows.append([r["workers"], f"{r['requests']} ({r['streaming']} stream, {r['tools']} tools)",
                     r["concurrency"], len(r["misrouted"]), len(r["failed"]), ms(r["p50"]), ms(r["p99"]),
                     f"{r['rps']:.1f}", assume, served])
    head = ["workers", "requests", "concurrency", "misrouted", "failed", "p50", "p99", "requests/s",
            "AssumeRole per worker", "Bedrock calls per worker"]
    out = table(head, rows)
    out += "\n\n" + versions()
    if quick:
        out += "\n\n**QUICK smoke run: small numbers, not representative.**"
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 120 requests, 2 workers only")
    parser.add_argument("--requests", type=int, help="requests per worker setting (default 2000)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", default=None, help="comma-separated worker counts (default 1,2)")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--json", metavar="PATH", help="also write the raw results as JSON")
    args = parser.parse_args()
    n = args.requests or (120 if args.quick else 2000)
    worker_counts = [int(w) for w in (args.workers or ("2" if args.quick else "1,2")).split(",")]
    concurrency = min(args.concurrency, 16) if args.quick else args.concurrency
    started = time.monotonic()
    results = [run_one(w, n, concurrency, args.seed) for w in worker_counts]
    print(render(results, args.quick))
    missed = []
    for r in results:
        if r["misrouted"] or r["failed"]:
            missed.append(f"{r['workers']} worker(s): {len(r['misrouted'])} misrouted, {len(r['failed'])} "
                          f"failed {r['errors']}")
        if r["unmarked_calls"] or 0 in r["per_worker"]:
            missed.append(f"{r['workers']} worker(s): {r['unmarked_calls']} wire calls without a marker, "
                          f"{r['per_worker'].get(0, {}).get('bedrock', 0)} not attributed to a worker")
    print()
    print("Goal MISSED: " + "; ".join(missed) if missed else "Goal met: 0 misrouted, 0 failed.")
    print(f"\nwall time {time.monotonic() - started:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=1, default=lambda o: sorted(o) if isinstance(o, set) else str(o))
    return 1 if any(r["misrouted"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
