"""The attack suite: a hostile API-key holder against a real ``litellm --config`` proxy running the shipped
example_config.yaml (guard armed), on LiteLLM 1.82.3 and 1.108.7.

Each attack is one row of :data:`ATTACKS` (a body and where it goes). Every row asserts what reached the
wire, not only the status: no Bedrock call and no STS call during the attack, nothing on the attacker's
listener, no forged audit record in the spend log; then a control request of the same department lands in
its own account, in the configured region and model, with the provider's audit record. Baselines in the
same run (each department plain and stream, untagged -> default, top_k/guardrailConfig, /v1/messages,
/v1/responses) must succeed, so the guard can't pass by refusing everything.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from litellm_xacct.testing import LocalAWS, ProxyProcess

from .conftest import DEPT_A, DEPT_B, DEPT_B_EXTERNAL_ID, MODEL, PLATFORM
from .helpers import Listener

pytestmark = pytest.mark.proxy

REPO = Path(__file__).resolve().parent.parent
GROUP = "claude-sonnet"
OTHER_GROUP = "gpt-other"  # an OpenAI-style group on the same gateway (its upstream: a closed loopback port)
REGION = "us-east-1"
CONFIGURED_ROLES = {DEPT_A, DEPT_B, PLATFORM}
SIGNERS = {  # tag -> (account, role, session) of the deployment that must sign
    "dept-a": ("111111111111", DEPT_A, "gateway-dept-a"),
    "dept-b": ("222222222222", DEPT_B, "gateway-dept-b"),
    None: ("333333333333", PLATFORM, "gateway-untagged"),
}
MESSAGES = [{"role": "user", "content": "who signed this request?"}]
FORGED = "forged-audit-7c1e"  # a marker no real audit record contains
OTHER_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
ATTACKER_KEY = "AKIAEXAMPLEATTACKER1"

AUDIT_CALLBACK = '''
import json, os
from litellm.integrations.custom_logger import CustomLogger


class XacctAuditLog(CustomLogger):
    def _write(self, kwargs, outcome):
        payload = kwargs.get("standard_logging_object") or {}
        record = {"outcome": outcome, "call_id": kwargs.get("litellm_call_id"),
                  "spend_logs_metadata": (payload.get("metadata") or {}).get("spend_logs_metadata")}
        with open(os.environ["XACCT_AUDIT_LOG"], "a", encoding="utf-8") as f:
            f.write(json.dumps(record, default=str) + "\\n")

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._write(kwargs, "success")

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._write(kwargs, "failure")


audit_log = XacctAuditLog()
'''



ATTACKER = "{attacker}"  # replaced by the listener's URL in each row


@dataclass(frozen=True)
class Attack:
    """One hostile request: ``body`` goes into the JSON body (``{attacker}`` becomes the listener's URL),
    ``headers`` are HTTP headers to the proxy; ``field`` is what the refusal must name."""

    name: str
    body: dict[str, Any]
    field: str
    route: str = "chat"  # chat | chat-stream | messages | responses
    model: str = GROUP
    headers: dict[str, str] = field(default_factory=dict)
    tag: str | None = "dept-a"
    dropped_by_litellm: bool = False  # some releases drop the field themselves: then served normally


def _with(extra: dict[str, Any]) -> dict[str, Any]:
    return {"custom_llm_provider": "bedrock", **extra}


ATTACKS: list[Attack] = [
    # -- switching the provider off, at every depth and key case LiteLLM reads ----------------------------
    Attack("provider top level", {"custom_llm_provider": "bedrock"}, "custom_llm_provider"),
    Attack("provider top level stream", {"custom_llm_provider": "bedrock"}, "custom_llm_provider",
           route="chat-stream"),
    Attack("provider in extra_body", {"extra_body": {"custom_llm_provider": "bedrock"}}, "custom_llm_provider"),
    Attack("provider in metadata", {"metadata": {"custom_llm_provider": "bedrock"}}, "custom_llm_provider"),
    Attack("provider in litellm_metadata", {"litellm_metadata": {"custom_llm_provider": "bedrock"}},
           "custom_llm_provider"),
    Attack("provider mixed case", {"Custom_LLM_Provider": "bedrock"}, "Custom_LLM_Provider"),
    Attack("provider upper case in extra_body", {"extra_body": {"CUSTOM_LLM_PROVIDER": "bedrock"}},
           "CUSTOM_LLM_PROVIDER"),
    Attack("provider untagged", {"custom_llm_provider": "bedrock"}, "custom_llm_provider", tag=None),
    Attack("provider via /v1/messages", {"custom_llm_provider": "bedrock"}, "custom_llm_provider",
           route="messages"),
    Attack("provider via /v1/responses", {"custom_llm_provider": "bedrock"}, "custom_llm_provider",
           route="responses"),
    Attack("provider on a non-bedrock-xacct model group", _with({"aws_region_name": REGION}), "custom_llm_provider",
           model=OTHER_GROUP, tag=None),
    Attack("user_config: the caller's own model list", {"user_config": {"model_list": [{
        "model_name": "mine", "litellm_params": {"model": f"bedrock/{MODEL}", "aws_region_name": REGION,
                                                 "aws_role_name": DEPT_B, "aws_sts_endpoint": ATTACKER}}]}},
           "user_config", model="mine", tag=None),
    Attack("provider_specific_header in the body",
           {"provider_specific_header": {"custom_llm_provider": "bedrock", "extra_headers": {"Host": ATTACKER}}},
           "provider_specific_header"),
    Attack("router_settings_override", {"router_settings_override": {"fallbacks": [{GROUP: ["mine"]}]}},
           "router_settings_override"),
    Attack("provider in client-side fallbacks", {"fallbacks": [{"model": GROUP, "custom_llm_provider": "bedrock"}]},
           "fallbacks"),
    # -- ... combined with what the native path would honour --------------------------------------------
    Attack("provider + another department's role",
           _with({"aws_role_name": DEPT_B, "aws_external_id": DEPT_B_EXTERNAL_ID}), "custom_llm_provider"),
    Attack("provider + null role (gateway identity)", _with({"aws_role_name": None}), "custom_llm_provider"),
    Attack("provider + runtime endpoint", _with({"aws_bedrock_runtime_endpoint": ATTACKER}), "custom_llm_provider"),
    Attack("provider + sts endpoint", _with({"aws_sts_endpoint": ATTACKER, "aws_role_name": DEPT_B}),
           "custom_llm_provider"),
    Attack("provider + region", _with({"aws_region_name": "eu-west-1"}), "custom_llm_provider"),
    Attack("provider + caller keys", _with({"aws_access_key_id": ATTACKER_KEY,
                                            "aws_secret_access_key": "attacker-secret"}), "custom_llm_provider"),
    Attack("provider + model_id", _with({"model_id": OTHER_MODEL}), "custom_llm_provider"),
    # -- identity, endpoint, model and deployment fields alone ---------------------------------------------
    Attack("null role", {"aws_role_name": None}, "aws_role_name"),
    Attack("role in extra_body", {"extra_body": {"aws_role_name": DEPT_B}}, "aws_role_name"),
    Attack("runtime endpoint in metadata", {"metadata": {"aws_bedrock_runtime_endpoint": ATTACKER}},
           "aws_bedrock_runtime_endpoint"),
    Attack("region", {"aws_region_name": "eu-west-1"}, "aws_region_name"),
    Attack("caller keys", {"aws_access_key_id": ATTACKER_KEY, "aws_secret_access_key": "s"},
           "aws_access_key_id"),
    Attack("model_id", {"model_id": OTHER_MODEL}, "model_id"),
    Attack("model_info", {"model_info": {"id": "any"}}, "model_info"),
    Attack("api_base", {"api_base": ATTACKER}, "api_base"),
    Attack("base_url in extra_body", {"extra_body": {"base_url": ATTACKER}}, "base_url"),
    Attack("api_key", {"api_key": "attacker-bearer-token"}, "api_key"),
    Attack("litellm_credential_name", {"litellm_credential_name": "another-teams-credential"},
           "litellm_credential_name"),
    # -- faked outcomes --------------------------------------------------------------------------------
    Attack("mock_response", {"mock_response": "forged answer"}, "mock_response", dropped_by_litellm=True),
    Attack("mock_response in litellm_metadata", {"litellm_metadata": {"mock_response": "x"}}, "mock_response"),
    Attack("spend_logs_metadata.xacct", {"metadata": {"spend_logs_metadata": {"xacct": {"account": FORGED}}}},
           "spend_logs_metadata.xacct"),
    Attack("spend_logs_metadata.xacct + provider switch",
           _with({"metadata": {"spend_logs_metadata": {"xacct": {"account": FORGED}}}}), "custom_llm_provider"),
    Attack("spend_logs_metadata.xacct via header", {}, "spend_logs_metadata.xacct",
           headers={"x-litellm-spend-logs-metadata": json.dumps({"xacct": {"account": FORGED}})}),
    # -- caller headers that would change what is signed ---------------------------------------------------
    Attack("extra_headers Host", {"extra_headers": {"Host": "attacker.example"}}, "Host"),
    Attack("extra_headers Authorization", {"extra_headers": {"Authorization": "AWS4-HMAC-SHA256 forged"}},
           "Authorization"),
    Attack("extra_headers X-Amz-Security-Token", {"extra_headers": {"X-Amz-Security-Token": "forged"}},
           "X-Amz-Security-Token"),
    Attack("extra_headers X-Amz-Content-Sha256", {"extra_headers": {"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"}},
           "X-Amz-Content-Sha256"),
    Attack("extra_headers Content-Type", {"extra_headers": {"Content-Type": "text/plain"}}, "Content-Type"),
    Attack("extra_headers in extra_body", {"extra_body": {"extra_headers": {"x-amz-date": "20200101T000000Z"}}},
           "x-amz-date"),
]


# -- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def audit_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("attacks") / "payloads.jsonl"


@pytest.fixture(scope="module")
def proxy(aws: LocalAWS, audit_path: Path) -> Iterator[ProxyProcess]:
    config = yaml.safe_load((REPO / "example_config.yaml").read_text(encoding="utf-8"))
    assert config["litellm_settings"]["callbacks"] == ["xacct_handler.guard"]  # the documented setup
    config["model_list"].append({"model_name": OTHER_GROUP, "litellm_params": {
        "model": "openai/gpt-4o-mini", "api_base": "http://127.0.0.1:1/v1", "api_key": "sk-not-used"}})
    config["litellm_settings"]["callbacks"].append("xacct_audit_callback.audit_log")
    env = {"DEPT_B_EXTERNAL_ID": DEPT_B_EXTERNAL_ID, "XACCT_AUDIT_LOG": str(audit_path)}
    with ProxyProcess(config, aws, env=env, files={"xacct_audit_callback.py": AUDIT_CALLBACK}) as running:
        yield running


@pytest.fixture(scope="module")
def attacker() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.close()


@pytest.fixture
def gw(proxy: ProxyProcess, aws: LocalAWS, attacker: Listener, audit_path: Path) -> Iterator[Gateway]:
    aws.reset()
    gateway = Gateway(proxy, aws, attacker, audit_path)
    yield gateway
    gateway.close()


class Gateway:
    """The proxy, an openai client, raw HTTP for the other routes, and the wire's logs."""

    def __init__(self, proxy: ProxyProcess, aws: LocalAWS, attacker: Listener, audit_path: Path) -> None:
        self.proxy, self.aws, self.attacker, self.audit_path = proxy, aws, attacker, audit_path
        self.client = proxy.openai_client()
        self.http = httpx.Client(base_url=proxy.base_url, timeout=60,
                                 headers={"Authorization": f"Bearer {proxy.master_key}"})

    def close(self) -> None:
        self.client.close()
        self.http.close()

    def send(self, route: str, tag: str | None, body: dict[str, Any], headers: dict[str, str] | None = None,
             model: str = GROUP) -> tuple[int, str, str | None]:
        """One request; returns (status, text: the answer or the error, LiteLLM call id)."""
        body = dict(body)
        if tag is not None:
            body["tags"] = [tag]
        if route == "messages":
            response = self.http.post("/v1/messages", headers=headers or {}, json={
                "model": model, "max_tokens": 64, "messages": MESSAGES, **body})
            return response.status_code, response.text, response.headers.get("x-litellm-call-id")
        try:
            if route == "responses":
                raw: Any = self.client.responses.with_raw_response.create(
                    model=model, input="who signed this request?", extra_body=body, extra_headers=headers)
                return raw.status_code, raw.parse().output_text, raw.headers.get("x-litellm-call-id")
            raw = self.client.chat.completions.with_raw_response.create(
                model=model, messages=MESSAGES, stream=route == "chat-stream", extra_body=body,
                extra_headers=headers)
            parsed = raw.parse()
            text = ("".join(c.choices[0].delta.content or "" for c in parsed if c.choices)
                    if route == "chat-stream" else parsed.choices[0].message.content or "")
            return raw.status_code, text, raw.headers.get("x-litellm-call-id")
        except openai.APIStatusError as exc:
            return exc.status_code, str(exc.message), exc.response.headers.get("x-litellm-call-id")
        except openai.APIError as exc:  # an error event inside a stream that had started
            return 500, str(exc.message), None

    def log_size(self) -> int:
        assert self.proxy.log_path is not None
        return self.proxy.log_path.stat().st_size

    def log_since(self, offset: int) -> str:
        assert self.proxy.log_path is not None
        with open(self.proxy.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    def audit_records(self, call_ids: set[str], timeout: float = 15.0) -> dict[str, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            found: dict[str, dict[str, Any]] = {}
            if self.audit_path.exists():
                for line in self.audit_path.read_text(encoding="utf-8").splitlines():
                    record = json.loads(line)
                    if record.get("call_id") in call_ids:
                        found[record["call_id"]] = record
            if set(found) >= call_ids or time.monotonic() > deadline:
                return found
            time.sleep(0.2)


def assert_wire_is_the_departments(gw: Gateway, tag: str | None, bedrock_from: int, sts_from: int) -> None:
    """Every Bedrock call since ``bedrock_from`` signed by the tag's deployment, in the configured region and
    model; every STS call for a configured role, signed by the gateway's identity or an issued one."""
    account, role, session = SIGNERS[tag]
    for call in gw.aws.bedrock_calls()[bedrock_from:]:
        assert (call.account, call.role_arn, call.session_name) == (account, role, session), call
        assert (call.region, call.model_id) == (REGION, MODEL), call
    for sts in gw.aws.sts_calls()[sts_from:]:
        assert sts.access_key_id != ATTACKER_KEY, sts
        if sts.action.startswith("AssumeRole"):  # a configured role, asked for by the gateway's own identity
            assert sts.params.get("RoleArn") in CONFIGURED_ROLES, sts
            assert sts.access_key_id == gw.aws.central.access_key_id, sts
    assert gw.attacker.hits == [], gw.attacker.hits


def control(gw: Gateway, tag: str | None) -> str:
    """A plain request of the department: lands in its own account; returns its call id."""
    bedrock_from, sts_from = len(gw.aws.bedrock_calls()), len(gw.aws.sts_calls())
    status, text, call_id = gw.send("chat", tag, {})
    assert status == 200 and SIGNERS[tag][0] in text, (status, text)
    calls = gw.aws.bedrock_calls()[bedrock_from:]
    assert len(calls) == 1 and calls[0].status == 200
    assert_wire_is_the_departments(gw, tag, bedrock_from, sts_from)
    assert call_id
    return call_id


def refused_by(status: int, text: str, attack: Attack, log: str) -> str:
    """Who refused: ``guard`` (our 400 naming the field) or ``litellm`` (1.108.7's own body gate: 401, or a
    bare 500 when its handler crashes importing the optional ``prisma``, with the refusal in the log)."""
    if status == 400 and "litellm-xacct guard" in text and attack.field in text:
        return "guard"
    gate = "is not allowed in request body"
    if status == 401 and gate in text:
        return "litellm"
    if status == 500 and gate in log and "No module named 'prisma'" in log:
        return "litellm"
    raise AssertionError(f"{attack.name}: not refused as expected: {status} {text[:400]}\n{log[-2000:]}")


# -- baselines: the guard lets legitimate traffic through ---------------------------------------------------


@pytest.mark.parametrize("route", ["chat", "chat-stream"])
@pytest.mark.parametrize("tag", ["dept-a", "dept-b", None], ids=["dept-a", "dept-b", "untagged"])
def test_baseline_each_department_lands_in_its_account(gw: Gateway, tag: str | None, route: str) -> None:
    status, text, call_id = gw.send(route, tag, {"metadata": {"spend_logs_metadata": {"ticket": "T-9"}}})
    assert status == 200 and SIGNERS[tag][0] in text, (status, text)
    assert len(gw.aws.bedrock_calls()) == 1
    assert_wire_is_the_departments(gw, tag, 0, 0)
    if call_id:  # the spend-log record is the provider's (streams: the proxy sends no call-id header)
        record = gw.audit_records({call_id})[call_id]
        assert record["spend_logs_metadata"]["xacct"]["account"] == SIGNERS[tag][0], record
        assert record["spend_logs_metadata"]["ticket"] == "T-9"


def test_baseline_provider_params_are_accepted(gw: Gateway) -> None:
    guardrail = {"guardrailIdentifier": "gr-1", "guardrailVersion": "1"}
    status, text, _ = gw.send("chat", "dept-b", {"top_k": 5, "guardrailConfig": guardrail, "user": "alice",
                                                 "metadata": {"ticket": "T-1"}})
    assert status == 200, text
    (call,) = gw.aws.bedrock_calls()
    assert call.body is not None
    assert call.body["additionalModelRequestFields"] == {"top_k": 5}
    assert call.body["guardrailConfig"] == guardrail
    assert_wire_is_the_departments(gw, "dept-b", 0, 0)


@pytest.mark.parametrize("route", ["messages", "responses"])
def test_baseline_other_routes(gw: Gateway, route: str) -> None:
    status, text, _ = gw.send(route, "dept-b", {})
    assert status == 200 and "222222222222" in text, (status, text[:300])
    assert len(gw.aws.bedrock_calls()) == 1
    assert_wire_is_the_departments(gw, "dept-b", 0, 0)


# -- the attack table ----------------------------------------------------------------------------------------


def _fill(value: Any, url: str) -> Any:
    if value == ATTACKER:
        return url
    if isinstance(value, dict):
        return {k: _fill(v, url) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, url) for v in value]
    return value


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack(gw: Gateway, attack: Attack) -> None:
    control(gw, attack.tag)  # warm: credentials cached, so a leak would show as a Bedrock call, not only STS
    bedrock_from, sts_from = len(gw.aws.bedrock_calls()), len(gw.aws.sts_calls())
    offset = gw.log_size()
    status, text, call_id = gw.send(attack.route, attack.tag, _fill(attack.body, gw.attacker.url), attack.headers,
                                    attack.model)
    if attack.dropped_by_litellm and status == 200:
        # LiteLLM dropped the field before routing (1.108.7 strips a client's mock_response): the request was
        # served exactly like a normal one, by the department's own deployment, with no faked answer.
        assert SIGNERS[attack.tag][0] in text and "forged" not in text, text
        assert len(gw.aws.bedrock_calls()[bedrock_from:]) == 1
        who = "litellm (dropped)"
    else:
        who = refused_by(status, text, attack, gw.log_since(offset))
        # nothing reached any wire during the attack
        assert gw.aws.bedrock_calls()[bedrock_from:] == []
        assert gw.aws.sts_calls()[sts_from:] == []
    print(f"\nATTACK {attack.name!r}: {who} ({status})")
    assert gw.attacker.hits == []
    # the deployment is unchanged for the next request, and its audit record is the provider's
    control_id = control(gw, attack.tag)
    records = gw.audit_records({control_id} | ({call_id} if call_id else set()))
    assert records[control_id]["spend_logs_metadata"]["xacct"]["account"] == SIGNERS[attack.tag][0]
    assert FORGED not in gw.audit_path.read_text(encoding="utf-8"), "a forged audit record reached the spend log"
    assert_wire_is_the_departments(gw, attack.tag, 0, 0)


@pytest.mark.parametrize("tag", ["dept-b", None], ids=["dept-b", "untagged"])
def test_deployment_addressed_by_its_model_string_keeps_isolation(gw: Gateway, tag: str | None) -> None:
    """The proxy also routes ``model: bedrock-xacct/<id>`` (a deployment's own model string) to the *first*
    deployment with that string, dept-a's, whatever the tags. Isolation refuses that (403), or the request
    lands in the tag's own account: never in dept-a's."""
    outcomes = [gw.send(route, tag, {}, model=f"bedrock-xacct/{MODEL}") for route in ("chat", "chat-stream")]
    for status, text, _ in outcomes:
        assert (status == 403 and "department isolation" in text) or (
            status == 200 and SIGNERS[tag][0] in text), (status, text[:300])
    assert_wire_is_the_departments(gw, tag, 0, 0)
    print(f"\nDEPLOYMENT-STRING {tag}:", [(s, t[:100]) for s, t, _ in outcomes])


# -- cooldown: a throttled department never lands in another account (keep last: it leaves dept-a cooling) ----


def test_throttled_department_fails_clearly_and_never_lands_elsewhere(gw: Gateway) -> None:
    control(gw, "dept-a")
    gw.aws.reset()
    gw.aws.fail_bedrock(code="ThrottlingException", status=429, count=None)
    outcomes = [gw.send(route, "dept-a", {}) for route in ("chat", "chat-stream") * 3]
    gw.aws.clear_faults()
    for status, text, _ in outcomes:
        assert status >= 400, (status, text)
        assert "111111111111" not in text and "333333333333" not in text and "222222222222" not in text
    throttled = gw.aws.bedrock_calls()
    assert throttled, "dept-a's deployment was never tried"
    assert {(c.account, c.status) for c in throttled} == {("111111111111", 429)}
    # the isolation refusals did not cool down the default deployment or dept-b's: both still serve
    for tag in (None, "dept-b"):
        control(gw, tag)
    others = gw.aws.bedrock_calls()[len(throttled):]
    assert [c.account for c in others] == ["333333333333", "222222222222"]
    print("\nCOOLDOWN outcomes:", [(s, t[:160]) for s, t, _ in outcomes])
