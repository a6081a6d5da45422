"""Per-request cost of caller authority + department isolation as the gateway grows: 10 / 1,000 / 10,000
``bedrock-xacct`` deployments in one real ``litellm.Router``.

Usage::

    LITELLM_LOCAL_MODEL_COST_MAP=True python benchmarks/isolation_index.py            # 10, 1,000, 10,000
    LITELLM_LOCAL_MODEL_COST_MAP=True python benchmarks/isolation_index.py --sizes 10 1000 --requests 500

For each size the script builds a Router (half the deployments are departments, each with a
``model_info.xacct_callers`` binding, one ``default`` per model group of 10), binds it as the proxy's
``llm_router`` (what ``litellm --config`` does), then times, per request, the two real code paths:

* **guard**: ``_guard._authorise`` (who is calling, which departments it may reach, the record);
* **provider**: ``_request._router_deployment`` (the index look-up, the re-check and the identity fields).

It prints a markdown table of medians (microseconds) and the one-off index build after a model-list change.
No AWS call is made: both paths stop before credentials.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

MODEL = "bedrock-xacct/us.anthropic.claude-sonnet-4-6"


def _model_list(size: int) -> list[dict[str, Any]]:
    entries = []
    for i in range(size):
        group = f"group-{i // 10}"
        tag = "default" if i % 10 == 0 else f"dept-{i}" if i % 2 else None
        params: dict[str, Any] = {"model": MODEL, "aws_region_name": "us-east-1",
                                  "aws_role_name": f"arn:aws:iam::{100000000000 + i}:role/r"}
        info: dict[str, Any] = {"id": f"d{i}"}
        if tag:
            params["tags"] = [tag]
        if tag and tag != "default":
            info["xacct_callers"] = {"teams": [f"team-{i}"]}
        entries.append({"model_name": group, "litellm_params": params, "model_info": info})
    return entries


def _time(fn: Any, count: int) -> float:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


def measure(size: int, requests: int) -> dict[str, float]:
    import logging

    import litellm

    logging.getLogger("LiteLLM Router").setLevel(logging.ERROR)  # one bedrock-xacct warning per deployment
    import litellm.proxy.proxy_server as proxy
    from litellm.proxy._types import UserAPIKeyAuth

    import litellm_xacct
    from litellm_xacct import _guard, _index, _request
    from litellm_xacct._authority import AUTHORITY_KEY

    litellm_xacct.register()
    router = litellm.Router(model_list=_model_list(size), enable_tag_filtering=True)
    proxy.llm_router = router  # what the proxy does with its config's model_list
    start = time.perf_counter()
    _index.for_router(router)
    build_ms = (time.perf_counter() - start) * 1e3
    picked = size - 1 if (size - 1) % 2 else size - 2  # a department deployment, last in the list
    caller = UserAPIKeyAuth(api_key="sk-bench", team_alias=f"team-{picked}", key_alias="bench")
    group = f"group-{picked // 10}"
    request: dict[str, Any] = {"url": "http://gw/v1/chat/completions", "headers": {}, "body": {}}

    def guard() -> None:
        data = {"model": group, "metadata": {"tags": []}}
        request.pop(AUTHORITY_KEY, None)
        _guard._authorise(caller, data, request)

    guard()
    params = {"proxy_server_request": request, "model_info": {"id": f"d{picked}"}}

    def provider() -> None:
        _request._router_deployment(group, params, None)

    return {"build": build_ms, "guard": _time(guard, requests), "provider": _time(provider, requests)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 1000, 10000])
    parser.add_argument("--requests", type=int, default=2000, help="timed calls per path and size")
    args = parser.parse_args()
    print("| deployments | guard (µs, median) | provider (µs, median) | total per request (µs) | index build (ms) |")
    print("|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        print(f"measuring {size} deployments...", file=sys.stderr)
        r = measure(size, args.requests)
        print(f"| {size:,} | {r['guard']:.1f} | {r['provider']:.1f} | {r['guard'] + r['provider']:.1f} | "
              f"{r['build']:.1f} |")


if __name__ == "__main__":
    main()
