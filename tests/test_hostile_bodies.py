"""Property, through a real proxy (guard armed): any request body yields a valid answer or a clear 4xx/5xx,
the proxy stays up, and no body changes identity, region, endpoint or model on the wire.

Bodies mix valid chat params with hostile keys (``aws_*``, ``xacct_*``, ``custom_llm_provider``, ``api_base``,
``model_id``, nested ``metadata`` / ``extra_body`` / ``litellm_params``), odd types, huge and unicode strings
and nulls. The judge is the stand-in's logs: every Bedrock call signed by the one configured role in the
configured region for the configured model, every AssumeRole for that role, nothing at an attacker host.
Bounded (60 examples, derandomized) so it runs in CI on both releases.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from litellm_xacct._config import AWS_FIELDS, XACCT_FIELDS
from litellm_xacct.testing import LocalAWS, ProxyProcess

from .conftest import DEPT_A, DEPT_B, DEPT_B_EXTERNAL_ID, MODEL
from .helpers import Listener

pytestmark = pytest.mark.proxy

MODEL_NAME = "fuzz"
SESSION = "gateway-fuzz"



ATTACKER = Listener()  # module-level: hypothesis strategies below name its URL


@pytest.fixture(scope="module")
def proxy(aws: LocalAWS) -> Iterator[ProxyProcess]:
    config = {
        "model_list": [{"model_name": MODEL_NAME,
                        "litellm_params": {"model": f"bedrock-xacct/{MODEL}", "aws_region_name": "us-east-1",
                                           "aws_role_name": DEPT_A, "aws_session_name": SESSION},
                        "model_info": {"base_model": MODEL}}],
        "litellm_settings": {"callbacks": ["xacct_handler.guard"]},
    }
    aws.reset()
    try:
        with ProxyProcess(config, aws) as running:
            yield running
    finally:
        ATTACKER.close()


hostile_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30),
    st.sampled_from([ATTACKER.url, DEPT_B, DEPT_B_EXTERNAL_ID, "eu-west-1", "AKIAATTACKER00000001",
                     "attacker-secret", "bedrock", "openai", "bedrock-xacct", "anthropic.claude-v2",
                     "us.anthropic.claude-opus-4", f"bedrock/{MODEL}", "🙂" * 50, "\u202e\x00", "a" * 100_000]),
    st.lists(st.text(max_size=5), max_size=3), st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)
HOSTILE_KEYS = (*AWS_FIELDS, *XACCT_FIELDS, "custom_llm_provider", "api_base", "base_url", "model_id",
                "api_key", "litellm_params", "model_info", "deployment_id", "region_name", "aws_role_arn",
                "mock_response", "mock_testing_fallbacks", "tags", "user", "AWS_ROLE_NAME", "Custom_LLM_Provider")
hostile_key = st.one_of(st.sampled_from(HOSTILE_KEYS), st.text(max_size=12))
contents = st.one_of(st.text(max_size=200), st.sampled_from(["a" * 200_000, "日本語 ✓ \u0000 \ud7ff", ""]),
                     st.none(), st.integers(), st.lists(st.fixed_dictionaries({"type": st.just("text"),
                                                                                "text": st.text(max_size=20)}),
                                                           max_size=2))
messages = st.one_of(
    st.just([{"role": "user", "content": "who signed this request?"}]),
    st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", "tool", "bogus"]),
                                    "content": contents}), min_size=0, max_size=3),
    hostile_values,
)
chat_params = st.fixed_dictionaries({}, optional={
    "temperature": st.one_of(st.floats(-1, 3, allow_nan=False), st.text(max_size=3), st.none()),
    "max_tokens": st.one_of(st.integers(-5, 5000), st.none(), st.text(max_size=3)),
    "top_p": st.floats(0, 1), "stop": st.one_of(st.text(max_size=5), st.lists(st.text(max_size=5), max_size=3)),
    "stream": st.booleans(), "user": st.text(max_size=20), "n": st.integers(0, 3), "seed": st.integers(),
    "tools": st.just([{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]),
})


@st.composite
def bodies(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"model": MODEL_NAME, "messages": draw(messages), **draw(chat_params)}
    for key, value in draw(st.dictionaries(hostile_key, hostile_values, max_size=3)).items():
        if key != "model":
            body[key] = value
    nest = draw(st.sampled_from([None, "metadata", "extra_body", "litellm_params", "litellm_metadata"]))
    if nest is not None:
        inner = draw(st.dictionaries(hostile_key, hostile_values, min_size=1, max_size=3))
        body[nest] = {"deeper": inner, **inner} if draw(st.booleans()) else inner
    return body


def post(proxy: ProxyProcess, body: dict[str, Any]) -> tuple[int, str]:
    with httpx.Client(timeout=120.0) as client:
        response = client.post(f"{proxy.base_url}/v1/chat/completions", content=json.dumps(body),
                               headers={"Authorization": f"Bearer {proxy.master_key}",
                                        "Content-Type": "application/json"})
        return response.status_code, response.text


def assert_answer(status: int, text: str, stream: bool, log: str) -> None:
    if status == 200:
        if stream:
            events = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
            assert events and events[-1] == "[DONE]", text[-500:]
            assert any('"finish_reason": "' in e or '"finish_reason":"' in e for e in events), text[-500:]
        else:
            answer = json.loads(text)
            assert answer["choices"][0]["message"]["role"] == "assistant", text[:500]
        return
    assert 400 <= status < 600, (status, text[:500])
    if status == 500 and text == "Internal Server Error":
        # A refusal whose answer LiteLLM fails to build, accepted only with the log showing which:
        # 1.108.7's own body gate ("Rejected Request: <field> is not allowed", a 401) crashes on `import
        # prisma` (an optional package); 1.82.3's failure logging crashes on a non-mapping `litellm_params`
        # in the body after the guard refused it.
        litellm_gate = "Rejected Request:" in log and "No module named 'prisma'" in log
        guard_refused = 'litellm_xacct/_guard.py", line' in log and "in async_pre_call_hook" in log and (
            "litellm_logging.py" in log)
        assert litellm_gate or guard_refused, log[-3000:]
        BARE_500.append("LiteLLM gate + prisma" if litellm_gate else "guard refusal, LiteLLM failure logging")
        return
    error = json.loads(text)["error"]  # LiteLLM's error shape: a clear message, not a crash page
    assert isinstance(error["message"], str) and error["message"], text[:500]


def assert_wire(aws: LocalAWS, bedrock_before: int, sts_before: int) -> None:
    for call in aws.bedrock_calls()[bedrock_before:]:
        assert (call.account, call.role_arn, call.session_name, call.region, call.model_id) == (
            "111111111111", DEPT_A, SESSION, "us-east-1", MODEL), call
    for call in aws.sts_calls()[sts_before:]:
        assert call.action == "AssumeRole" and call.params.get("RoleArn") == DEPT_A, call
        assert call.access_key_id == aws.central.access_key_id, call
    assert ATTACKER.hits == []


def assert_up(proxy: ProxyProcess) -> None:
    assert httpx.get(f"{proxy.base_url}/health/liveliness", timeout=30).status_code == 200


EXAMPLES = {"served": 0, "refused": 0}
BARE_500: list[str] = []


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=bodies())
@example(body={"model": MODEL_NAME, "messages": [{"role": "user", "content": "hi"}]})
@example(body={"model": MODEL_NAME, "messages": [{"role": "user", "content": "hi"}], "custom_llm_provider": "bedrock",
               "aws_sts_endpoint": ATTACKER.url, "aws_role_name": DEPT_B})
@example(body={"model": MODEL_NAME, "messages": [{"role": "user", "content": "hi"}], "stream": True,
               "metadata": {"deeper": {"aws_bedrock_runtime_endpoint": ATTACKER.url}, "api_base": ATTACKER.url}})
def test_any_body_is_answered_or_refused_and_never_moves_the_wire(proxy: ProxyProcess, aws: LocalAWS,
                                                                  body: dict[str, Any]) -> None:
    bedrock_before, sts_before = len(aws.bedrock_calls()), len(aws.sts_calls())
    assert proxy.log_path is not None
    offset = proxy.log_path.stat().st_size
    status, text = post(proxy, body)
    with open(proxy.log_path, "rb") as f:
        f.seek(offset)
        log = f.read().decode("utf-8", "replace")
    assert_answer(status, text, stream=body.get("stream") is True, log=log)
    EXAMPLES["served" if status == 200 else "refused"] += 1
    assert_wire(aws, bedrock_before, sts_before)
    assert_up(proxy)


def test_the_fuzzer_reached_both_outcomes_and_a_normal_request_still_works(proxy: ProxyProcess,
                                                                          aws: LocalAWS) -> None:
    """Runs after the property (file order): it must have seen served and refused bodies, and the gateway
    must still serve a plain request signed by the configured role."""
    print(f"\nhostile bodies: {EXAMPLES}; bare 500s from LiteLLM: {sorted(set(BARE_500))} x{len(BARE_500)}")
    if not any(EXAMPLES.values()):
        pytest.skip("counts come from the property test above; run the whole module")
    assert EXAMPLES["served"] >= 3 and EXAMPLES["refused"] >= 10, EXAMPLES
    before = len(aws.bedrock_calls())
    status, text = post(proxy, {"model": MODEL_NAME, "messages": [{"role": "user", "content": "who?"}]})
    assert status == 200 and "111111111111" in text, (status, text[:300])
    assert len(aws.bedrock_calls()) == before + 1
    assert_wire(aws, before, len(aws.sts_calls()))
