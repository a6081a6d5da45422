"""STS pacing: one adaptive rate budget per (calling identity, STS endpoint), cold fetches queued in order.

The rate rule and the queue order are checked with a stepped clock (deterministic); the fan-out, pre-warm
and priority rows run against moto's STS on loopback, throttled by the stand-in's token bucket
(``LocalAWS.throttle_sts``), and assert on counts and order, not on times."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from litellm_xacct import CredentialEngine, DeploymentConfig
from litellm_xacct._credentials.pacing import BACKGROUND, COLD, AdaptiveRate, PacingPolicy, StsBudget, Ticket
from litellm_xacct.testing import LocalAWS

from .conftest import MODEL, deployment

POLICY = PacingPolicy()


def config(aws: LocalAWS, name: str) -> DeploymentConfig:
    return DeploymentConfig.from_params(deployment(aws, aws_session_name=name), deployment=name, model=MODEL)


def session_order(aws: LocalAWS, prefix: str) -> list[int]:
    """Indices of the sessions STS issued credentials for, in the order the calls arrived."""
    return [int(c.params["RoleSessionName"].removeprefix(prefix)) for c in aws.sts_calls("AssumeRole")
            if c.status == 200 and c.params["RoleSessionName"].startswith(prefix)]


# -- the rate rule (stepped clock) ----------------------------------------------------------------------
def test_slow_start_then_cubic_back_off_and_recovery() -> None:
    rate = AdaptiveRate(POLICY, now=0.0)
    assert rate.rate(0.0) == POLICY.initial_rate
    t = 0.0
    for _ in range(20):  # 20 accepted calls over 2 s: the rate grows by slow_start per success
        t += 0.1
        rate.success(t)
    assert rate.rate(t) == pytest.approx(POLICY.initial_rate + 20 * POLICY.slow_start)
    accepted = rate.measured(t)
    assert accepted == pytest.approx(20 / POLICY.window)
    sent = rate.rate(t)
    after = rate.throttled(t, sent=t)  # the new maximum: what we sent or what STS accepted, the lower
    w_max = min(sent, accepted)
    assert rate.w_max == pytest.approx(w_max) and after == pytest.approx(POLICY.beta * w_max)
    thrown, seen = t, []
    while t < thrown + rate.k + 3:  # accepted at 10/s meanwhile: the rate follows the cubic curve
        t += 0.1
        rate.success(t)
        seen.append((t - thrown, rate.rate(t)))
    assert all(r < w_max for dt, r in seen if dt < rate.k - 0.1)  # below the old maximum for K s
    near = [r for dt, r in seen if rate.k - 0.5 <= dt <= rate.k + 0.5]
    assert len(near) >= 5 and max(near) - min(near) < 0.1 * w_max  # flat around it
    assert seen[-1][1] > w_max  # then it probes above, slowly


def test_throttles_count_once_per_round_trip_and_two_in_a_row_drop_to_the_minimum() -> None:
    rate = AdaptiveRate(POLICY, now=0.0)
    rate.throttled(0.1, sent=0.09)
    assert rate.rate(0.1) == pytest.approx(POLICY.beta * POLICY.initial_rate)
    rate.throttled(0.12, sent=0.095)  # in flight at the first slow-down: no second reduction
    assert rate.rate(0.12) == pytest.approx(POLICY.beta * POLICY.initial_rate, rel=0.05)
    rate.throttled(0.2, sent=0.15)  # sent at the reduced rate and still refused
    assert rate.rate(5.0) == POLICY.min_rate
    rate.success(5.0)
    assert rate.rate(5.0) > POLICY.min_rate


class GatedClock:
    """A stepped clock whose sleep blocks until the test opens the gate, then advances time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.gate = threading.Event()
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.gate.wait(10)
        with self.lock:
            self.now += seconds


def test_waiting_fetches_are_served_in_priority_then_arrival_order() -> None:
    clock = GatedClock()
    budget = StsBudget(("caller", "https://sts"), PacingPolicy(initial_rate=1.0), clock, clock.sleep)
    budget.acquire(Ticket(COLD), deadline=1e9)  # spend the one token: everyone below must queue
    tickets = [Ticket(BACKGROUND if i % 3 == 0 else COLD) for i in range(9)]
    granted: list[int] = []

    def take(i: int) -> None:
        budget.acquire(tickets[i], deadline=1e9)
        granted.append(i)

    threads = [threading.Thread(target=take, args=(i,)) for i in (4, 0, 8, 2, 6, 1, 5, 3, 7)]  # any start order
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while budget.state()["queued"] < 9 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert budget.state()["queued"] == 9
    tickets[3].promote(COLD)  # a request joined this background fetch
    clock.gate.set()
    for thread in threads:
        thread.join(10)
    assert granted == [1, 2, 3, 4, 5, 7, 8, 0, 6]  # cold (3 promoted) by arrival, then background


# -- against moto's STS, throttled by rate ---------------------------------------------------------------
@pytest.fixture
def throttled(local_aws: LocalAWS) -> Any:
    local_aws.throttle_sts(10, burst=5)
    yield local_aws
    local_aws.throttle_sts(None)


def test_cold_fan_out_queues_for_the_budget_in_order_and_fails_nothing(throttled: LocalAWS) -> None:
    engine = CredentialEngine(background=False)
    configs = [config(throttled, f"fifo-{i:02d}") for i in range(40)]
    # The shared source identity first, so each fetch reaches the budget as its task starts (otherwise all
    # 40 wake together when the source arrives and reach the queue in the order the OS runs them).
    engine.get(DeploymentConfig.from_params(deployment(throttled, None), deployment="source", model=MODEL))

    async def fan_out() -> list[Any]:  # tasks start in list order, so the fetches queue in list order
        return await asyncio.gather(*[engine.aget(cfg) for cfg in configs], return_exceptions=True)

    try:
        leases = asyncio.run(fan_out())
    finally:
        engine.close()
    failures = [r for r in leases if isinstance(r, BaseException)]
    assert len(leases) == 40 and failures == []
    calls = throttled.sts_calls("AssumeRole")
    assert sum(c.status == 200 for c in calls) == 40
    assert len(calls) <= 40 + 6, [c.error_code for c in calls]  # throttled calls: a few, not a retry storm
    order = session_order(throttled, "fifo-")
    assert sorted(order) == list(range(40))
    late = [(i, j) for a, i in enumerate(order) for j in order[a + 1:] if j + 10 <= i]
    assert late == []  # nobody overtook a fetch queued 10 places ahead of it


def test_prewarm_fetches_every_deployment_paced_and_requests_go_first(throttled: LocalAWS) -> None:
    engine = CredentialEngine(background=False)
    warm = [config(throttled, f"warm-{i:02d}") for i in range(30)]
    cold = [config(throttled, f"cold-{i:02d}") for i in range(5)]
    try:
        done = engine.prewarm(warm)
        for cfg in cold:  # requests arriving while the pre-warm runs
            assert engine.get(cfg).account == "111111111111"
        warmed_before_requests_done = len(session_order(throttled, "warm-"))
        assert done.result(timeout=60) == (30, 0)
        calls_before = len(throttled.sts_calls("AssumeRole"))
        for cfg in warm:  # every deployment is warm: no STS call, no wait
            engine.get(cfg)
        assert len(throttled.sts_calls("AssumeRole")) == calls_before
    finally:
        engine.close()
    assert engine.threads() == []
    assert warmed_before_requests_done < 25  # the requests did not queue behind the whole pre-warm
    calls = throttled.sts_calls("AssumeRole")
    assert sum(c.status == 200 for c in calls) == 35 and len(calls) <= 35 + 6


def test_separate_budgets_per_sts_endpoint(local_aws: LocalAWS) -> None:
    engine = CredentialEngine(background=False)
    try:
        engine.get(config(local_aws, "budget-a"))
        engine.get(DeploymentConfig.from_params(
            deployment(local_aws, aws_session_name="budget-b", aws_sts_endpoint=local_aws.sts_endpoint + "/"),
            deployment="b", model=MODEL))
        other = local_aws.sts_endpoint.replace("127.0.0.1", "localhost")
        engine.get(DeploymentConfig.from_params(
            deployment(local_aws, aws_session_name="budget-c", aws_sts_endpoint=other), deployment="c", model=MODEL))
    finally:
        engine.close()
    assert sorted(b["sts_url"] for b in engine.pacing_state()) == sorted([local_aws.sts_endpoint, other])


# -- pre-warm in a real proxy ----------------------------------------------------------------------------
PREWARM_SHIM = (
    "from litellm_xacct import guard, handler, prewarm_proxy  # noqa: F401\n"
    "prewarm_proxy()  # opt-in: warm every bedrock-xacct deployment once the router is built\n"
)


@pytest.mark.proxy
def test_prewarm_in_the_proxy_warms_every_deployment_before_its_first_request(aws: LocalAWS) -> None:
    from litellm_xacct.testing import ProxyProcess

    from .conftest import DEPT_A

    aws.reset()
    names = [f"warm-{i}" for i in range(6)]
    model_list = [{"model_name": name, "litellm_params": {
        "model": f"bedrock-xacct/{MODEL}", "aws_region_name": "us-east-1", "aws_role_name": DEPT_A,
        "aws_session_name": f"prewarm-{name}"}, "model_info": {"base_model": MODEL}} for name in names]
    with ProxyProcess({"model_list": model_list}, aws, files={"xacct_handler.py": PREWARM_SHIM}) as proxy:
        deadline = time.monotonic() + 120
        while len(session_order(aws, "prewarm-warm-")) < len(names) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sorted(session_order(aws, "prewarm-warm-")) == list(range(len(names))), proxy.log_tail()
        before = len(aws.sts_calls("AssumeRole"))
        client = proxy.openai_client(timeout=60.0)
        for name in names:
            reply = client.chat.completions.create(model=name, messages=[{"role": "user", "content": "hi"}])
            assert "111111111111" in (reply.choices[0].message.content or "")
        assert len(aws.sts_calls("AssumeRole")) == before  # every first request found its credentials warm
