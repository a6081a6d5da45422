"""The gateway scenario end to end: a real ``litellm --config`` proxy subprocess, the official openai client,
and the local AWS stand-in's logs as the judge of what reached the wire.

One proxy per module (started once; ~10 s): the shipped example_config.yaml (dept-a, dept-b with an external
id from ``os.environ/DEPT_B_EXTERNAL_ID``) plus a third department whose role the stand-in does not know,
plus a small success/failure callback that appends each StandardLoggingPayload's audit-relevant part to a
JSON-lines file. Runs unchanged on LiteLLM 1.82.3 and 1.108.7.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from litellm_xacct._config import AWS_FIELDS
from litellm_xacct.testing import CENTRAL_ACCOUNT, LocalAWS, ProxyProcess

from .conftest import DEPT_A, DEPT_B, DEPT_B_EXTERNAL_ID
from .helpers import Listener

pytestmark = pytest.mark.proxy

REPO = Path(__file__).resolve().parent.parent
MODEL_NAME = "claude-sonnet"
BROKEN = "arn:aws:iam::333333333333:role/litellm-bedrock-dept-c"  # not registered in the stand-in
DEPTS = {
    "dept-a": (DEPT_A, "111111111111", "gateway-dept-a"),
    "dept-b": (DEPT_B, "222222222222", "gateway-dept-b"),
}
MESSAGES = [{"role": "user", "content": "who signed this request?"}]
XACCT_FIELDS = ("xacct_role_chain", "xacct_duration_seconds", "xacct_session_policy", "xacct_source_identity")
AUDIT_HEADERS = {
    "account": "llm_provider-x-xacct-account",
    "role_arn": "llm_provider-x-xacct-role-arn",
    "session_name": "llm_provider-x-xacct-session-name",
}

# A logging callback the proxy loads from beside its config (custom callbacks, like custom handlers, are
# looked up there by LiteLLM 1.82.3). It writes only the parts of the payload the audit needs.
AUDIT_CALLBACK = '''
import json, os
from litellm.integrations.custom_logger import CustomLogger


class XacctAuditLog(CustomLogger):
    def _write(self, kwargs, outcome):
        payload = kwargs.get("standard_logging_object") or {}
        record = {
            "outcome": outcome,
            "call_id": kwargs.get("litellm_call_id"),
            "status": payload.get("status"),
            "stream": payload.get("stream"),
            "request_tags": payload.get("request_tags"),
            "spend_logs_metadata": (payload.get("metadata") or {}).get("spend_logs_metadata"),
            "hidden_params": payload.get("hidden_params"),
            "error_str": payload.get("error_str"),
            "payload": payload,
        }
        with open(os.environ["XACCT_AUDIT_LOG"], "a", encoding="utf-8") as f:
            f.write(json.dumps(record, default=str) + "\\n")

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._write(kwargs, "success")

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._write(kwargs, "failure")


audit_log = XacctAuditLog()
'''


# -- fixtures ---------------------------------------------------------------------------------------------


def gateway_config() -> dict[str, Any]:
    config = yaml.safe_load((REPO / "example_config.yaml").read_text(encoding="utf-8"))
    config["model_list"].append({
        "model_name": MODEL_NAME,
        "litellm_params": {
            "model": "bedrock-xacct/us.anthropic.claude-sonnet-4-6", "aws_region_name": "us-east-1",
            "aws_role_name": BROKEN, "aws_session_name": "gateway-dept-c", "tags": ["dept-c"],
        },
        "model_info": {"base_model": "us.anthropic.claude-sonnet-4-6"},
    })
    config["litellm_settings"]["callbacks"].append("xacct_audit_callback.audit_log")  # beside the guard
    return config


@pytest.fixture(scope="module")
def audit_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit") / "payloads.jsonl"


@pytest.fixture(scope="module")
def proxy(aws: LocalAWS, audit_path: Path) -> Iterator[ProxyProcess]:
    env = {"DEPT_B_EXTERNAL_ID": DEPT_B_EXTERNAL_ID, "XACCT_AUDIT_LOG": str(audit_path)}
    with ProxyProcess(gateway_config(), aws, env=env,
                      files={"xacct_audit_callback.py": AUDIT_CALLBACK}) as running:
        yield running


@pytest.fixture
def gw(proxy: ProxyProcess, aws: LocalAWS) -> Iterator[Gateway]:
    aws.reset()
    gateway = Gateway(proxy, aws)
    yield gateway
    gateway.client.close()


class Gateway:
    """The running proxy, a client, and the stand-in: send requests, read what reached the wire."""

    def __init__(self, proxy: ProxyProcess, aws: LocalAWS) -> None:
        self.proxy, self.aws = proxy, aws
        self.client = proxy.openai_client()

    def ask(self, tag: str | None, *, stream: bool = False, where: str = "body",
            extra: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None) -> tuple[str, Any]:
        """One chat completion; the tag goes in the body (``tags``) or in ``metadata.tags``.
        Returns (text, headers)."""
        body: dict[str, Any] = dict(extra or {})
        meta = dict(metadata or {})
        if tag is not None:
            if where == "body":
                body["tags"] = [tag]
            else:
                meta["tags"] = [tag]
        if meta:
            body["metadata"] = meta
        kwargs: dict[str, Any] = {"model": MODEL_NAME, "messages": MESSAGES, "extra_body": body}
        if stream:
            raw = self.client.chat.completions.with_raw_response.create(
                stream=True, stream_options={"include_usage": True}, **kwargs)
            text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
            return text, raw.headers
        raw = self.client.chat.completions.with_raw_response.create(**kwargs)
        return raw.parse().choices[0].message.content or "", raw.headers

    def fail(self, tag: str | None, **kwargs: Any) -> openai.APIStatusError:
        """A request that must be refused; returns the client's error (a stream's mid-body error too)."""
        try:
            text, _ = self.ask(tag, **kwargs)
        except openai.APIStatusError as exc:
            return exc
        except openai.APIError as exc:  # an error event inside a stream that had already started
            return openai.APIStatusError(str(exc), response=_fake_response(500), body=None)
        raise AssertionError(f"request tagged {tag!r} {kwargs} was answered: {text!r}\n{self.proxy.log_tail()}")

    def log_size(self) -> int:
        assert self.proxy.log_path is not None
        return self.proxy.log_path.stat().st_size

    def log_since(self, offset: int) -> str:
        assert self.proxy.log_path is not None
        with open(self.proxy.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")


def _fake_response(status: int) -> Any:
    import httpx

    return httpx.Response(status, request=httpx.Request("POST", "http://127.0.0.1/v1/chat/completions"))



@pytest.fixture(scope="module")
def attacker() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.close()


def assert_signed_by(call: Any, tag: str) -> None:
    role, account, session = DEPTS[tag]
    assert (call.account, call.role_arn, call.session_name, call.status) == (account, role, session, 200), call


def read_audit(path: Path, call_ids: set[str], timeout: float = 15.0) -> dict[str, dict[str, Any]]:
    """The callback's records for these LiteLLM call ids (callbacks run after the response is sent)."""
    deadline = time.monotonic() + timeout
    found: dict[str, dict[str, Any]] = {}
    while True:
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                if record.get("call_id") in call_ids:
                    found[record["call_id"]] = record
        if set(found) >= call_ids or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


# -- routing: every request lands in its department's account -----------------------------------------------


@pytest.mark.parametrize("tag", sorted(DEPTS))
def test_twenty_requests_land_in_the_departments_account(gw: Gateway, tag: str) -> None:
    plan = [(stream, where) for stream in (False, True) for where in ("body", "metadata")] * 5  # 20 requests
    for stream, where in plan:
        text, _ = gw.ask(tag, stream=stream, where=where)
        assert DEPTS[tag][1] in text, (stream, where, text)
    calls = gw.aws.bedrock_calls()
    assert len(calls) == 20
    for call in calls:
        assert_signed_by(call, tag)
    assert sorted(c.operation for c in calls) == ["Converse"] * 10 + ["ConverseStream"] * 10
    # This module's proxy is fresh and this is each department's first test: exactly one AssumeRole, then
    # 19 requests from the cache.
    (assume,) = gw.aws.sts_calls("AssumeRole")
    assert assume.params["RoleArn"] == DEPTS[tag][0] and assume.status == 200
    assert assume.access_key_id == gw.aws.central.access_key_id
    assert assume.params.get("ExternalId") == (DEPT_B_EXTERNAL_ID if tag == "dept-b" else None)


def test_untagged_requests_reach_only_the_default_deployment(gw: Gateway) -> None:
    """No tag: LiteLLM uses the `default`-tagged deployment (the platform account in example_config.yaml);
    without one it would spread these across every department's account."""
    for stream in (False, True) * 5:
        gw.ask(None, stream=stream)
    calls = gw.aws.bedrock_calls()
    assert len(calls) == 10
    assert {(c.account, c.session_name) for c in calls} == {("333333333333", "gateway-untagged")}


# -- injection: caller-supplied identity fields are refused before any AWS call ------------------------------


def injected_value(field: str, attacker: Listener) -> Any:
    return {
        "aws_access_key_id": "AKIAEXAMPLEATTACKER1", "aws_secret_access_key": "attacker-secret",
        "aws_session_token": "attacker-token", "aws_region_name": "eu-west-1", "aws_session_name": "attacker",
        "aws_profile_name": "attacker", "aws_role_name": DEPT_B, "aws_web_identity_token": "attacker.jwt.x",
        "aws_sts_endpoint": attacker.url, "aws_external_id": DEPT_B_EXTERNAL_ID,
        "aws_bedrock_runtime_endpoint": attacker.url, "aws_session_tags": [{"Key": "dept", "Value": "b"}],
        "aws_bedrock_project_id": "attacker-project", "xacct_role_chain": [DEPT_B],
        "xacct_duration_seconds": 900, "xacct_session_policy": "{}", "xacct_source_identity": "attacker",
    }[field]


def placed(field: str, value: Any, where: str) -> dict[str, Any]:
    """ask() arguments putting the field where the client would: body top level (the openai client's
    extra_body merges there), a literal ``extra_body`` object in the JSON body, or ``metadata``."""
    if where == "top":
        return {"extra": {field: value}}
    if where == "extra_body":
        return {"extra": {"extra_body": {field: value}}}
    return {"where": "metadata", "metadata": {field: value}}


def assert_refused(gw: Gateway, exc: openai.APIStatusError, field: str, log: str) -> None:
    """Refused with a 4xx naming the field -- ours (400) or LiteLLM's own gate (1.108.7: 401 "Rejected
    Request: <field> is not allowed in request body"). Without the optional ``prisma`` package LiteLLM
    1.108.7's auth error handler crashes on ``import prisma`` while building that 401 and the client gets
    a bare 500: accepted only when the proxy log shows LiteLLM's own refusal of this very field."""
    message = str(exc.message)
    if 400 <= exc.status_code < 500:
        assert field in message, (exc.status_code, message)
        return
    gate = f"Rejected Request: {field} is not allowed in request body"
    assert exc.status_code == 500 and gate in log and "No module named 'prisma'" in log, (
        exc.status_code, message, log[-3000:])


PLACES = ("top", "extra_body", "metadata")


@pytest.mark.parametrize("where", PLACES)
def test_identity_fields_from_the_caller_are_refused(gw: Gateway, attacker: Listener, where: str) -> None:
    gw.ask("dept-a")  # warm: credentials cached, so a leak would show up as a Bedrock call, not only STS
    for i, field in enumerate((*AWS_FIELDS, *XACCT_FIELDS)):
        before_bedrock, before_sts, before_hits = len(gw.aws.bedrock_calls()), len(gw.aws.sts_calls()), \
            len(attacker.hits)
        offset = gw.log_size()
        for stream in (False, True):
            exc = gw.fail("dept-a", stream=stream, **placed(field, injected_value(field, attacker), where))
            assert_refused(gw, exc, field, gw.log_since(offset))
        assert len(gw.aws.bedrock_calls()) == before_bedrock, field
        assert len(gw.aws.sts_calls()) == before_sts, field
        assert len(attacker.hits) == before_hits == 0, (field, attacker.hits)
        # the deployment's identity is unchanged for the next normal request
        gw.ask("dept-a", stream=i % 2 == 1)
        assert_signed_by(gw.aws.bedrock_calls()[-1], "dept-a")


def test_the_attacks_from_the_facts_file(gw: Gateway, attacker: Listener) -> None:
    """1.82.3 honours body aws_role_name / aws_sts_endpoint / aws_bedrock_runtime_endpoint; 1.108.7 lets body
    keys and region override the deployment. Through this provider none of them has any effect."""
    attacks: list[dict[str, Any]] = [
        {"aws_role_name": DEPT_B, "aws_external_id": DEPT_B_EXTERNAL_ID},
        {"aws_sts_endpoint": attacker.url},
        {"aws_bedrock_runtime_endpoint": attacker.url},
        {"aws_sts_endpoint": attacker.url, "aws_bedrock_runtime_endpoint": attacker.url, "aws_role_name": DEPT_B},
        {"aws_access_key_id": "AKIAEXAMPLEATTACKER1", "aws_secret_access_key": "attacker-secret",
         "aws_session_token": "attacker-token", "aws_region_name": "eu-west-1"},
    ]
    for attack in attacks:
        for where in PLACES:
            offset = gw.log_size()
            extra = {"extra": attack} if where == "top" else (
                {"extra": {"extra_body": attack}} if where == "extra_body"
                else {"where": "metadata", "metadata": attack})
            exc = gw.fail("dept-a", **extra)
            log = gw.log_since(offset)
            assert any(_refused_quietly(exc, f, log) for f in attack), (attack, where, exc.status_code, exc.message)
    assert gw.aws.bedrock_calls() == [] and gw.aws.sts_calls() == []
    assert attacker.hits == []
    gw.ask("dept-a")
    assert_signed_by(gw.aws.bedrock_calls()[-1], "dept-a")
    # dept-a's credentials are usually cached by now (no AssumeRole); none of the attacks' roles ever appears
    assert [a.params["RoleArn"] for a in gw.aws.sts_calls("AssumeRole")] in ([], [DEPT_A])


def _refused_quietly(exc: openai.APIStatusError, field: str, log: str) -> bool:
    if 400 <= exc.status_code < 500:
        return field in str(exc.message)
    return exc.status_code == 500 and f"Rejected Request: {field} is not allowed in request body" in log


# -- a department whose role cannot be assumed ---------------------------------------------------------------


def test_unassumable_role_is_a_clear_403_and_nothing_is_signed(gw: Gateway) -> None:
    for stream in (False, True):
        exc = gw.fail("dept-c", stream=stream)
        assert exc.status_code in (401, 403), (stream, exc.status_code, exc.message)
        assert BROKEN in str(exc.message), exc.message
    assert gw.aws.bedrock_calls() == []  # not by the central identity (123456789012), not by anyone
    assume = gw.aws.sts_calls("AssumeRole")
    assert assume and all(a.params["RoleArn"] == BROKEN and a.status == 403 for a in assume)


def test_other_departments_keep_working_while_one_role_fails(gw: Gateway) -> None:
    results: list[tuple[str, bool, Any]] = []
    lock = threading.Lock()

    def worker(tag: str, stream: bool) -> None:
        try:
            outcome: Any = gw.ask(tag, stream=stream, where="metadata" if stream else "body")[0]
        except openai.APIError as exc:
            outcome = exc
        with lock:
            results.append((tag, stream, outcome))

    threads = [threading.Thread(target=worker, args=(tag, i % 2 == 1))
               for i in range(6) for tag in ("dept-c", "dept-a", "dept-c", "dept-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 24
    for tag, stream, outcome in results:
        if tag == "dept-c":
            assert isinstance(outcome, openai.APIError) and BROKEN in str(outcome.message), (stream, outcome)
        else:
            assert isinstance(outcome, str) and DEPTS[tag][1] in outcome, (tag, stream, outcome)
    calls = gw.aws.bedrock_calls()
    assert len(calls) == 12
    assert {c.account for c in calls} == {"111111111111", "222222222222"}
    assert not any(c.account in (CENTRAL_ACCOUNT, "333333333333") for c in calls)
    for call in calls:
        assert_signed_by(call, "dept-a" if call.account == "111111111111" else "dept-b")


# -- audit trail: response headers and the logging payload name the signer, never a secret --------------------


def test_audit_trail_in_headers_and_logging_payload(gw: Gateway, audit_path: Path) -> None:
    sent: dict[str, tuple[str, bool, Any]] = {}
    for tag in sorted(DEPTS):
        for stream in (False, True):
            # the caller's own spend-log metadata is kept beside the provider's record (a forged
            # ``xacct`` is refused by the guard: tests/test_attacks.py)
            _, headers = gw.ask(tag, stream=stream, metadata={"spend_logs_metadata": {"ticket": "T-1"}})
            sent[headers["x-litellm-call-id"]] = (tag, stream, headers)
    records = read_audit(audit_path, set(sent))
    assert set(records) == set(sent), gw.proxy.log_tail()

    secrets = {gw.aws.central.secret_access_key, DEPT_B_EXTERNAL_ID}
    for call in gw.aws.bedrock_calls():
        secrets |= {v for k, v in call.headers.items() if k.lower() == "x-amz-security-token"}
    assert len(secrets) >= 3

    for call_id, (tag, stream, headers) in sent.items():
        role, account, session = DEPTS[tag]
        expected = {"account": account, "role_arn": role, "session_name": session}
        record = records[call_id]
        assert record["outcome"] == "success" and record["status"] == "success"
        # the logging payload (both versions, streams too): metadata.spend_logs_metadata.xacct
        audit = record["spend_logs_metadata"]["xacct"]
        assert {k: audit[k] for k in expected} == expected, record["spend_logs_metadata"]
        assert audit["principal_arn"] == f"arn:aws:sts::{account}:assumed-role/{role.split('/')[-1]}/{session}"
        assert record["spend_logs_metadata"]["ticket"] == "T-1"
        # client-visible headers: non-stream responses (a stream's headers are sent before the signer is known)
        if not stream:
            assert {k: headers.get(h) for k, h in AUDIT_HEADERS.items()} == expected, dict(headers)
        dumped = json.dumps(record) + json.dumps(dict(headers))
        for secret in secrets:
            assert secret not in dumped, "a secret reached the headers or the logging payload"


def test_audit_trail_of_a_failed_role_names_no_signer(gw: Gateway, audit_path: Path) -> None:
    exc = gw.fail("dept-c", metadata={"spend_logs_metadata": {"ticket": "T-2"}})
    call_id = exc.response.headers["x-litellm-call-id"]
    assert BROKEN in str(exc.message)
    record = read_audit(audit_path, {call_id}).get(call_id)
    assert record is not None and record["outcome"] == "failure", gw.proxy.log_tail()
    # nothing signed, so no signer at all in the failure record
    assert record["spend_logs_metadata"] == {"ticket": "T-2"}, record["spend_logs_metadata"]
    assert BROKEN in (record["error_str"] or "")
    assert gw.aws.central.secret_access_key not in json.dumps(record)


# -- the demo ------------------------------------------------------------------------------------------------


def test_builtin_demo_config_is_the_example_config() -> None:
    """The demo reads the package's example_config.yaml: in a checkout a symlink to the top-level file (so
    the two cannot drift), in a wheel the file setuptools copies there through package-data."""
    import tomllib

    from litellm_xacct._demo import builtin_config

    packaged = REPO / "litellm_xacct" / "example_config.yaml"
    assert packaged.is_symlink() and packaged.resolve() == (REPO / "example_config.yaml").resolve()
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "example_config.yaml" in pyproject["tool"]["setuptools"]["package-data"]["litellm_xacct"]
    config = yaml.safe_load(builtin_config())
    models = [d["litellm_params"]["model"] for d in config["model_list"]]
    assert len(models) == 3 and all(m.startswith("bedrock-xacct/") for m in models), models


def test_demo_prints_the_table_and_exits_zero(capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from litellm_xacct import _demo

    monkeypatch.setenv("DEPT_B_EXTERNAL_ID", DEPT_B_EXTERNAL_ID)
    assert _demo.main([]) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith(("dept-a ", "dept-b "))]
    assert len(rows) == 8
    for row in rows:
        role, account, session = DEPTS[row[0]]
        assert row[-1] == "yes" and account in row and role in row and session in row, row
    # Untagged requests reach the `default` deployment (the platform account), never a department's.
    untagged = [line.split() for line in out.splitlines() if line.startswith("default ")]
    assert len(untagged) == 2
    assert all("no" in row and "tag" in row and "333333333333" in row and row[-1] == "yes" for row in untagged)
    assert "10/10 requests signed" in out
