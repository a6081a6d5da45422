"""Overhead through a real proxy: native ``bedrock/`` vs ``bedrock-xacct/`` vs a do-nothing floor, interleaved.

Usage::

    LITELLM_LOCAL_MODEL_COST_MAP=True python benchmarks/proxy_overhead.py            # full run
    LITELLM_LOCAL_MODEL_COST_MAP=True python benchmarks/proxy_overhead.py --quick    # smoke run

One ``litellm --config`` proxy (one worker) serves three model groups:

* ``native``: LiteLLM's own ``bedrock/`` provider with ``aws_role_name`` (+ session name, STS and runtime
  endpoints, region) pointing at the stand-in;
* ``xacct``: ``bedrock-xacct/`` with the same role, session name and endpoints;
* ``floor``: a do-nothing ``CustomLLM`` returning a fixed ``ModelResponse`` (or a fixed 3-piece stream)
  through the same proxy path: the cost LiteLLM itself imposes, with no Bedrock call at all.

``AWS_ENDPOINT_URL_STS`` points at the stand-in too, so native's ``GetCallerIdentity`` on a cache miss
reaches it instead of failing DNS. Every group is warmed up (credentials cached) before measuring.

* **latency**: rounds of single requests (concurrency 1), the (group, stream) cells shuffled within
  each round: median and p99 per cell.
* **throughput**: rounds of bursts (``--burst`` requests at ``--concurrency``), one burst per cell per
  round in shuffled order: median requests/s over rounds, and p50/p99 of the requests in the bursts.
* ratios are ``xacct / native`` (latency: <= 1.0 is the goal; throughput: >= 1.0 is the goal).
* every Bedrock call the stand-in saw must be signed by the role's account and answered 200.

Then, unless ``--no-sdk``, the same interleaved latency comparison in-process (``litellm.acompletion``,
no proxy): the SDK path.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

from _proxybench import MODEL, log, ms, pct, table, versions

ROLE = "arn:aws:iam::111111111111:role/bench-overhead"
ACCOUNT = "111111111111"
SESSION = "gw-bench"
GROUPS = ("native", "xacct", "floor")
MESSAGES = [{"role": "user", "content": "who signed this request?"}]

FLOOR_MODULE = '''
"""A do-nothing CustomLLM: a fixed answer, no network. The floor of what a request through the proxy costs."""
from litellm import CustomLLM
from litellm.types.utils import ModelResponse, Usage

PIECES = ["Hello from account", " 111111111111 as arn:aws:sts::111111111111:assumed-role/bench-overhead/gw-bench",
          " (session gw-bench)."]


def _response(model):
    return ModelResponse(model=model, choices=[{"index": 0, "finish_reason": "stop",
                                               "message": {"role": "assistant", "content": "".join(PIECES)}}],
                         usage=Usage(prompt_tokens=4, completion_tokens=9, total_tokens=13))


def _chunks():
    for i, piece in enumerate(PIECES):
        last = i == len(PIECES) - 1
        yield {"text": piece, "tool_use": None, "is_finished": last, "finish_reason": "stop" if last else "",
               "usage": {"prompt_tokens": 4, "completion_tokens": 9, "total_tokens": 13} if last else None,
               "index": 0}


class Floor(CustomLLM):
    def completion(self, *args, **kwargs):
        return _response(kwargs.get("model", "floor"))

    async def acompletion(self, *args, **kwargs):
        return _response(kwargs.get("model", "floor"))

    def streaming(self, *args, **kwargs):
        yield from _chunks()

    async def astreaming(self, *args, **kwargs):
        for chunk in _chunks():
            yield chunk


floor = Floor()
'''


@dataclass(frozen=True)
class Plan:
    latency_rounds: int
    per_cell: int  # single requests per (group, stream) cell per round
    burst_rounds: int
    burst: int
    concurrency: int
    sdk_rounds: int


FULL = Plan(latency_rounds=10, per_cell=20, burst_rounds=5, burst=200, concurrency=32, sdk_rounds=10)
QUICK = Plan(latency_rounds=2, per_cell=3, burst_rounds=1, burst=16, concurrency=8, sdk_rounds=2)


def config(aws: Any) -> dict[str, Any]:
    shared = {"aws_region_name": aws.region, "aws_role_name": ROLE, "aws_session_name": SESSION,
              "aws_sts_endpoint": aws.sts_endpoint, "aws_bedrock_runtime_endpoint": aws.bedrock_endpoint}
    return {
        "model_list": [
            {"model_name": "native", "litellm_params": {"model": f"bedrock/{MODEL}", **shared}},
            {"model_name": "xacct", "litellm_params": {"model": f"bedrock-xacct/{MODEL}", **shared},
             "model_info": {"base_model": MODEL}},
            {"model_name": "floor", "litellm_params": {"model": "xacct-floor/fixed"}},
        ],
        "litellm_settings": {"custom_provider_map": [{"provider": "xacct-floor",
                                                      "custom_handler": "xacct_floor.floor"}]},
    }


async def request(client: Any, group: str, stream: bool) -> tuple[float, str | None]:
    started = time.perf_counter()
    try:
        if stream:
            response = await client.chat.completions.create(model=group, messages=MESSAGES, stream=True)
            text = ""
            async for chunk in response:
                text += "".join(c.delta.content or "" for c in chunk.choices)
        else:
            response = await client.chat.completions.create(model=group, messages=MESSAGES)
            text = response.choices[0].message.content or ""
        latency = time.perf_counter() - started
        return latency, None if ACCOUNT in text else f"reply without the account: {text[:60]!r}"
    except Exception as exc:  # noqa: BLE001 - every failure is a data point
        return time.perf_counter() - started, f"{type(exc).__name__}: {str(exc)[:120]}"


Cell = tuple[str, bool]
CELLS: list[Cell] = [(g, s) for g in GROUPS for s in (False, True)]


async def measure(proxy: Any, plan: Plan, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    client = proxy.async_openai_client(timeout=120.0)
    errors: dict[Cell, list[str]] = {c: [] for c in CELLS}
    single: dict[Cell, list[float]] = {c: [] for c in CELLS}
    loaded: dict[Cell, list[float]] = {c: [] for c in CELLS}
    rates: dict[Cell, list[float]] = {c: [] for c in CELLS}
    for cell in CELLS * 3:  # warm-up: credentials cached, connections open, first-call imports done
        await request(client, *cell)
    log(f"latency: {plan.latency_rounds} rounds x {plan.per_cell} per cell, concurrency 1")
    for _ in range(plan.latency_rounds):
        order = CELLS * plan.per_cell
        rng.shuffle(order)
        for cell in order:
            latency, error = await request(client, *cell)
            (errors[cell].append(error) if error else single[cell].append(latency))
    log(f"throughput: {plan.burst_rounds} rounds x {plan.burst} per cell at concurrency {plan.concurrency}")
    for _ in range(plan.burst_rounds):
        order = list(CELLS)
        rng.shuffle(order)
        for cell in order:
            gate = asyncio.Semaphore(plan.concurrency)

            async def one(cell: Cell = cell, gate: asyncio.Semaphore = gate) -> tuple[float, str | None]:
                async with gate:
                    return await request(client, *cell)

            started = time.perf_counter()
            results = await asyncio.gather(*(one() for _ in range(plan.burst)))
            rates[cell].append(plan.burst / (time.perf_counter() - started))
            for latency, error in results:
                (errors[cell].append(error) if error else loaded[cell].append(latency))
    await client.close()
    return {"single": single, "loaded": loaded, "rates": rates, "errors": errors}


def summarize(m: dict[str, Any]) -> dict[Cell, dict[str, float]]:
    out = {}
    for cell in CELLS:
        out[cell] = {"p50": pct(m["single"][cell], 0.5), "p99": pct(m["single"][cell], 0.99),
                     "rps": statistics.median(m["rates"][cell]) if m["rates"][cell] else float("nan"),
                     "load_p50": pct(m["loaded"][cell], 0.5), "load_p99": pct(m["loaded"][cell], 0.99),
                     "n": len(m["single"][cell]) + len(m["loaded"][cell]), "failed": len(m["errors"][cell])}
    return out


def render_proxy(s: dict[Cell, dict[str, float]], plan: Plan) -> str:
    rows = []
    for stream in (False, True):
        kind = "stream" if stream else "non-stream"
        for group in GROUPS:
            c = s[(group, stream)]
            rows.append([kind, group, ms(c["p50"]), ms(c["p99"]), f"{c['rps']:.1f}", ms(c["load_p50"]),
                         ms(c["load_p99"]), f"{c['failed']} / {c['n']}"])
        n, x = s[("native", stream)], s[("xacct", stream)]
        rows.append([kind, "**xacct ÷ native**", f"**{x['p50'] / n['p50']:.2f}**", f"**{x['p99'] / n['p99']:.2f}**",
                     f"**{x['rps'] / n['rps']:.2f}**", f"{x['load_p50'] / n['load_p50']:.2f}",
                     f"{x['load_p99'] / n['load_p99']:.2f}", ""])
    head = ["", "group", "p50 (c=1)", "p99 (c=1)", f"requests/s (c={plan.concurrency})",
            f"p50 (c={plan.concurrency})", f"p99 (c={plan.concurrency})", "failed / sent"]
    return table(head, rows)


# -- SDK path (in-process) -------------------------------------------------------------------------------


async def sdk_measure(aws: Any, plan: Plan, seed: int) -> dict[Cell, list[float]]:
    import litellm

    import litellm_xacct

    asyncio.get_running_loop().set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=64))
    litellm.suppress_debug_info = True
    litellm_xacct.register()
    params = {"aws_region_name": aws.region, "aws_role_name": ROLE, "aws_session_name": SESSION,
              "aws_sts_endpoint": aws.sts_endpoint, "aws_bedrock_runtime_endpoint": aws.bedrock_endpoint}
    models = {"native": f"bedrock/{MODEL}", "xacct": f"bedrock-xacct/{MODEL}"}
    cells: list[Cell] = [(g, s) for g in models for s in (False, True)]
    out: dict[Cell, list[float]] = {c: [] for c in cells}

    async def one(group: str, stream: bool) -> float:
        started = time.perf_counter()
        response = await litellm.acompletion(model=models[group], messages=MESSAGES, stream=stream, **params)
        if stream:
            text = "".join([c.choices[0].delta.content or "" async for c in response if c.choices])
        else:
            text = response.choices[0].message.content or ""
        if ACCOUNT not in text:
            raise AssertionError(f"{group}: reply without the account: {text[:80]!r}")
        return time.perf_counter() - started

    for cell in cells * 3:
        await one(*cell)
    rng = random.Random(seed)
    for _ in range(plan.sdk_rounds):
        order = cells * plan.per_cell
        rng.shuffle(order)
        for cell in order:
            out[cell].append(await one(*cell))
    return out


def render_sdk(out: dict[Cell, list[float]]) -> str:
    rows = []
    for stream in (False, True):
        n, x = out[("native", stream)], out[("xacct", stream)]
        rows.append(["stream" if stream else "non-stream", len(n), ms(pct(n, 0.5)), ms(pct(x, 0.5)),
                     f"**{pct(x, 0.5) / pct(n, 0.5):.2f}**", ms(pct(n, 0.99)), ms(pct(x, 0.99)),
                     f"**{pct(x, 0.99) / pct(n, 0.99):.2f}**"])
    return table(["SDK, in-process", "requests per side", "native p50", "xacct p50", "xacct ÷ native",
                  "native p99", "xacct p99", "xacct ÷ native"], rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: a few requests per cell")
    parser.add_argument("--no-sdk", action="store_true", help="skip the in-process SDK comparison")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--json", metavar="PATH", help="also write the summary as JSON")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    started = time.monotonic()

    from litellm_xacct.testing import LocalAWS, ProxyProcess, Role

    missed: list[str] = []
    with LocalAWS(roles=[Role(ROLE)]) as aws:
        env = {"AWS_ENDPOINT_URL_STS": aws.sts_endpoint}
        with ProxyProcess(config(aws), aws, env=env, files={"xacct_floor.py": FLOOR_MODULE},
                          startup_timeout=240) as proxy:
            log("proxy ready; warming up")
            summary = summarize(asyncio.run(measure(proxy, plan, args.seed)))
        calls = aws.bedrock_calls()
        wrong = [c for c in calls if c.account != ACCOUNT or c.status != 200]
        print("### Through the proxy (one worker)\n")
        print(render_proxy(summary, plan))
        print(f"\nBedrock calls on the wire: {len(calls)}, not signed by {ACCOUNT} or not answered 200: "
              f"{len(wrong)}; AssumeRole calls: {len(aws.sts_calls('AssumeRole'))}, GetCallerIdentity: "
              f"{len(aws.sts_calls('GetCallerIdentity'))} (native makes one before each AssumeRole)")
        if wrong:
            missed.append(f"{len(wrong)} wire calls not signed by the role or refused")
        for stream in (False, True):
            n, x = summary[("native", stream)], summary[("xacct", stream)]
            kind = "stream" if stream else "non-stream"
            for key, label in (("p50", "median latency"), ("p99", "p99 latency")):
                if x[key] > n[key]:
                    missed.append(f"{kind} {label}: xacct ÷ native = {x[key] / n[key]:.2f} (> 1.0)")
            if x["rps"] < n["rps"]:
                missed.append(f"{kind} throughput: xacct ÷ native = {x['rps'] / n['rps']:.2f} (< 1.0)")
            failed = sum(summary[(g, stream)]["failed"] for g in GROUPS)
            if failed:
                missed.append(f"{kind}: {failed} failed requests")
        if not args.no_sdk:
            for name, value in aws.central_env().items():
                os.environ[name] = value
            os.environ["AWS_ENDPOINT_URL_STS"] = aws.sts_endpoint
            log("SDK path, in-process")
            print("\n### SDK path (in-process `litellm.acompletion`, concurrency 1, interleaved)\n")
            sdk = asyncio.run(sdk_measure(aws, plan, args.seed))
            print(render_sdk(sdk))
    print("\n" + versions())
    if args.quick:
        print("\n**QUICK smoke run: small numbers, not representative.**")
    print()
    print("Goal MISSED: " + "; ".join(missed) if missed else
          "Goal met: bedrock-xacct no slower than native through the proxy (latency ratios <= 1.0, "
          "throughput ratio >= 1.0), 0 failed.")
    print(f"\nwall time {time.monotonic() - started:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"proxy": {f"{g}/{'stream' if s else 'non-stream'}": v for (g, s), v in summary.items()},
                       "sdk": None if args.no_sdk else {f"{g}/{'stream' if s else 'non-stream'}": v
                                                       for (g, s), v in sdk.items()}}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
