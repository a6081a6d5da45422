"""Credential engine against moto's STS server: sources, chains, options, refresh lifecycle.

Time is an injected clock stepped by the tests; STS is real HTTP (the stand-in)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from litellm_xacct import (
    CredentialEngine,
    CredentialError,
    DeploymentConfig,
    RoleAssumptionError,
    StsUnavailableError,
)
from litellm_xacct._credentials import BotocoreClients, ColdRetry, refresh_windows
from litellm_xacct.testing import LocalAWS

from .conftest import DEPT_A, DEPT_B, DEPT_B_EXTERNAL_ID, HOPS, MODEL, deployment


class Clock:
    """A clock the test moves by hand (starts at real time: STS expiries are real timestamps)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ThreadRecordingClients(BotocoreClients):
    """The default client factory, noting which thread asked for each STS client."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[str] = []

    def __call__(self, service: str, region: str, endpoint_url: str, creds: Any) -> Any:
        self.threads.append(threading.current_thread().name)
        return super().__call__(service, region, endpoint_url, creds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


class Sleeper:
    """The engine's backoff wait: records each delay and steps the test clock instead of sleeping."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock
        self.delays: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.delays.append(seconds)
            if self.clock is not None:
                self.clock.advance(seconds)


@pytest.fixture
def sleeper(clock: Clock) -> Sleeper:
    return Sleeper(clock)


@pytest.fixture
def engine(clock: Clock, sleeper: Sleeper, local_aws: LocalAWS) -> CredentialEngine:
    eng = CredentialEngine(clock=clock, background=False, sleep=sleeper)
    yield eng
    eng.settle()
    eng.close()


def config(aws: LocalAWS, role: str | None = DEPT_A, **extra: Any) -> DeploymentConfig:
    return DeploymentConfig.from_params(deployment(aws, role, **extra), deployment="dept", model=MODEL)


def assumes(aws: LocalAWS) -> int:
    return len(aws.sts_calls("AssumeRole"))


# -- sources ---------------------------------------------------------------------------------------
def test_static_keys_source(engine: CredentialEngine, local_aws: LocalAWS) -> None:
    cfg = config(local_aws, aws_access_key_id="AKIASTATICKEY0000001", aws_secret_access_key="static-secret")
    lease = engine.get(cfg)
    assert lease.account == "111111111111"
    assert local_aws.sts_calls("AssumeRole")[0].access_key_id == "AKIASTATICKEY0000001"


def test_static_keys_without_role_sign_directly(engine: CredentialEngine, local_aws: LocalAWS) -> None:
    cfg = config(local_aws, role=None, aws_access_key_id="AKIASTATICKEY0000002", aws_secret_access_key="s")
    lease = engine.get(cfg)
    assert lease.credentials is not None and lease.credentials.access_key == "AKIASTATICKEY0000002"
    assert local_aws.sts_calls() == []


def test_profile_source_including_a_profile_that_assumes_a_role(
    engine: CredentialEngine, local_aws: LocalAWS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "credentials").write_text(
        "[base]\naws_access_key_id = AKIAPROFILEKEY000001\naws_secret_access_key = profile-secret\n")
    (tmp_path / "config").write_text(
        f"[profile hopper]\nrole_arn = {HOPS[0]}\nsource_profile = base\nrole_session_name = from-profile\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", local_aws.sts_endpoint)  # botocore's own AssumeRole for the profile

    lease = engine.get(config(local_aws, aws_profile_name="base"))
    assert lease.account == "111111111111"
    assert local_aws.sts_calls("AssumeRole")[0].access_key_id == "AKIAPROFILEKEY000001"

    local_aws.reset()
    lease = engine.get(config(local_aws, aws_profile_name="hopper"))
    calls = local_aws.sts_calls("AssumeRole")
    assert [c.params["RoleArn"] for c in calls] == [HOPS[0], DEPT_A]  # the profile's role, then ours
    assert calls[0].access_key_id == "AKIAPROFILEKEY000001"
    assert lease.account == "111111111111"


@pytest.mark.parametrize("as_file", [False, True], ids=["inline", "file"])
def test_web_identity_source(engine: CredentialEngine, clock: Clock, local_aws: LocalAWS,
                             tmp_path: Path, as_file: bool) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("eyJ.first-token.sig")
    value = str(token_file) if as_file else "eyJ.first-token.sig"
    cfg = config(local_aws, aws_web_identity_token=value, aws_session_name="irsa-session")
    lease = engine.get(cfg)
    calls = local_aws.sts_calls("AssumeRoleWithWebIdentity")
    assert len(calls) == 1 and lease.account == "111111111111"
    assert calls[0].access_key_id is None  # unsigned, as AWS requires
    assert calls[0].params["WebIdentityToken"] == "eyJ.first-token.sig"
    assert calls[0].params["RoleSessionName"] == "irsa-session"
    assert "Policy" not in calls[0].params  # no session policy unless configured
    if as_file:  # EKS rotates the file: a refresh must read it again
        token_file.write_text("eyJ.rotated-token.sig")
        clock.advance(lease.expiry - clock.now - lease.advisory + 1)
        engine.get(cfg)
        engine.settle()
        assert local_aws.sts_calls("AssumeRoleWithWebIdentity")[-1].params["WebIdentityToken"] == (
            "eyJ.rotated-token.sig")


def test_default_chain_source_is_the_gateway_identity(engine: CredentialEngine, local_aws: LocalAWS) -> None:
    engine.get(config(local_aws))
    assert local_aws.sts_calls("AssumeRole")[0].access_key_id == local_aws.central.access_key_id


def test_no_source_identity_is_a_clear_error(engine: CredentialEngine, local_aws: LocalAWS,
                                             monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(CredentialError, match="no source identity") as info:
        engine.get(config(local_aws))
    assert info.value.code == "NoCredentials"
    assert local_aws.bedrock_calls() == []


# -- chains and options ----------------------------------------------------------------------------
def test_three_hop_chain_lands_in_the_last_account(engine: CredentialEngine, local_aws: LocalAWS,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    cfg = config(local_aws, DEPT_B, aws_external_id=DEPT_B_EXTERNAL_ID, aws_session_name="final",
                 xacct_role_chain=[HOPS[0], {"role_arn": HOPS[1], "session_name": "hop-two"}, HOPS[2]],
                 xacct_duration_seconds=7200)
    with caplog.at_level(logging.WARNING, logger="litellm_xacct"):
        lease = engine.get(cfg)
    calls = local_aws.sts_calls("AssumeRole")
    assert [c.params["RoleArn"] for c in calls] == [*HOPS, DEPT_B]
    assert calls[0].access_key_id == local_aws.central.access_key_id
    for previous, current in zip(calls, calls[1:], strict=False):  # each hop signed by the previous hop's keys
        assert current.access_key_id != previous.access_key_id
    assert calls[1].params["RoleSessionName"] == "hop-two"
    assert calls[-1].params["DurationSeconds"] == "3600"  # clamped: AWS caps chained sessions at 1 h
    assert sum("clamped" in r.getMessage() for r in caplog.records) == 1
    assert lease.account == "222222222222"
    assert lease.principal_arn == "arn:aws:sts::222222222222:assumed-role/litellm-bedrock-dept-b/final"


def test_each_option_reaches_sts(engine: CredentialEngine, local_aws: LocalAWS) -> None:
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "bedrock:*", "Resource": "*"}]}
    engine.get(config(
        local_aws, aws_session_name="opts", xacct_duration_seconds=1800, xacct_source_identity="alice@example",
        xacct_session_policy=policy, xacct_policy_arns=["arn:aws:iam::aws:policy/AmazonBedrockReadOnly"],
        aws_session_tags=[{"Key": "team", "Value": "dept-a"}], xacct_session_tags={"cost-center": "42"},
        xacct_transitive_tag_keys=["team"],
    ))
    params = local_aws.sts_calls("AssumeRole")[0].params
    assert params["DurationSeconds"] == "1800"
    assert params["SourceIdentity"] == "alice@example"
    assert '"bedrock:*"' in params["Policy"]
    assert params["PolicyArns.member.1.arn"] == "arn:aws:iam::aws:policy/AmazonBedrockReadOnly"
    tags = {params[f"Tags.member.{i}.Key"]: params[f"Tags.member.{i}.Value"] for i in (1, 2)}
    assert tags == {"team": "dept-a", "cost-center": "42"}
    assert params["TransitiveTagKeys.member.1"] == "team"


def test_role_that_cannot_be_assumed(engine: CredentialEngine, local_aws: LocalAWS) -> None:
    role = "arn:aws:iam::999999999999:role/nope"
    with pytest.raises(RoleAssumptionError) as info:
        engine.get(config(local_aws, role, aws_session_name="gw"))
    err = info.value
    assert (err.role_arn, err.session_name, err.code) == (role, "gw", "AccessDenied")
    # Failures are remembered briefly: the next request is answered without another STS call.
    with pytest.raises(RoleAssumptionError):
        engine.get(config(local_aws, role, aws_session_name="gw"))
    assert assumes(local_aws) == 1


# -- lifecycle -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("lifetime", "advisory", "mandatory"), [(900, 450, 225), (3600, 900, 600)])
def test_refresh_windows_scale_with_lifetime(engine: CredentialEngine, clock: Clock, local_aws: LocalAWS,
                                             lifetime: int, advisory: int, mandatory: int) -> None:
    assert refresh_windows(lifetime) == (advisory, mandatory)
    cfg = config(local_aws, xacct_duration_seconds=lifetime)
    first = engine.get(cfg)
    answered_by = time.time()
    issued_at = local_aws.sts_calls("AssumeRole")[0].at  # real time at STS (the test clock stands still)
    # STS stamps Expiration (whole seconds) at some moment while it handles the call: between the call's
    # arrival and our having the answer (a loaded machine stretches that window; it was seen at 2 s).
    assert issued_at - 1 <= first.expiry - lifetime <= answered_by + 1
    # Every access until the advisory window: served from cache, no STS call.
    for _ in range(20):
        clock.advance((lifetime - advisory - 5) / 20)
        assert engine.get(cfg) is first
    assert assumes(local_aws) == 1 and engine.stats["waits"] == 1
    # Inside the advisory window: the request gets the current lease at once; one background refresh.
    clock.advance(10)
    assert engine.get(cfg) is first
    engine.settle()
    assert assumes(local_aws) == 2
    second = engine.get(cfg)
    assert second is not first and engine.stats["waits"] == 1  # nobody waited after warm-up


def test_scheduler_refreshes_active_identities_without_a_request(
    engine: CredentialEngine, clock: Clock, local_aws: LocalAWS
) -> None:
    cfg = config(local_aws, xacct_duration_seconds=900)
    first = engine.get(cfg)
    clock.advance(900 - 450 - 1)
    engine.refresh_due()  # may re-read the gateway's own (default chain) source; no AssumeRole yet
    engine.settle()
    assert assumes(local_aws) == 1
    clock.advance(2)
    assert engine.refresh_due() >= 1
    engine.settle()
    assert assumes(local_aws) == 2 and engine.get(cfg) is not first


def test_sts_outage_through_the_advisory_window_fails_no_request(
    engine: CredentialEngine, clock: Clock, local_aws: LocalAWS, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = config(local_aws, xacct_duration_seconds=900)
    first = engine.get(cfg)
    local_aws.fail_sts(code="ServiceUnavailable", status=503)
    served = 0
    with caplog.at_level(logging.WARNING, logger="litellm_xacct"):
        clock.advance(900 - 450 + 1)  # into the advisory window
        while clock.now < first.expiry - 5:  # through advisory and mandatory windows, to expiry
            assert engine.get(cfg) is first
            served += 1
            engine.settle()
            engine.refresh_due()
            clock.advance(7)
    assert served > 60 and engine.stats["refresh_failures"] >= 2
    failures = [r for r in caplog.records if "refresh failed" in r.getMessage()]
    assert len(failures) == 1  # once per incident, not once per retry
    # Backoff (1 s doubling to 30 s, jittered): far fewer refresh attempts than accesses.
    assert 2 <= engine.stats["refresh_failures"] < served / 2
    local_aws.clear_faults()
    clock.advance(31)
    engine.get(cfg)
    engine.settle()
    assert engine.get(cfg) is not first
    assert any("recovered" in r.getMessage() for r in caplog.records)


def test_expired_lease_with_sts_down_is_an_error(engine: CredentialEngine, clock: Clock,
                                                 local_aws: LocalAWS) -> None:
    cfg = config(local_aws, xacct_duration_seconds=900)
    first = engine.get(cfg)
    local_aws.fail_sts(code="ServiceUnavailable", status=503)
    clock.advance(first.expiry - clock.now + 1)
    with pytest.raises(CredentialError) as info:
        engine.get(cfg)
    assert info.value.code == "ServiceUnavailable"


def test_lru_eviction(clock: Clock, local_aws: LocalAWS) -> None:
    # Three entries: the gateway's own source identity (shared by all three) and two roles.
    engine = CredentialEngine(clock=clock, background=False, max_entries=3)
    a, b, c = (config(local_aws, aws_session_name=f"lru-{n}") for n in "abc")
    for cfg in (a, b, a, c):  # c evicts b (least recently used), not a
        engine.get(cfg)
    assert len(engine) == 3 and assumes(local_aws) == 3
    engine.get(a)
    assert assumes(local_aws) == 3
    engine.get(b)
    assert assumes(local_aws) == 4


def test_concurrent_cold_requests_share_one_sts_call_off_the_loop(clock: Clock, local_aws: LocalAWS) -> None:
    clients = ThreadRecordingClients()
    engine = CredentialEngine(clock=clock, background=False, client_factory=clients)
    cfg = config(local_aws, DEPT_B, aws_external_id=DEPT_B_EXTERNAL_ID)
    local_aws.sts_delay = 0.2

    async def burst() -> tuple[set[int], str]:
        leases = await asyncio.gather(*[engine.aget(cfg) for _ in range(100)])
        return {id(lease) for lease in leases}, threading.current_thread().name

    ids, loop_thread = asyncio.run(burst())
    assert len(ids) == 1 and assumes(local_aws) == 1
    assert clients.threads and loop_thread not in clients.threads
    assert set(clients.threads) <= {f"{engine.name}:refresh", f"{engine.name}:warm"}
    engine.close()


# -- cold fetches under transient STS failures -----------------------------------------------------
def test_cold_fetch_requeues_throttled_calls_behind_a_slower_budget(
    engine: CredentialEngine, sleeper: Sleeper, local_aws: LocalAWS
) -> None:
    local_aws.fail_sts(code="Throttling", count=3)
    lease = engine.get(config(local_aws))
    assert lease.account == "111111111111"
    codes = [c.error_code for c in local_aws.sts_calls("AssumeRole")]
    assert codes == ["Throttling", "Throttling", "Throttling", None]
    assert engine.stats["sts_throttled"] == 3 and engine.stats["cold_retries"] == 0  # re-queued, not retried
    [budget] = engine.pacing_state()
    assert budget["throttles"] == 3 and budget["rate"] < engine.pacing.initial_rate
    # Each re-queued call waited for the slowed budget (never longer than one token at the minimum rate).
    assert len(sleeper.delays) >= 2 and max(sleeper.delays) <= 1 / engine.pacing.min_rate + 1e-9


@pytest.mark.parametrize(("code", "status"), [("InternalFailure", 500), ("ServiceUnavailable", 503)])
def test_cold_fetch_retries_sts_5xx(engine: CredentialEngine, sleeper: Sleeper, local_aws: LocalAWS,
                                    code: str, status: int) -> None:
    local_aws.fail_sts(code=code, status=status, count=2)
    assert engine.get(config(local_aws)).account == "111111111111"
    assert assumes(local_aws) == 3 and len(sleeper.delays) == 2


def test_persistent_throttling_fails_within_the_budget_with_a_throttling_fix(
    engine: CredentialEngine, sleeper: Sleeper, clock: Clock, local_aws: LocalAWS
) -> None:
    local_aws.fail_sts(code="Throttling", count=None)
    start = clock.now
    with pytest.raises(StsUnavailableError) as info:
        engine.get(config(local_aws))
    err = info.value
    assert err.code == "Throttling" and not isinstance(err, RoleAssumptionError)
    policy = engine.cold_retry
    # Re-queued, not counted as failed attempts: two quick calls, then one probe per 1/min_rate seconds.
    assert 2 <= assumes(local_aws) == err.attempts <= 3 + policy.budget * engine.pacing.min_rate
    assert clock.now - start == pytest.approx(sum(sleeper.delays)) and sum(sleeper.delays) <= policy.budget
    text = str(err)
    assert "throttling" in text and "trust policy" not in text and f"{err.attempts} attempt(s)" in text
    assert local_aws.bedrock_calls() == []


def test_total_wait_is_bounded_by_the_budget(clock: Clock, sleeper: Sleeper, local_aws: LocalAWS) -> None:
    engine = CredentialEngine(clock=clock, background=False, sleep=sleeper,
                              cold_retry=ColdRetry(attempts=100, base=1.0, cap=8.0, budget=20.0))
    local_aws.fail_sts(code="ServiceUnavailable", status=503, count=None)
    with pytest.raises(StsUnavailableError) as info:
        engine.get(config(local_aws))
    engine.close()
    assert 20.0 - 8.0 < sum(sleeper.delays) <= 20.0  # it used the budget, and no more
    assert info.value.attempts == assumes(local_aws) < 100
    assert "unavailable" in str(info.value) and "trust policy" not in str(info.value)


def test_trust_refusals_are_not_retried(engine: CredentialEngine, sleeper: Sleeper, local_aws: LocalAWS) -> None:
    with pytest.raises(RoleAssumptionError) as info:
        engine.get(config(local_aws, "arn:aws:iam::999999999999:role/nope"))
    assert info.value.code == "AccessDenied" and "trust policy" in str(info.value)
    assert assumes(local_aws) == 1 and sleeper.delays == []


def test_unreachable_sts_is_retried_then_a_connection_error(engine: CredentialEngine, sleeper: Sleeper,
                                                            local_aws: LocalAWS) -> None:
    import socket

    with socket.socket() as sock:  # a port that refuses connections
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(StsUnavailableError) as info:
        engine.get(config(local_aws, aws_sts_endpoint=dead))
    assert info.value.code == "EndpointConnectionError"
    assert len(sleeper.delays) == info.value.attempts - 1 >= 1
    assert dead in str(info.value) and "trust policy" not in str(info.value)


def test_warm_refresh_failure_is_not_retried_in_place(engine: CredentialEngine, sleeper: Sleeper, clock: Clock,
                                                      local_aws: LocalAWS) -> None:
    cfg = config(local_aws, xacct_duration_seconds=900)
    first = engine.get(cfg)
    local_aws.fail_sts(code="Throttling", count=None)
    clock.advance(900 - 450 + 1)  # advisory window: the current lease is served, one background attempt
    assert engine.get(cfg) is first
    engine.settle()
    assert assumes(local_aws) == 2 and sleeper.delays == []


# -- lifecycle: close ------------------------------------------------------------------------------
def test_close_stops_every_thread_it_started_and_is_idempotent(local_aws: LocalAWS) -> None:
    engine = CredentialEngine(background=True)  # scheduler on, real clock and sleep
    cfg = config(local_aws)
    engine.get(cfg)
    local_aws.sts_delay = 0.5
    engine.get(config(local_aws, aws_session_name="second"))  # a refresh worker has run
    def third() -> None:  # may be cut short by close(): EngineClosed is the documented answer then
        with contextlib.suppress(CredentialError):
            engine.get(config(local_aws, aws_session_name="third"))

    threading.Thread(target=third, daemon=True).start()
    deadline = time.monotonic() + 10
    while not any(t.name.endswith(":refresh") for t in engine.threads()) and time.monotonic() < deadline:
        time.sleep(0.01)  # wait until a refresh worker is mid-STS-call
    names = {t.name for t in engine.threads()}
    assert {f"{engine.name}:spawner", f"{engine.name}:scheduler", f"{engine.name}:refresh"} <= names
    engine.close()
    assert engine.threads() == []
    assert [t.name for t in threading.enumerate() if t.name.startswith(f"{engine.name}:")] == []
    engine.close()  # idempotent
    assert engine.threads() == []
    assert engine.get(cfg).account == "111111111111"  # cached leases are still served
    with pytest.raises(CredentialError) as info:
        engine.get(config(local_aws, aws_session_name="after-close"))
    assert info.value.code == "EngineClosed" and engine.threads() == []


def test_close_cuts_a_cold_retry_backoff_short(local_aws: LocalAWS) -> None:
    # Backoff of 120..600 s: the caller can only return within the join below if close() cut it short.
    engine = CredentialEngine(background=False, cold_retry=ColdRetry(attempts=50, base=600, cap=600, budget=3600))
    local_aws.fail_sts(code="ServiceUnavailable", status=503, count=None)
    errors: list[BaseException] = []

    def request() -> None:
        try:
            engine.get(config(local_aws))
        except CredentialError as exc:
            errors.append(exc)

    caller = threading.Thread(target=request)
    caller.start()
    deadline = time.monotonic() + 10
    while assumes(local_aws) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert assumes(local_aws) >= 1  # the worker is now waiting out its backoff
    engine.close()
    caller.join(60)
    assert not caller.is_alive() and engine.threads() == []
    assert assumes(local_aws) == 1
    assert len(errors) == 1 and isinstance(errors[0], StsUnavailableError)


def test_cold_fetch_retries_sts_connection_resets(engine: CredentialEngine, sleeper: Sleeper,
                                                  local_aws: LocalAWS) -> None:
    local_aws.reset_sts_connections(count=2)
    assert engine.get(config(local_aws)).account == "111111111111"
    assert local_aws.sts_connection_resets == 2 and len(sleeper.delays) == 2
    assert [c.status for c in local_aws.sts_calls("AssumeRole")] == [200]  # reset calls never reached STS
