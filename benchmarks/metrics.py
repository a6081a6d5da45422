"""What an operator scrapes from LiteLLM's ``/metrics``, checked against what the wire saw.

Starts the local AWS stand-in and one ``litellm --config`` proxy with two workers (example_config.yaml, the
``prometheus`` callback beside the guard, prometheus_client in multiprocess mode, plus a ``broken``
deployment whose role does not exist), then sends, in turn:

* department and untagged requests while STS throttles its first few AssumeRole calls (cold start);
* requests to ``broken`` (STS refuses the role: a refresh failure, never the gateway's identity);
* requests the guard refuses (a caller choosing the provider) and requests isolation refuses (two
  departments at once).

Then it scrapes ``/metrics`` once and prints every ``litellm_xacct_*`` series beside the same figure counted
on the wire by the stand-in (AssumeRole calls by role and outcome, Bedrock calls). Exit status 1 when a
counted figure on ``/metrics`` differs from the wire or a secret the stand-in issued appears on the page.

    python benchmarks/metrics.py [--requests 30] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _proxybench import MODEL, log, table, versions  # noqa: E402

from litellm_xacct.testing import LocalAWS, ProxyProcess, Role  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEPT_A = "arn:aws:iam::111111111111:role/litellm-bedrock-dept-a"
DEPT_B = "arn:aws:iam::222222222222:role/litellm-bedrock-dept-b"
PLATFORM = "arn:aws:iam::333333333333:role/litellm-bedrock-platform"
BROKEN = "arn:aws:iam::444444444444:role/not-trusted"  # no such role at the stand-in: AssumeRole is refused
EXTERNAL_ID = "ext-b-metrics"
PREFIX = "litellm_xacct_"
#: how the provider names an STS outcome on /metrics, from the error code the stand-in answered with
OUTCOME = {None: "ok", "Throttling": "throttled", "AccessDenied": "denied"}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def gateway_config() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((REPO / "example_config.yaml").read_text(encoding="utf-8"))
    doc["model_list"].append({"model_name": "broken", "litellm_params": {
        "model": f"bedrock-xacct/{MODEL}", "aws_region_name": "us-east-1", "aws_role_name": BROKEN}})
    doc["litellm_settings"]["callbacks"] = ["xacct_handler.guard", "prometheus"]
    return doc


def scrape(proxy: ProxyProcess) -> tuple[str, Samples]:
    """The ``/metrics`` page (with a key: 1.108.7 asks for one by default) and its ``litellm_xacct_*`` samples."""
    from prometheus_client.parser import text_string_to_metric_families

    request = urllib.request.Request(proxy.base_url + "/metrics/",
                                     headers={"Authorization": f"Bearer {proxy.master_key}"})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
        text = response.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith(PREFIX):
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


def send(proxy: ProxyProcess, requests: int) -> dict[str, int]:
    """The traffic; returns how many requests of each kind got which answer."""
    import openai

    client = proxy.openai_client()
    counts: dict[str, int] = defaultdict(int)

    def ask(kind: str, model: str = "claude-sonnet", **extra: Any) -> None:
        try:
            client.chat.completions.create(model=model, max_tokens=5, extra_body=extra,
                                           messages=[{"role": "user", "content": "hello"}])
            counts[f"{kind}: 200"] += 1
        except openai.APIStatusError as exc:
            counts[f"{kind}: {exc.status_code}"] += 1

    for i in range(requests):
        tag = ("dept-a", "dept-b", None)[i % 3]
        ask(f"department {tag or 'untagged'}", **({"tags": [tag]} if tag else {}))
    for _ in range(3):
        ask("broken role", model="broken")
    for _ in range(2):
        ask("caller picks the provider", custom_llm_provider="bedrock")
    for _ in range(2):
        ask("two departments at once", tags=["dept-a", "dept-b"])
    client.close()
    return dict(counts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30, help="department + untagged requests (default 30)")
    parser.add_argument("--throttled", type=int, default=3, help="first AssumeRole calls STS throttles (default 3)")
    parser.add_argument("--quick", action="store_true", help="12 requests (smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests = 12
    roles = [Role(DEPT_A), Role(DEPT_B, external_id=EXTERNAL_ID), Role(PLATFORM)]
    with tempfile.TemporaryDirectory(prefix="xacct-prom-") as multiproc, LocalAWS(roles=roles) as aws, \
            ProxyProcess(gateway_config(), aws, num_workers=2, env={
                "DEPT_B_EXTERNAL_ID": EXTERNAL_ID, "PROMETHEUS_MULTIPROC_DIR": multiproc}) as proxy:
        log(f"proxy with 2 workers up; STS throttles the next {args.throttled} calls; sending traffic")
        aws.fail_sts("Throttling", 400, count=args.throttled)
        answers = send(proxy, args.requests)
        text, samples = scrape(proxy)
        now = time.time()
        assumed = aws.sts_calls("AssumeRole")
        bedrock = aws.bedrock_calls()
        secrets = aws.issued_secrets()

    wire: dict[tuple[str, str], int] = defaultdict(int)
    for call in assumed:
        wire[(call.params.get("RoleArn", "?"), OUTCOME.get(call.error_code, "error"))] += 1
    rows, mismatches = [], 0
    for (role, outcome), n in sorted(wire.items()):
        shown = value(samples, f"{PREFIX}sts_calls_total", role=role, outcome=outcome)
        mismatches += shown != n
        rows.append([f"`sts_calls_total` role={role.split(':')[4]}/{role.rsplit('/', 1)[1]} outcome={outcome}",
                     f"{shown:g}", f"{n} AssumeRole", "yes" if shown == n else "**no**"])
    denied = wire.get((BROKEN, "denied"), 0)
    failures = value(samples, f"{PREFIX}credential_refresh_failures_total", role=BROKEN)
    mismatches += failures != denied
    rows.append(["`credential_refresh_failures_total` role=.../not-trusted", f"{failures:g}",
                 f"{denied} refused AssumeRole", "yes" if failures == denied else "**no**"])
    for role in (DEPT_A, DEPT_B, PLATFORM):
        expiry = value(samples, f"{PREFIX}credential_expiry_timestamp_seconds", role=role)
        rows.append([f"`credential_expiry_timestamp_seconds` role=...{role[-6:]}", f"now + {expiry - now:.0f} s",
                     "-", "yes" if now < expiry < now + 13 * 3600 else "**no**"])
    waits = value(samples, f"{PREFIX}sts_queue_wait_seconds_count")
    rows.append(["`sts_queue_wait_seconds` count / sum",
                 f"{waits:g} / {value(samples, f'{PREFIX}sts_queue_wait_seconds_sum'):.3f} s", "-", "-"])
    guard = value(samples, f"{PREFIX}refusals_total", where="guard")
    sent_guard = sum(n for k, n in answers.items() if k.startswith("caller picks"))
    mismatches += guard != sent_guard
    rows.append(["`refusals_total` where=guard", f"{guard:g}", f"{sent_guard} sent, 0 Bedrock calls",
                 "yes" if guard == sent_guard else "**no**"])
    isolation = value(samples, f"{PREFIX}refusals_total", where="isolation") + value(
        samples, f"{PREFIX}refusals_total", where="authority")
    rows.append(["`refusals_total` where=isolation/authority", f"{isolation:g}",
                 "2 sent (the Router retries a 403: one count per refused attempt)",
                 "yes" if isolation >= 2 else "**no**"])
    accounts = {"dept-a": "111111111111", "dept-b": "222222222222", "untagged": "333333333333"}
    for dept, account in accounts.items():
        signed = sum(1 for call in bedrock if call.account == account and call.status == 200)
        answered = answers.get(f"department {dept}: 200", 0)
        mismatches += signed != answered
        rows.append([f"(wire only) Bedrock calls signed by {account}", "-",
                     f"{signed} for {answered} {dept} answers", "yes" if signed == answered else "**no**"])
    leaked = [s for s in secrets if s in text]
    mismatches += bool(leaked)

    print(f"{versions()}; one proxy, 2 workers, prometheus_client multiprocess mode\n")
    print(table(["request", "count"], sorted(answers.items())))
    print(f"\nBedrock calls on the wire: {len(bedrock)}; AssumeRole calls on the wire: {len(assumed)}\n")
    print(table(["series on /metrics", "value on /metrics", "on the wire", "agrees"], rows))
    print(f"\nsecrets the stand-in issued found on /metrics: {len(leaked)} of {len(secrets)}")
    print("Every counted figure agrees with the wire." if not mismatches
          else f"{mismatches} figure(s) disagree with the wire.")
    return 0 if not mismatches else 1


if __name__ == "__main__":
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    sys.exit(main())
