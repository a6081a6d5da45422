"""Metrics on LiteLLM's own ``/metrics``: what an operator scrapes, through a real proxy with two workers."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from litellm_xacct import _metrics
from litellm_xacct.testing import LocalAWS, ProxyProcess, Role

from .conftest import DEPT_A, DEPT_B, DEPT_B_EXTERNAL_ID, PLATFORM
from .helpers import REPO

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

BROKEN = "arn:aws:iam::444444444444:role/not-trusted"  # no such role at the stand-in: AssumeRole is refused
ROLES = {"dept-a": DEPT_A, "dept-b": DEPT_B, None: PLATFORM}


def _config() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((REPO / "example_config.yaml").read_text(encoding="utf-8"))
    doc["model_list"].append({"model_name": "broken", "litellm_params": {
        "model": "bedrock-xacct/us.anthropic.claude-sonnet-4-6", "aws_region_name": "us-east-1",
        "aws_role_name": BROKEN}})
    doc["litellm_settings"]["callbacks"] = ["xacct_handler.guard", "prometheus"]
    return doc


def metrics_text(proxy: ProxyProcess) -> str:
    """The proxy's ``/metrics`` page, fetched with a key (1.108.7 requires one by default, 1.82.3 doesn't)."""
    request = urllib.request.Request(proxy.base_url + "/metrics/",
                                     headers={"Authorization": f"Bearer {proxy.master_key}"})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
        return str(response.read().decode())


def scrape(proxy: ProxyProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every ``litellm_xacct_*`` sample on the proxy's ``/metrics``: {(name, sorted labels): value}."""
    samples = {}
    for family in text_string_to_metric_families(metrics_text(proxy)):
        for s in family.samples:
            if s.name.startswith(_metrics.PREFIX):
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


@pytest.fixture(scope="module")
def proxy() -> Iterator[tuple[LocalAWS, ProxyProcess]]:
    roles = [Role(DEPT_A), Role(DEPT_B, external_id=DEPT_B_EXTERNAL_ID), Role(PLATFORM)]
    with tempfile.TemporaryDirectory(prefix="xacct-prom-") as multiproc, LocalAWS(roles=roles) as aws, \
            ProxyProcess(_config(), aws, num_workers=2, env={
                "DEPT_B_EXTERNAL_ID": DEPT_B_EXTERNAL_ID, "PROMETHEUS_MULTIPROC_DIR": multiproc}) as proxy:
        yield aws, proxy


def _ask(client: openai.OpenAI, tags: list[str] | None, model: str = "claude-sonnet") -> Any:
    extra = {"tags": tags} if tags else {}
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}],
                                          max_tokens=5, extra_body=extra)


@pytest.mark.proxy
def test_metrics_count_what_reached_aws_and_what_was_refused(proxy: tuple[LocalAWS, ProxyProcess]) -> None:
    aws, server = proxy
    client = server.openai_client()
    for _ in range(4):  # both workers see traffic for every department
        for tag in ("dept-a", "dept-b", None):
            _ask(client, [tag] if tag else None)
    with pytest.raises(openai.BadRequestError):  # the guard refuses a caller choosing the provider
        client.chat.completions.create(model="claude-sonnet", messages=[{"role": "user", "content": "x"}],
                                       extra_body={"custom_llm_provider": "bedrock"})
    with pytest.raises(openai.APIStatusError) as broken:
        _ask(client, None, model="broken")
    assert broken.value.status_code in (401, 403), broken.value

    samples = scrape(server)
    assumed = aws.sts_calls("AssumeRole")
    assert len(assumed) >= 4
    for role in (DEPT_A, DEPT_B, PLATFORM):  # one lease per role per worker: counted exactly once each
        ok = [c for c in assumed if c.params.get("RoleArn") == role and not c.error_code]
        assert len(ok) >= 1
        assert _value(samples, "litellm_xacct_sts_calls_total", role=role, outcome="ok") == len(ok), samples
        expiry = _value(samples, "litellm_xacct_credential_expiry_timestamp_seconds", role=role)
        assert time.time() < expiry < time.time() + 13 * 3600
    refused = [c for c in assumed if c.params.get("RoleArn") == BROKEN]
    assert len(refused) >= 1 and all(c.error_code for c in refused)
    assert _value(samples, "litellm_xacct_sts_calls_total", role=BROKEN, outcome="denied") == len(refused)
    assert _value(samples, "litellm_xacct_credential_refresh_failures_total", role=BROKEN) == len(refused)
    assert _value(samples, "litellm_xacct_refusals_total", where="guard", reason="refused_field") == 1


@pytest.mark.proxy
def test_isolation_refusals_are_counted(proxy: tuple[LocalAWS, ProxyProcess]) -> None:
    aws, server = proxy
    before = _value(scrape(server), "litellm_xacct_refusals_total", where="isolation")
    calls = len(aws.bedrock_calls())
    client = server.openai_client()
    with pytest.raises(openai.APIStatusError) as refused:  # two departments: no deployment carries both
        _ask(client, ["dept-a", "dept-b"])
    assert refused.value.status_code in (401, 403), refused.value
    assert len(aws.bedrock_calls()) == calls
    if refused.value.status_code == 403:  # counted per refused attempt: the Router retries a 403 elsewhere
        assert _value(scrape(server), "litellm_xacct_refusals_total", where="isolation") >= before + 1


@pytest.mark.proxy
def test_no_secret_in_any_metric(proxy: tuple[LocalAWS, ProxyProcess]) -> None:
    aws, server = proxy
    _ask(server.openai_client(), ["dept-a"])
    text = metrics_text(server)
    secrets = [*aws.issued_secrets(), aws.central.secret_access_key]
    assert len(secrets) >= 4
    assert "litellm_xacct_sts_calls_total" in text
    assert [s for s in secrets if s in text] == []


def test_label_values_cannot_carry_a_secret() -> None:
    assert _metrics._label("arn:aws:iam::111111111111:role/x", "role") == "arn:aws:iam::111111111111:role/x"
    assert _metrics._label("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "role") == "invalid"
    assert _metrics._label("AKIAIOSFODNN7EXAMPLE", "code") == "other"
    assert _metrics._label("dept AKIAIOSFODNN7EXAMPLE", "name") == "dept [key id]"


def test_in_process_events_reach_the_default_registry() -> None:
    registry = prometheus_client.REGISTRY
    labels = {"role": DEPT_A, "outcome": "throttled"}
    before = registry.get_sample_value("litellm_xacct_sts_calls_total", labels) or 0.0
    _metrics.sts_call(DEPT_A, "throttled")
    assert registry.get_sample_value("litellm_xacct_sts_calls_total", labels) == before + 1
    waits = registry.get_sample_value("litellm_xacct_sts_queue_wait_seconds_count") or 0.0
    _metrics.sts_queue_wait(0.3)
    assert registry.get_sample_value("litellm_xacct_sts_queue_wait_seconds_count") == waits + 1


def test_every_function_is_a_no_op_without_prometheus_client(tmp_path: Path) -> None:
    script = (
        "import sys; sys.modules['prometheus_client'] = None\n"  # makes `import prometheus_client` fail
        "from litellm_xacct import _metrics as m\n"
        "m.sts_call('arn:aws:iam::111111111111:role/x', 'ok'); m.sts_queue_wait(1.0)\n"
        "m.credential_expiry('d', 'arn:aws:iam::111111111111:role/x', 1e9); m.refresh_failure('d', 'X')\n"
        "m.stale_serve('d'); m.refusal('guard', 'refused_field')\n"
        "print('enabled', m.enabled())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "enabled False"


class _SteppedClock:
    """Real time plus an offset the test moves (STS expiries are real timestamps)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def test_engine_reports_expiry_refresh_failure_and_stale_serve(local_aws: LocalAWS) -> None:
    """A lease in its mandatory window whose refresh is throttled: served stale, and every event counted."""
    from litellm_xacct import CredentialEngine, DeploymentConfig

    from .conftest import MODEL, deployment

    registry = prometheus_client.REGISTRY
    name = "metrics-stale"  # a deployment name no other test uses: absolute values are this test's own
    labels = {"deployment": name, "role": DEPT_A}
    clock = _SteppedClock()
    engine = CredentialEngine(clock=clock, background=False)
    try:
        config = DeploymentConfig.from_params(deployment(local_aws, DEPT_A), deployment=name, model=MODEL)
        lease = engine.get(config)
        assert registry.get_sample_value("litellm_xacct_credential_expiry_timestamp_seconds", labels) == lease.expiry
        throttled = {"role": DEPT_A, "outcome": "throttled"}
        before = registry.get_sample_value("litellm_xacct_sts_calls_total", throttled) or 0.0
        clock.offset = lease.expiry - time.time() - lease.mandatory / 2  # inside the mandatory window
        local_aws.fail_sts("Throttling", 400, count=None)
        assert engine.get(config) is lease  # the refresh failed; the still-valid lease is served
        assert registry.get_sample_value("litellm_xacct_credential_stale_serves_total", labels) == 1
        assert registry.get_sample_value("litellm_xacct_credential_refresh_failures_total",
                                         {**labels, "code": "Throttling"}) == 1
        throttled_calls = [c for c in local_aws.sts_calls("AssumeRole") if c.error_code == "Throttling"]
        assert len(throttled_calls) >= 1
        assert registry.get_sample_value("litellm_xacct_sts_calls_total", throttled) == before + len(throttled_calls)
    finally:
        local_aws.clear_faults()
        engine.close()
