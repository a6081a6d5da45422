"""Who is calling decides which account pays: keys and teams from ``general_settings.custom_auth`` and from the
``model_info.xacct_callers`` binding, against a real ``litellm --config`` proxy (guard armed), judged on the wire.

Each row of :data:`ROWS` is one request by one key. It asserts the status the caller got and, counting the
Bedrock calls first, which account signed every one of them. Baselines (each bound caller lands in its own
account, untagged and with its own tag; unbound callers as documented per mode) run in the same module, so
nothing passes by refusing everything. Cooldown rows (``default`` or a department throttled at Bedrock) run
last, on the same proxy.
"""

from __future__ import annotations

import copy
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

from .conftest import DEPT_A, DEPT_B_EXTERNAL_ID, PLATFORM
from .test_attacks import AUDIT_CALLBACK

pytestmark = pytest.mark.proxy

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
GROUP, BACKUP, EMBED = "claude-sonnet", "claude-backup", "titan-embed"
EMBED_MODEL = "amazon.titan-embed-text-v2:0"
A, B, PLATFORM_ACCOUNT = "111111111111", "222222222222", "333333333333"
MESSAGES = [{"role": "user", "content": "who signed this request?"}]

#: custom_auth: the same UserAPIKeyAuth a database key would give the proxy (no team_id: 1.82.3 looks it up).
CUSTOM_AUTH = '''
from litellm.proxy._types import UserAPIKeyAuth

KEYS = {
    "sk-key-a": {"key_alias": "alice", "metadata": {"tags": ["dept-a"]}},
    "sk-team-b": {"key_alias": "bob", "team_alias": "tagged-team", "team_metadata": {"tags": ["dept-b"]}},
    "sk-alias-a": {"key_alias": "ci-a"},
    "sk-teamalias-b": {"key_alias": "rita", "team_alias": "research"},
    "sk-tag-a": {"key_alias": "fin", "metadata": {"tags": ["finance"]}},
    "sk-unbound": {"key_alias": "nobody"},
    "sk-unicode-b": {"key_alias": "rit\u00e9-\u90e8\u95e8", "team_alias": "research"},
}


async def user_api_key_auth(request, api_key):
    if api_key not in KEYS:
        raise Exception("unknown key")
    return UserAPIKeyAuth(api_key=api_key, **KEYS[api_key])
'''

#: The open-source binding, on each department's deployments.
BINDINGS = {"dept-a": {"key_aliases": ["ci-a"], "tags": ["finance"]}, "dept-b": {"teams": ["research"]}}


def _xacct(group: str, model: str, role: str, session: str, tag: str, **extra: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"base_model": model}
    if tag in BINDINGS:
        info["xacct_callers"] = BINDINGS[tag]
    params = {"model": f"bedrock-xacct/{model}", "aws_region_name": "us-east-1", "aws_role_name": role,
              "aws_session_name": session, "tags": [tag], **extra}
    return {"model_name": group, "litellm_params": params, "model_info": info}


def gateway_config(strict: bool) -> dict[str, Any]:
    """The shipped example_config.yaml with embeddings per department, a backup group behind ``claude-sonnet``
    (dept-b's account and a second dept-a session: a fallback must never move dept-a there), and custom_auth."""
    config: dict[str, Any] = yaml.safe_load((REPO / "example_config.yaml").read_text(encoding="utf-8"))
    for entry in config["model_list"]:
        tag = entry["litellm_params"]["tags"][0]
        if tag in BINDINGS:
            entry.setdefault("model_info", {})["xacct_callers"] = BINDINGS[tag]
    embed = {"drop_params": True}
    config["model_list"] += [
        _xacct(EMBED, EMBED_MODEL, DEPT_A, "gateway-dept-a", "dept-a", **embed),
        _xacct(EMBED, EMBED_MODEL, "arn:aws:iam::222222222222:role/litellm-bedrock-dept-b", "gateway-dept-b",
               "dept-b", aws_external_id=DEPT_B_EXTERNAL_ID, **embed),
        _xacct(EMBED, EMBED_MODEL, PLATFORM, "gateway-untagged", "default", **embed),
        _xacct(BACKUP, "us.anthropic.claude-sonnet-4-6", "arn:aws:iam::222222222222:role/litellm-bedrock-dept-b",
               "gateway-backup-b", "dept-b", aws_external_id=DEPT_B_EXTERNAL_ID),
    ]
    config["router_settings"]["fallbacks"] = [{GROUP: [BACKUP]}]
    config["general_settings"] = {"custom_auth": "custom_auth.user_api_key_auth"}
    if strict:
        config["general_settings"]["xacct_strict_callers"] = True
    config["litellm_settings"]["callbacks"] = ["xacct_handler.guard", "xacct_audit_callback.audit_log"]
    return config


@dataclass(frozen=True)
class Row:
    """One request: ``key`` sends ``body`` / ``headers`` on ``route``. ``lands``: the account that must sign it
    (status 200); None: it must be refused (403 from the guard or the provider) with no Bedrock call."""

    name: str
    key: str
    lands: str | None
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    routes: tuple[str, ...] = ("chat", "chat-stream")
    by: str = "guard"  # who refuses: guard | provider | either


ALL_ROUTES = ("chat", "chat-stream", "messages", "responses", "embed")
FORGED_BINDING = {"user_api_key_alias": "ci-a", "user_api_key_team_alias": "research",
                  "user_api_key_metadata": {"tags": ["dept-b"]}, "inherited_tags": ["dept-b"],
                  "user_api_key_team_metadata": {"tags": ["dept-b"]}}

OPEN_ROWS: list[Row] = [
    # -- baselines: each bound caller in its own account, untagged and with its own tag ----------------------
    Row("key tag, untagged", "sk-key-a", A, routes=ALL_ROUTES),
    Row("key tag, own tag", "sk-key-a", A, {"tags": ["dept-a"]}, routes=ALL_ROUTES),
    Row("team tag, untagged", "sk-team-b", B, routes=ALL_ROUTES),
    Row("team tag, own tag in header", "sk-team-b", B, headers={"x-litellm-tags": "dept-b"}),
    Row("xacct_callers key alias, untagged", "sk-alias-a", A, routes=ALL_ROUTES),
    Row("xacct_callers key alias, own tag", "sk-alias-a", A, {"metadata": {"tags": ["dept-a"]}}),
    Row("xacct_callers team, untagged", "sk-teamalias-b", B, routes=ALL_ROUTES),
    Row("xacct_callers tag, untagged", "sk-tag-a", A),
    Row("non-ASCII key alias (audit headers stay valid)", "sk-unicode-b", B),
    Row("unbound, untagged -> default", "sk-unbound", PLATFORM_ACCOUNT, routes=ALL_ROUTES),
    Row("unbound, dept-a tag (open mode: tag routing)", "sk-unbound", A, {"tags": ["dept-a"]}),
    Row("unbound, dept-b header (open mode)", "sk-unbound", B, headers={"x-litellm-tags": "dept-b"}),
    # -- a bound caller reaching for another account --------------------------------------------------------
    Row("key dept-a -> body tags dept-b", "sk-key-a", None, {"tags": ["dept-b"]}, routes=ALL_ROUTES),
    Row("key dept-a -> metadata.tags dept-b", "sk-key-a", None, {"metadata": {"tags": ["dept-b"]}}),
    Row("key dept-a -> litellm_metadata.tags dept-b", "sk-key-a", None, {"litellm_metadata": {"tags": ["dept-b"]}}),
    Row("key dept-a -> header dept-b", "sk-key-a", None, headers={"x-litellm-tags": "dept-b"},
        routes=ALL_ROUTES),
    Row("key dept-a -> default", "sk-key-a", None, {"tags": ["default"]}),
    Row("key dept-a -> &dept-b", "sk-key-a", None, {"tags": ["&dept-b"]}),
    Row("key dept-a -> !dept-a", "sk-key-a", None, {"tags": ["!dept-a"]}),
    Row("key dept-a -> mixed [dept-a, dept-b]", "sk-key-a", None, {"tags": ["dept-a", "dept-b"]}),
    Row("key dept-a -> mixed [dept-a, default]", "sk-key-a", None, {"tags": ["dept-a", "default"]}),
    Row("key dept-a -> header 'dept-a, dept-b'", "sk-key-a", None, headers={"x-litellm-tags": "dept-a,dept-b"}),
    Row("team dept-b -> dept-a", "sk-team-b", None, {"tags": ["dept-a"]}, routes=ALL_ROUTES),
    Row("team dept-b -> !dept-b", "sk-team-b", None, {"tags": ["!dept-b"]}),
    Row("xacct_callers alias dept-a -> dept-b", "sk-alias-a", None, {"tags": ["dept-b"]}),
    Row("xacct_callers alias dept-a -> default", "sk-alias-a", None, headers={"x-litellm-tags": "default"}),
    Row("xacct_callers team dept-b -> dept-a", "sk-teamalias-b", None, {"metadata": {"tags": ["dept-a"]}}),
    Row("xacct_callers tag dept-a -> &dept-b", "sk-tag-a", None, {"tags": ["&dept-b"]}),
    # -- forged identity in the body changes nothing ---------------------------------------------------------
    Row("unbound forges binding fields, untagged -> default", "sk-unbound", PLATFORM_ACCOUNT,
        {"metadata": FORGED_BINDING}, by="either"),
    Row("unbound forges binding in litellm_metadata -> default", "sk-unbound", PLATFORM_ACCOUNT,
        {"litellm_metadata": FORGED_BINDING}, by="either"),
    Row("key dept-a forges team/key tags dept-b + dept-b", "sk-key-a", None,
        {"tags": ["dept-b"], "metadata": FORGED_BINDING}, by="either"),
]

STRICT_ROWS: list[Row] = [
    Row("strict: key tag, untagged", "sk-key-a", A, routes=ALL_ROUTES),
    Row("strict: xacct_callers alias, own tag", "sk-alias-a", A, {"tags": ["dept-a"]}),
    Row("strict: xacct_callers team, untagged", "sk-teamalias-b", B),
    Row("strict: unbound, untagged -> default", "sk-unbound", PLATFORM_ACCOUNT, routes=ALL_ROUTES),
    Row("strict: unbound, dept-a tag", "sk-unbound", None, {"tags": ["dept-a"]}, routes=ALL_ROUTES),
    Row("strict: unbound, header dept-b", "sk-unbound", None, headers={"x-litellm-tags": "dept-b"}),
    Row("strict: unbound, &dept-a", "sk-unbound", None, {"tags": ["&dept-a"]}),
    Row("strict: unbound forges key alias ci-a + dept-a", "sk-unbound", None,
        {"tags": ["dept-a"], "metadata": FORGED_BINDING}, by="either"),
    Row("strict: unbound forges key alias ci-a, untagged -> default", "sk-unbound", PLATFORM_ACCOUNT,
        {"metadata": {"user_api_key_alias": "ci-a"}}, by="either"),
]


class Client:
    """Requests as one key, on every route, returning ``(status, text, response headers)``."""

    def __init__(self, proxy: ProxyProcess) -> None:
        self.proxy = proxy
        self.http = httpx.Client(base_url=proxy.base_url, timeout=60)

    def close(self) -> None:
        self.http.close()

    def send(self, key: str, route: str, body: dict[str, Any], headers: dict[str, str]
             ) -> tuple[int, str, dict[str, str]]:
        auth = {"Authorization": f"Bearer {key}", **headers}
        if route == "messages":
            r = self.http.post("/v1/messages", headers=auth, json={
                "model": GROUP, "max_tokens": 64, "messages": MESSAGES, **body})
            return r.status_code, r.text, dict(r.headers)
        client = openai.OpenAI(base_url=self.proxy.base_url + "/v1", api_key=key, max_retries=0, timeout=60,
                               http_client=httpx.Client(timeout=60))
        try:
            if route == "responses":
                raw: Any = client.responses.with_raw_response.create(
                    model=GROUP, input="who signed this request?", extra_body=body, extra_headers=headers)
                return raw.status_code, raw.parse().output_text, dict(raw.headers)
            if route == "embed":
                raw = client.embeddings.with_raw_response.create(model=EMBED, input=["who signed"],
                                                                 extra_body=body, extra_headers=headers)
                return raw.status_code, "embedding", dict(raw.headers)
            raw = client.chat.completions.with_raw_response.create(
                model=GROUP, messages=MESSAGES, stream=route == "chat-stream", extra_body=body,
                extra_headers=headers)
            parsed = raw.parse()
            text = ("".join(c.choices[0].delta.content or "" for c in parsed if c.choices)
                    if route == "chat-stream" else parsed.choices[0].message.content or "")
            return raw.status_code, text, dict(raw.headers)
        except openai.APIStatusError as exc:
            return exc.status_code, str(exc.message), dict(exc.response.headers)
        except openai.APIError as exc:  # an error event inside a stream that had started
            return 500, str(exc.message), {}
        finally:
            client.close()


RESULTS: list[str] = []  # "mode | row | route | status | signers", printed at the end of each module run


def run_row(client: Client, aws: LocalAWS, row: Row, mode: str) -> None:
    for route in row.routes:
        before = len(aws.bedrock_calls())
        status, text, headers = client.send(row.key, route, copy.deepcopy(row.body), row.headers)
        calls = aws.bedrock_calls()[before:]
        signers = sorted({c.account or "?" for c in calls})
        RESULTS.append(f"{mode} | {row.name} | {route} | {status} | {','.join(signers) or '-'}")
        where = f"{row.name} [{route}]: {status} {text[:300]}"
        if row.lands is not None:
            if row.by == "either" and status == 400 and "litellm-xacct guard" in text:
                assert calls == [], where  # the guard refused the forged field itself: also fine
                continue
            assert status == 200, where
            assert len(calls) == 1, (where, calls)
            assert calls[0].account == row.lands and calls[0].status == 200, (where, calls)
            if route in ("chat", "messages", "responses"):
                assert row.lands in text, where
            continue
        assert calls == [], (where, calls)  # nothing reached Bedrock, in no account
        if row.by == "either" and status == 400:
            assert "litellm-xacct guard" in text, where
            continue
        assert status == 403, where
        assert "department" in text, where


@pytest.fixture(scope="module")
def audit_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("authority") / "payloads.jsonl"


def _proxy(aws: LocalAWS, audit_path: Path, strict: bool) -> ProxyProcess:
    env = {"DEPT_B_EXTERNAL_ID": DEPT_B_EXTERNAL_ID, "XACCT_AUDIT_LOG": str(audit_path)}
    return ProxyProcess(gateway_config(strict), aws, env=env,
                        files={"xacct_audit_callback.py": AUDIT_CALLBACK, "custom_auth.py": CUSTOM_AUTH})


@pytest.fixture(scope="module")
def open_gw(aws: LocalAWS, audit_path: Path) -> Iterator[Client]:
    with _proxy(aws, audit_path, strict=False) as running:
        client = Client(running)
        yield client
        client.close()
    print("\nROWS (open mode):\n" + "\n".join(r for r in RESULTS if r.startswith("open")))


@pytest.fixture(scope="module")
def strict_gw(aws: LocalAWS, audit_path: Path) -> Iterator[Client]:
    with _proxy(aws, audit_path, strict=True) as running:
        client = Client(running)
        yield client
        client.close()
    print("\nROWS (strict mode):\n" + "\n".join(r for r in RESULTS if r.startswith("strict")))


@pytest.mark.parametrize("row", OPEN_ROWS, ids=[r.name for r in OPEN_ROWS])
def test_open_mode(open_gw: Client, aws: LocalAWS, row: Row) -> None:
    aws.clear_faults()
    run_row(open_gw, aws, row, "open")


def test_audit_record_names_who_authorised(open_gw: Client, aws: LocalAWS, audit_path: Path) -> None:
    aws.clear_faults()
    before = len(aws.bedrock_calls())
    status, text, headers = open_gw.send("sk-teamalias-b", "chat", {}, {})
    assert status == 200 and B in text, text
    assert [c.account for c in aws.bedrock_calls()[before:]] == [B]
    assert headers.get("llm_provider-x-xacct-department") == "dept-b", headers
    assert "research" in headers.get("llm_provider-x-xacct-authorised-by", ""), headers
    call_id = headers["x-litellm-call-id"]
    deadline = time.monotonic() + 15
    record: dict[str, Any] = {}
    while not record and time.monotonic() < deadline:
        for line in audit_path.read_text(encoding="utf-8").splitlines() if audit_path.exists() else []:
            found = json.loads(line)
            if found.get("call_id") == call_id:
                record = found["spend_logs_metadata"]["xacct"]
        if not record:
            time.sleep(0.2)
    assert record["account"] == B and record["department"] == "dept-b", record
    assert record["caller"] == "key alias 'rita' / team 'research'", record
    assert "team 'research' (model_info.xacct_callers)" in record["authorised_by"], record


# -- cooldown and fallbacks (last: they leave deployments cooling down) ----------------------------------------


def test_default_throttled_untagged_never_reaches_a_department(open_gw: Client, aws: LocalAWS) -> None:
    aws.clear_faults()
    aws.deny_model(PLATFORM_ACCOUNT, code="ThrottlingException", status=429)
    before = len(aws.bedrock_calls())
    outcomes = [open_gw.send("sk-unbound", route, {}, {})[:2] for route in ("chat", "chat-stream") * 3]
    calls = aws.bedrock_calls()[before:]
    aws.clear_faults()
    RESULTS.append(f"open | default throttled, untagged x6 | chat+stream | "
                   f"{sorted({s for s, _ in outcomes})} | {','.join(sorted({c.account or '?' for c in calls}))} | "
                   f"{sorted({t[:90] for _, t in outcomes})}")
    assert len(calls) >= 1, "the default deployment was never tried"
    assert {c.account for c in calls} == {PLATFORM_ACCOUNT}, calls
    for status, text in outcomes:
        assert status >= 400 and A not in text and B not in text, (status, text[:300])


def test_department_throttled_with_fallbacks_stays_in_its_account(open_gw: Client, aws: LocalAWS) -> None:
    aws.clear_faults()
    aws.deny_model(A, code="ThrottlingException", status=429)
    before = len(aws.bedrock_calls())
    outcomes = [open_gw.send(key, route, body, {})[:2] for key, body in
                (("sk-key-a", {}), ("sk-alias-a", {}), ("sk-unbound", {"tags": ["dept-a"]}))
                for route in ("chat", "chat-stream")]
    calls = aws.bedrock_calls()[before:]
    aws.clear_faults()
    RESULTS.append(f"open | dept-a throttled + fallbacks, 3 callers | chat+stream | "
                   f"{sorted({s for s, _ in outcomes})} | {','.join(sorted({c.account or '?' for c in calls}))} | "
                   f"{sorted({t[:90] for _, t in outcomes})}")
    assert len(calls) >= 1, "dept-a's deployment was never tried"
    assert {c.account for c in calls} == {A}, calls
    for status, text in outcomes:
        assert status >= 400 and B not in text and PLATFORM_ACCOUNT not in text, (status, text[:300])


@pytest.mark.parametrize("row", STRICT_ROWS, ids=[r.name for r in STRICT_ROWS])
def test_strict_mode(strict_gw: Client, aws: LocalAWS, row: Row) -> None:
    aws.clear_faults()
    run_row(strict_gw, aws, row, "strict")


# -- the motivating report's config with the bedrock-xacct/ prefix: fails closed, never misroutes -----------------


def test_motivating_config_fails_closed(aws: LocalAWS) -> None:
    config = yaml.safe_load((DATA / "motivating_config.yaml").read_text(encoding="utf-8"))
    aws.clear_faults()
    with ProxyProcess(config, aws) as running:
        client = Client(running)
        before = len(aws.bedrock_calls())
        outcomes = [client.send(running.master_key, route, {"tags": [tag]}, {})[:2]
                    for tag in ("dept-a", "dept-b") for route in ("chat", "chat-stream") * 2]
        client.close()
    calls = aws.bedrock_calls()[before:]
    RESULTS.append(f"motivating | 8 department requests | chat+stream | {sorted({s for s, _ in outcomes})} | "
                   f"{','.join(sorted({c.account or '?' for c in calls})) or '-'}")
    print("\n" + RESULTS[-1])
    assert calls == [], calls
    assert len(outcomes) == 8
    for status, text in outcomes:
        assert status == 403 and "move tags from model_info into litellm_params" in text, (status, text[:300])


def test_tag_filtering_off_lands_in_the_department_or_names_the_setting(aws: LocalAWS) -> None:
    """The report's second mistake alone (tags moved into litellm_params, enable_tag_filtering still under
    litellm_settings): each request lands in its own account or is refused naming the setting."""
    text = (DATA / "motivating_config.yaml").read_text(encoding="utf-8")
    config = yaml.safe_load(text)
    for entry in config["model_list"]:
        entry["litellm_params"]["tags"] = entry.pop("model_info")["tags"]
        if "222222222222" in entry["litellm_params"]["aws_role_name"]:  # the stand-in's dept-b role needs it
            entry["litellm_params"]["aws_external_id"] = DEPT_B_EXTERNAL_ID
    aws.clear_faults()
    outcomes: list[tuple[str, int, str, list[str]]] = []
    with ProxyProcess(config, aws) as running:
        client = Client(running)
        for tag in ("dept-a", "dept-b") * 2:
            for route in ("chat", "chat-stream"):
                before = len(aws.bedrock_calls())
                status, answer, _ = client.send(running.master_key, route, {"tags": [tag]}, {})
                outcomes.append((tag, status, answer, [c.account or "?" for c in aws.bedrock_calls()[before:]]))
        client.close()
    own = {"dept-a": A, "dept-b": B}
    RESULTS.append("filtering-off | 8 department requests | chat+stream | "
                   f"{sorted({s for _, s, _, _ in outcomes})} | {sorted({a for *_, c in outcomes for a in c})}")
    print("\n" + RESULTS[-1])
    assert len(outcomes) == 8
    for tag, status, answer, signers in outcomes:
        if status == 200:
            assert signers == [own[tag]], (tag, signers)
        else:
            assert status == 403 and "router_settings.enable_tag_filtering" in answer, (tag, status, answer[:300])
            assert signers == [], (tag, signers)
