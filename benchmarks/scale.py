"""Scale in deployments: 1,000 ``bedrock-xacct`` deployments (1,000 roles, 1,000 accounts) in one proxy.

Usage::

    LITELLM_LOCAL_MODEL_COST_MAP=True python benchmarks/scale.py            # 1,000 vs 10 deployments, ~8 min
    LITELLM_LOCAL_MODEL_COST_MAP=True python benchmarks/scale.py --quick    # 40 vs 5 deployments, smoke run

Two proxies are started one after the other (one worker each): a baseline with ``--baseline``
deployments and the big one with ``--deployments``. Each deployment is its own model name, role and
account, all registered in the stand-in. For each proxy:

* **startup**: ``ProxyProcess.start()`` until ``/health/liveliness`` answers;
* **RSS**: resident memory of the proxy's process tree after startup and after the fan-out. Per
  deployment = (RSS big - RSS baseline) / (deployments big - deployments baseline);
* **cold fan-out**: the first request to every deployment, ``--concurrency`` at a time. Every one needs
  an AssumeRole. STS is rate-limited meanwhile (``LocalAWS.throttle_sts``: ``--sts-rate`` calls/s, bursts
  of ``--sts-burst``); the engine's STS pacing queues the fetches for an adaptive budget. A failed request
  whose error names throttling is counted as "failed because STS throttled". Misrouting is judged on the
  wire: each request's message carries its deployment's marker, and the call must be signed by that
  deployment's role. **Goal** (issue 15): 0 failed first requests, AssumeRole calls (answered + throttled)
  <= deployments x 1.05, fan-out wall <= 1.2 x the quota's time (deployments / ``--sts-rate``).

Then, on the big proxy only, **steady refresh load**: the stand-in issues ``--lifetime``-second
credentials (``credential_lifetime``) from the start; after the fan-out the throttle is lifted and a
trickle of requests (``--rate``/s to random deployments) runs for ``--steady`` seconds. AssumeRole
calls in that window, per deployment per hour, are extrapolated to 1-hour credentials by the engine's
refresh rule (refresh when the remaining validity drops below min(15 min, L/2)): one refresh every
L - min(900, L/2) seconds per active deployment.
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
from dataclasses import dataclass
from typing import Any

from _proxybench import MODEL, log, ms, pct, process_tree, rss_bytes, table, versions

THROTTLE = re.compile(r"Throttl|Rate exceeded", re.IGNORECASE)
MARKER = re.compile(r"scale-(\d{5})")


@dataclass(frozen=True)
class Plan:
    deployments: int
    baseline: int
    concurrency: int
    sts_rate: float
    sts_burst: float
    lifetime: int
    steady: float
    rate: float


def role(i: int) -> str:
    return f"arn:aws:iam::{100000000000 + i}:role/scale-{i:05d}"


def config(n: int) -> dict[str, Any]:
    return {"model_list": [{
        "model_name": f"dep-{i:05d}",
        "litellm_params": {"model": f"bedrock-xacct/{MODEL}", "aws_region_name": "us-east-1",
                           "aws_role_name": role(i), "aws_session_name": f"gw-{i:05d}"},
        "model_info": {"base_model": MODEL},
    } for i in range(n)]}


async def ask(client: Any, i: int) -> tuple[float, str | None]:
    started = time.perf_counter()
    try:
        response = await client.chat.completions.create(
            model=f"dep-{i:05d}", messages=[{"role": "user", "content": f"who signed? scale-{i:05d}"}])
        text = response.choices[0].message.content or ""
        error = None if role(i).split(":")[4] in text else f"reply names another account: {text[:60]!r}"
        return time.perf_counter() - started, error
    except Exception as exc:  # noqa: BLE001 - every failure is a data point
        return time.perf_counter() - started, f"{type(exc).__name__}: {str(exc)[:300]}"


async def fan_out(proxy: Any, n: int, concurrency: int) -> tuple[float, list[tuple[float, str | None]]]:
    client = proxy.async_openai_client(timeout=300.0)
    gate = asyncio.Semaphore(concurrency)
    order = list(range(n))
    random.Random(10).shuffle(order)

    async def one(i: int) -> tuple[float, str | None]:
        async with gate:
            return await ask(client, i)

    started = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in order))
    wall = time.perf_counter() - started
    await client.close()
    return wall, [results[order.index(i)] for i in range(n)]


async def trickle(proxy: Any, n: int, rate: float, seconds: float) -> list[tuple[float, str | None]]:
    client = proxy.async_openai_client(timeout=300.0)
    rng = random.Random(11)
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks = []
    for k in range(int(rate * seconds)):
        delay = start + k / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(ask(client, rng.randrange(n))))
    results = list(await asyncio.gather(*tasks))
    await client.close()
    return results


def kinds(errors: list[str]) -> list[tuple[str, int]]:
    """The most common errors, with numbers (deployment, role, account) masked so alike errors group."""
    return collections.Counter(re.sub(r"\d+", "N", e)[:200] for e in errors).most_common(3)


def misrouted(aws: Any, since: float) -> int:
    bad = 0
    for call in aws.bedrock_calls():
        if call.at < since:
            continue
        found = MARKER.search(json.dumps(call.body or {}))
        if found is None or call.role_arn != role(int(found.group(1))):
            bad += 1
    return bad


def run_proxy(n: int, plan: Plan, steady: bool) -> dict[str, Any]:
    from litellm_xacct.testing import LocalAWS, ProxyProcess, Role

    out: dict[str, Any] = {"deployments": n}
    with LocalAWS(roles=[Role(role(i)) for i in range(n)]) as aws:
        aws.credential_lifetime = plan.lifetime
        t0 = time.perf_counter()
        with ProxyProcess(config(n), aws, startup_timeout=900) as proxy:
            out["startup"] = time.perf_counter() - t0
            assert proxy.pid is not None
            time.sleep(2.0)  # let startup's background work settle before reading memory
            out["rss_ready"] = rss_bytes(process_tree(proxy.pid))
            log(f"{n} deployments: ready in {out['startup']:.1f} s, RSS {out['rss_ready'] / 2**20:.0f} MiB; "
                f"cold fan-out at concurrency {plan.concurrency}, STS limited to {plan.sts_rate:g}/s")
            aws.throttle_sts(plan.sts_rate, plan.sts_burst)
            since = time.time()
            wall, results = asyncio.run(fan_out(proxy, n, plan.concurrency))
            aws.throttle_sts(None)
            sts = aws.sts_calls("AssumeRole")
            errors = [e for _, e in results if e]
            out.update({
                "fanout_wall": wall, "fanout_p50": pct([t for t, e in results if not e], 0.5),
                "fanout_p99": pct([t for t, e in results if not e], 0.99),
                "failed": len(errors), "failed_throttled": sum(bool(THROTTLE.search(e)) for e in errors),
                "errors": kinds(errors),
                "assume_ok": sum(c.status == 200 for c in sts),
                "assume_throttled": sum(c.error_code == "Throttling" for c in sts),
                "misrouted": misrouted(aws, since),
            })
            time.sleep(2.0)
            out["rss_after"] = rss_bytes(process_tree(proxy.pid))
            log(f"fan-out: {wall:.1f} s, failed {out['failed']} ({out['failed_throttled']} throttled), "
                f"AssumeRole ok {out['assume_ok']} / throttled {out['assume_throttled']}")
            if steady:
                before = len(aws.sts_calls("AssumeRole"))
                log(f"steady: {plan.rate:g} req/s for {plan.steady:.0f} s, credentials live {plan.lifetime} s")
                t = time.perf_counter()
                results = asyncio.run(trickle(proxy, n, plan.rate, plan.steady))
                window = time.perf_counter() - t
                calls = aws.sts_calls("AssumeRole")[before:]
                errors = [e for _, e in results if e]
                out["steady"] = {
                    "window": window, "requests": len(results), "failed": len(errors),
                    "errors": kinds(errors),
                    "assume_ok": sum(c.status == 200 for c in calls), "assume_all": len(calls),
                    "p50": pct([t for t, e in results if not e], 0.5),
                    "p99": pct([t for t, e in results if not e], 0.99),
                }
    return out


def per_hour_at(lifetime: float) -> float:
    """Refreshes per hour per active deployment under the engine's rule (advisory = min(900, L/2))."""
    return 3600.0 / (lifetime - min(900.0, lifetime / 2))


def sts_calls(r: dict[str, Any]) -> int:
    return int(r["assume_ok"] + r["assume_throttled"])


def calls_cell(r: dict[str, Any]) -> str:
    return f"{sts_calls(r)} ({sts_calls(r) / r['deployments']:.3f} x N)"


def quota_ratio(r: dict[str, Any], plan: Plan) -> float:
    return float(r["fanout_wall"]) / (r["deployments"] / plan.sts_rate)


def wall_cell(r: dict[str, Any], plan: Plan) -> str:
    return f"{r['fanout_wall']:.1f} s / {r['deployments'] / plan.sts_rate:.1f} s = {quota_ratio(r, plan):.2f}"


def goals(big: dict[str, Any], plan: Plan) -> list[str]:
    """The issue's three fan-out goals on the big proxy, each 'met' or 'MISSED' with its figure."""
    n = big["deployments"]
    rows = [("failed first requests", big["failed"] == 0, f"{big['failed']} of {n}"),
            ("STS calls <= N + 5%", sts_calls(big) <= n * 1.05, f"{sts_calls(big)} for {n}"),
            ("fan-out within 1.2 x quota time", quota_ratio(big, plan) <= 1.2,
             f"{big['fanout_wall']:.1f} s vs {n / plan.sts_rate:.0f} s ({quota_ratio(big, plan):.2f}x)")]
    return [f"{'met' if ok else 'MISSED'}: {what}: {figure}" for what, ok, figure in rows]


def render(base: dict[str, Any], big: dict[str, Any], plan: Plan) -> str:
    nb, nB = base["deployments"], big["deployments"]
    mib = 2**20
    per_ready = (big["rss_ready"] - base["rss_ready"]) / (nB - nb)
    per_after = (big["rss_after"] - base["rss_after"]) / (nB - nb)
    per_start = (big["startup"] - base["startup"]) / (nB - nb)
    rows = [
        ["startup (to /health/liveliness)", f"{base['startup']:.1f} s", f"{big['startup']:.1f} s",
         f"{per_start * 1000:.1f} ms"],
        ["RSS after startup", f"{base['rss_ready'] / mib:.0f} MiB", f"{big['rss_ready'] / mib:.0f} MiB",
         f"{per_ready / 1024:.1f} KiB"],
        ["RSS after the first request to each", f"{base['rss_after'] / mib:.0f} MiB",
         f"{big['rss_after'] / mib:.0f} MiB", f"{per_after / 1024:.1f} KiB"],
        [f"cold fan-out (concurrency {plan.concurrency}): wall", f"{base['fanout_wall']:.1f} s",
         f"{big['fanout_wall']:.1f} s", ""],
        ["cold fan-out: latency p50 / p99", f"{ms(base['fanout_p50'])} / {ms(base['fanout_p99'])}",
         f"{ms(big['fanout_p50'])} / {ms(big['fanout_p99'])}", ""],
        [f"cold fan-out: AssumeRole answered / throttled (STS limit {plan.sts_rate:g}/s, burst {plan.sts_burst:g})",
         f"{base['assume_ok']} / {base['assume_throttled']}", f"{big['assume_ok']} / {big['assume_throttled']}",
         f"{big['assume_ok'] / nB:.2f} answered"],
        ["cold fan-out: failed requests (of which STS throttling)",
         f"{base['failed']} ({base['failed_throttled']})", f"{big['failed']} ({big['failed_throttled']})", ""],
        ["cold fan-out: misrouted (wire)", base["misrouted"], big["misrouted"], ""],
        ["GOAL failed first requests (goal 0)", base["failed"], big["failed"], ""],
        ["GOAL AssumeRole calls, answered + throttled (goal <= N x 1.05)", calls_cell(base), calls_cell(big), ""],
        [f"GOAL fan-out wall / quota time N / {plan.sts_rate:g} per s (goal <= 1.2)", wall_cell(base, plan),
         wall_cell(big, plan), ""],
    ]
    s = big.get("steady")
    if s:
        measured = s["assume_ok"] / nB / (s["window"] / 3600)
        rows += [
            [f"steady: {s['requests']} requests over {s['window']:.0f} s, L = {plan.lifetime} s: failed", "",
             s["failed"], ""],
            ["steady: latency p50 / p99", "", f"{ms(s['p50'])} / {ms(s['p99'])}", ""],
            ["steady: AssumeRole in the window (answered)", "", s["assume_ok"],
             f"{measured:.1f} per hour (rule: {per_hour_at(plan.lifetime):.1f})"],
            ["steady, extrapolated to 1-hour credentials", "", "",
             f"{measured * per_hour_at(3600) / per_hour_at(plan.lifetime):.2f} per hour"],
        ]
    return table(["", f"{nb} deployments", f"{nB} deployments", "per deployment"], rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 40 vs 5 deployments, short steady phase")
    parser.add_argument("--deployments", type=int)
    parser.add_argument("--baseline", type=int)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--sts-rate", type=float, help="STS calls/s before Throttling (default 10; quick 4)")
    parser.add_argument("--sts-burst", type=float)
    parser.add_argument("--lifetime", type=int, help="credential lifetime the stand-in issues (default 300 s)")
    parser.add_argument("--steady", type=float, help="steady phase seconds (default 300)")
    parser.add_argument("--rate", type=float, default=4.0, help="steady requests/s")
    parser.add_argument("--json", metavar="PATH", help="also write the raw results as JSON")
    args = parser.parse_args()
    q = args.quick
    sts_rate = args.sts_rate or (4.0 if q else 10.0)
    plan = Plan(deployments=args.deployments or (40 if q else 1000), baseline=args.baseline or (5 if q else 10),
                concurrency=min(args.concurrency, 16) if q else args.concurrency, sts_rate=sts_rate,
                sts_burst=args.sts_burst or sts_rate, lifetime=args.lifetime or (40 if q else 300),
                steady=args.steady or (24.0 if q else 300.0), rate=args.rate)
    started = time.monotonic()
    base = run_proxy(plan.baseline, plan, steady=False)
    big = run_proxy(plan.deployments, plan, steady=True)
    print(render(base, big, plan))
    print("\n" + versions())
    if q:
        print("\n**QUICK smoke run: small numbers, not representative.**")
    missed = []
    for r in (base, big, big.get("steady") or {}):
        if r.get("failed"):
            missed.append(f"{r['failed']} failed requests ({r.get('failed_throttled', '?')} because STS throttled): "
                          f"{r['errors']}")
        if r.get("misrouted"):
            missed.append(f"{r['misrouted']} misrouted wire calls")
    print()
    print("Goal MISSED: " + "; ".join(missed) if missed else
          "Goal met: no request failed (none because STS throttled the fan-out), 0 misrouted.")
    print("Fan-out goals (issue 15, big proxy):\n" + "\n".join(f"  {line}" for line in goals(big, plan)))
    print(f"\nwall time {time.monotonic() - started:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"plan": plan.__dict__, "baseline": base, "big": big}, fh, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
