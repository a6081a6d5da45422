"""Faults through a real ``litellm --config`` proxy: STS (throttling, 5xx, latency, connection resets) while
credentials are cold and while they are being refreshed, and Bedrock (429, 5xx, read timeout, a stream cut
mid-way). Each case asserts the documented outcome (docs/caching.md "Failure behaviour"), that nothing was signed by
a wrong identity (the stand-in's logs), that a cut stream is never presented as complete, and that the
gateway serves a normal request afterwards.

Every deployment uses dept-a's role with its own session name, so each case has its own credential-cache
entry and the stand-in's logs tell the cases apart.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from litellm_xacct.testing import LocalAWS, ProxyProcess

from .conftest import DEPT_A, MODEL

pytestmark = pytest.mark.proxy

ACCOUNT = "111111111111"
MESSAGES = [{"role": "user", "content": "who signed this request?"}]
REQUEST_TIMEOUT = 4  # seconds; the deployment's `timeout`, below the injected Bedrock delay
COLD = ("cold-throttle", "cold-throttle-hard", "cold-5xx", "cold-5xx-hard", "cold-reset", "cold-latency")
NAMES = ("refresh", *COLD, "bedrock", "bedrock-timeout")


def fault_config() -> dict[str, Any]:
    model_list = []
    for name in NAMES:
        params: dict[str, Any] = {"model": f"bedrock-xacct/{MODEL}", "aws_region_name": "us-east-1",
                                  "aws_role_name": DEPT_A, "aws_session_name": f"faults-{name}"}
        if name == "bedrock-timeout":
            params["timeout"] = REQUEST_TIMEOUT
        model_list.append({"model_name": f"fault-{name}", "litellm_params": params,
                           "model_info": {"base_model": MODEL}})
    return {"model_list": model_list, "litellm_settings": {"callbacks": ["xacct_handler.guard"]}}


@pytest.fixture(scope="module")
def proxy(aws: LocalAWS) -> Iterator[ProxyProcess]:
    aws.reset()
    with ProxyProcess(fault_config(), aws) as running:
        yield running


@pytest.fixture
def gw(proxy: ProxyProcess, aws: LocalAWS) -> Iterator[Gateway]:
    aws.reset()
    gateway = Gateway(proxy, aws)
    yield gateway
    aws.reset()
    gateway.client.close()


class Gateway:
    def __init__(self, proxy: ProxyProcess, aws: LocalAWS) -> None:
        self.proxy, self.aws = proxy, aws
        self.client = proxy.openai_client(timeout=120.0)

    def ask(self, name: str, *, stream: bool = False) -> str:
        kwargs: dict[str, Any] = {"model": f"fault-{name}", "messages": MESSAGES}
        if stream:
            chunks = list(self.client.chat.completions.create(stream=True, **kwargs))
            finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
            assert finishes, f"a stream without a finish reason was presented as complete: {chunks}"
            return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        return self.client.chat.completions.create(**kwargs).choices[0].message.content or ""

    def fail(self, name: str, *, stream: bool = False) -> openai.APIError:
        try:
            text = self.ask(name, stream=stream)
        except openai.APIError as exc:
            return exc
        raise AssertionError(f"fault-{name} was answered: {text!r}\n{self.proxy.log_tail()}")

    def assumes(self, name: str) -> list[Any]:
        return [c for c in self.aws.sts_calls("AssumeRole") if c.params.get("RoleSessionName") == f"faults-{name}"]

    def signed(self, name: str) -> list[Any]:
        return [c for c in self.aws.bedrock_calls() if c.session_name == f"faults-{name}"]

    def assert_only_right_identity(self) -> None:
        """Every Bedrock call was signed by dept-a's role under one of this module's session names."""
        calls = self.aws.bedrock_calls()
        assert calls, "no Bedrock call at all"
        for call in calls:
            assert (call.account, call.role_arn, call.region) == (ACCOUNT, DEPT_A, "us-east-1"), call
            assert call.session_name in {f"faults-{n}" for n in NAMES}, call

    def assert_healthy(self, name: str = "bedrock") -> None:
        self.aws.clear_faults()
        for stream in (False, True):
            assert ACCOUNT in self.ask(name, stream=stream)
        self.assert_only_right_identity()


def status_of(exc: openai.APIError) -> int | None:
    return getattr(exc, "status_code", None)


def wait_for(predicate: Any, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


# -- STS, cold credentials (first request of a deployment) ---------------------------------------------------


def test_cold_sts_throttling_is_retried_and_served(gw: Gateway) -> None:
    gw.aws.fail_sts(code="Throttling", count=2)
    assert ACCOUNT in gw.ask("cold-throttle")
    assert [c.error_code for c in gw.assumes("cold-throttle")] == ["Throttling", "Throttling", None]
    assert len(gw.signed("cold-throttle")) == 1
    gw.assert_healthy()


def test_cold_sts_throttling_that_persists_is_a_429_naming_throttling(gw: Gateway) -> None:
    gw.aws.fail_sts(code="Throttling", count=None)
    exc = gw.fail("cold-throttle-hard")
    message = str(exc.message)
    assert status_of(exc) == 429, (status_of(exc), message)
    assert "throttling" in message and "trust policy" not in message, message
    assert len(gw.assumes("cold-throttle-hard")) >= 2  # retried before giving up
    assert gw.signed("cold-throttle-hard") == []
    gw.assert_healthy()


def test_cold_sts_5xx_is_retried_and_served(gw: Gateway) -> None:
    gw.aws.fail_sts(code="InternalFailure", status=500, count=2)
    assert ACCOUNT in gw.ask("cold-5xx", stream=True)
    assert [c.error_code for c in gw.assumes("cold-5xx")] == ["InternalFailure", "InternalFailure", None]
    gw.assert_healthy()


def test_cold_sts_outage_is_a_503_that_is_not_a_trust_policy_problem(gw: Gateway) -> None:
    gw.aws.fail_sts(code="ServiceUnavailable", status=503, count=None)
    for stream in (False, True):
        exc = gw.fail("cold-5xx-hard", stream=stream)
        message = str(exc.message)
        assert status_of(exc) == 503, (stream, status_of(exc), message)
        assert "unavailable" in message and "not a trust-policy problem" in message, message
        assert "check the role's trust policy" not in message
    assert gw.signed("cold-5xx-hard") == []
    gw.assert_healthy()


def test_cold_sts_connection_resets_are_retried_and_served(gw: Gateway) -> None:
    gw.aws.reset_sts_connections(count=2)
    assert ACCOUNT in gw.ask("cold-reset")
    assert gw.aws.sts_connection_resets == 2
    assert [c.status for c in gw.assumes("cold-reset")] == [200]
    gw.assert_healthy()


def test_cold_sts_latency_of_two_seconds_is_served(gw: Gateway) -> None:
    gw.aws.sts_delay = 2.0
    assert ACCOUNT in gw.ask("cold-latency", stream=True)
    assert [c.status for c in gw.assumes("cold-latency")] == [200]
    gw.assert_healthy()


# -- STS faults while a deployment's credentials are being refreshed ------------------------------------------


def test_sts_faults_during_refresh_never_fail_a_request(gw: Gateway) -> None:
    """Credentials live 40 s here, so the background refresh starts 20 s after issue. Each STS fault in
    turn (throttling, 5xx, connection reset, 2 s latency) hits that refresh; requests meanwhile are served
    with the current, still valid credentials, signed by the same role and key."""
    gw.aws.credential_lifetime = 40
    assert ACCOUNT in gw.ask("refresh")
    first_key = gw.signed("refresh")[-1].access_key_id
    gw.aws.fail_sts(code="Throttling", count=None)
    wait_for(lambda: any(c.error_code == "Throttling" for c in gw.assumes("refresh")), "a throttled refresh")
    assert ACCOUNT in gw.ask("refresh")
    gw.aws.fail_sts(code="InternalFailure", status=500, count=None)
    wait_for(lambda: any(c.error_code == "InternalFailure" for c in gw.assumes("refresh")), "a 5xx refresh")
    assert ACCOUNT in gw.ask("refresh", stream=True)
    gw.aws.clear_faults()
    gw.aws.credential_lifetime = 40
    gw.aws.reset_sts_connections(count=None)
    wait_for(lambda: gw.aws.sts_connection_resets > 0, "a reset refresh")
    assert ACCOUNT in gw.ask("refresh")
    assert {c.access_key_id for c in gw.signed("refresh")} == {first_key}  # the current lease served them all
    gw.aws.clear_faults()
    gw.aws.credential_lifetime = 40
    gw.aws.sts_delay = 2.0  # the next refresh succeeds, slowly; requests don't wait for it
    assert ACCOUNT in gw.ask("refresh")
    wait_for(lambda: [c.status for c in gw.assumes("refresh")][-1:] == [200] and len(
        [c for c in gw.assumes("refresh") if c.status == 200]) >= 2, "the refresh to succeed")
    gw.aws.sts_delay = 0.0
    wait_for(lambda: gw.ask("refresh") and gw.signed("refresh")[-1].access_key_id != first_key,
             "requests to use the refreshed credentials", timeout=30)
    assert len(gw.signed("refresh")) >= 5
    gw.assert_healthy()


# -- Bedrock faults ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_bedrock_throttling_is_a_429(gw: Gateway, stream: bool) -> None:
    gw.aws.fail_bedrock("ThrottlingException", 429, count=None)
    exc = gw.fail("bedrock", stream=stream)
    assert status_of(exc) == 429, (status_of(exc), exc.message)
    assert "Too many requests" in str(exc.message)
    gw.assert_healthy()


@pytest.mark.parametrize(("code", "status"), [("InternalServerException", 500),
                                              ("ServiceUnavailableException", 503)])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_bedrock_5xx_is_a_5xx(gw: Gateway, code: str, status: int, stream: bool) -> None:
    gw.aws.fail_bedrock(code, status, count=None)
    exc = gw.fail("bedrock", stream=stream)
    assert status_of(exc) is not None and status_of(exc) >= 500, (status_of(exc), exc.message)
    gw.assert_healthy()


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_bedrock_read_timeout_is_a_408(gw: Gateway, stream: bool) -> None:
    gw.aws.bedrock_delay = REQUEST_TIMEOUT + 3
    exc = gw.fail("bedrock-timeout", stream=stream)
    assert status_of(exc) == 408, (status_of(exc), exc.message)
    assert len(gw.signed("bedrock-timeout")) >= 1
    gw.aws.bedrock_delay = 0.0
    gw.assert_healthy("bedrock-timeout")


def test_bedrock_stream_cut_mid_way_is_an_error_not_a_short_answer(gw: Gateway) -> None:
    gw.aws.cut_bedrock_streams(count=None, after_frames=3)
    gw.fail("bedrock", stream=True)  # ask() also refuses a stream that ended without a finish reason
    assert gw.aws.bedrock_stream_cuts >= 1
    gw.assert_healthy()
