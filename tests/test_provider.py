"""The provider through LiteLLM's real entry points, asserting what reached the (local) wire."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import litellm
import pytest

import litellm_xacct
from litellm_xacct import BedrockXacct, CredentialEngine
from litellm_xacct._error_mapping import lite_error
from litellm_xacct._errors import THROTTLE_CODES, StsUnavailableError
from litellm_xacct.testing import CENTRAL_ACCOUNT, LocalAWS

from .conftest import DEPT_A, DEPT_B, DEPT_B_EXTERNAL_ID, MODEL, deployment

MESSAGES = [{"role": "user", "content": "who signed this request?"}]


@pytest.fixture
def engine(local_aws: LocalAWS) -> Iterator[CredentialEngine]:
    eng = CredentialEngine()
    litellm_xacct.register(BedrockXacct(engine=eng))
    yield eng
    eng.close()


def call(stream: bool, sync: bool, **params: Any) -> tuple[str, Any]:
    """One completion through litellm; returns (text, final response or last chunk)."""
    kwargs = {"model": f"bedrock-xacct/{MODEL}", "messages": MESSAGES, "stream": stream, **params}
    if sync:
        result = litellm.completion(**kwargs)
        if not stream:
            return result.choices[0].message.content, result
        chunks = list(result)
    else:
        async def run() -> Any:
            result = await litellm.acompletion(**kwargs)
            if not stream:
                return result
            return [c async for c in result]
        result = asyncio.run(run())
        if not stream:
            return result.choices[0].message.content, result
        chunks = result
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
def test_lands_in_the_configured_account(engine: CredentialEngine, local_aws: LocalAWS,
                                         stream: bool, sync: bool) -> None:
    text, _ = call(stream, sync, **deployment(local_aws, DEPT_B, aws_session_name="gateway-dept-b",
                                             aws_external_id=DEPT_B_EXTERNAL_ID))
    assert "222222222222" in text
    calls = local_aws.bedrock_calls()
    assert len(calls) == 1
    signed = calls[0]
    assert (signed.account, signed.role_arn, signed.session_name, signed.status) == (
        "222222222222", DEPT_B, "gateway-dept-b", 200)
    assert signed.operation == ("ConverseStream" if stream else "Converse")
    assume = local_aws.sts_calls("AssumeRole")
    assert len(assume) == 1
    assert assume[0].params["RoleArn"] == DEPT_B
    assert assume[0].params["RoleSessionName"] == "gateway-dept-b"
    assert assume[0].params["ExternalId"] == DEPT_B_EXTERNAL_ID
    assert assume[0].access_key_id == local_aws.central.access_key_id


def test_two_roles_never_share_credentials(engine: CredentialEngine, local_aws: LocalAWS) -> None:
    for role in (DEPT_A, DEPT_B, DEPT_A, DEPT_B):
        extra = {"aws_external_id": DEPT_B_EXTERNAL_ID} if role == DEPT_B else {}
        call(False, True, **deployment(local_aws, role, **extra))
    calls = local_aws.bedrock_calls()
    assert [c.account for c in calls] == ["111111111111", "222222222222", "111111111111", "222222222222"]
    keys = {c.account: set() for c in calls}
    for c in calls:
        keys[c.account].add(c.access_key_id)
    assert all(len(v) == 1 for v in keys.values())
    assert keys["111111111111"].isdisjoint(keys["222222222222"])
    assert len(local_aws.sts_calls("AssumeRole")) == 2


def test_deployments_differing_in_one_field_do_not_share(engine: CredentialEngine, local_aws: LocalAWS) -> None:
    call(False, True, **deployment(local_aws, aws_session_name="session-one"))
    call(False, True, **deployment(local_aws, aws_session_name="session-two"))
    assert [c.session_name for c in local_aws.bedrock_calls()] == ["session-one", "session-two"]
    assert len(local_aws.sts_calls("AssumeRole")) == 2


def test_cold_burst_of_50_makes_one_assume_role(engine: CredentialEngine, local_aws: LocalAWS) -> None:
    params = deployment(local_aws, aws_session_name="burst")

    async def burst() -> list[Any]:
        return await asyncio.gather(*[
            litellm.acompletion(model=f"bedrock-xacct/{MODEL}", messages=MESSAGES, **params) for _ in range(50)
        ])

    results = asyncio.run(burst())
    assert all("111111111111" in r.choices[0].message.content for r in results)
    assert len(local_aws.sts_calls("AssumeRole")) == 1
    calls = local_aws.bedrock_calls()
    assert len(calls) == 50 and {c.account for c in calls} == {"111111111111"}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_unassumable_role_fails_and_never_uses_the_gateway_identity(
    engine: CredentialEngine, local_aws: LocalAWS, stream: bool
) -> None:
    role = "arn:aws:iam::999999999999:role/not-trusted"
    with pytest.raises(litellm.PermissionDeniedError) as info:
        call(stream, False, **deployment(local_aws, role, aws_session_name="gw-x"))
    message = str(info.value)
    assert role in message and "gw-x" in message and "AccessDenied" in message
    assert local_aws.bedrock_calls() == []  # nothing signed at all, least of all by the central identity
    assert [c.params["RoleArn"] for c in local_aws.sts_calls("AssumeRole")] == [role]


def test_wrong_external_id_is_refused(engine: CredentialEngine, local_aws: LocalAWS) -> None:
    with pytest.raises(litellm.PermissionDeniedError, match="AccessDenied"):
        call(False, True, **deployment(local_aws, DEPT_B, aws_external_id="wrong-id"))
    assert not any(c.account == CENTRAL_ACCOUNT for c in local_aws.bedrock_calls())


def test_native_identity_is_what_the_stand_in_refuses(local_aws: LocalAWS) -> None:
    """Control: the gateway's own identity is refused as in the report, so the tests above can fail."""
    with pytest.raises(Exception) as info:  # noqa: B017 - the message is what matters
        litellm.completion(model=f"bedrock/{MODEL}", messages=MESSAGES, aws_region_name=local_aws.region,
                           aws_bedrock_runtime_endpoint=local_aws.bedrock_endpoint)
    text_or_error = str(info.value)
    assert "Model use case details have not been submitted" in text_or_error
    assert [c.account for c in local_aws.bedrock_calls()] == [CENTRAL_ACCOUNT]


def test_inference_profile_arn_model_id(engine: CredentialEngine, local_aws: LocalAWS) -> None:
    arn = "arn:aws:bedrock:us-east-1:111111111111:application-inference-profile/abc123"
    response = litellm.completion(model=f"bedrock-xacct/{arn}", messages=MESSAGES, **deployment(local_aws))
    assert "111111111111" in response.choices[0].message.content
    assert local_aws.bedrock_calls()[0].model_id == arn


def test_only_mapped_params_reach_bedrock(engine: CredentialEngine, local_aws: LocalAWS) -> None:
    litellm.completion(model=f"bedrock-xacct/{MODEL}", messages=MESSAGES, max_tokens=12, temperature=0.5,
                       max_retries=0, top_k=7, **deployment(local_aws, xacct_duration_seconds=900))
    body = local_aws.bedrock_calls()[0].body
    assert body is not None
    flat = repr(body)
    assert "xacct" not in flat and "aws_" not in flat and "max_retries" not in flat
    assert body["inferenceConfig"] == {"maxTokens": 12, "temperature": 0.5}
    assert body["additionalModelRequestFields"] == {"top_k": 7}
    assert local_aws.sts_calls("AssumeRole")[0].params["DurationSeconds"] == "900"


def test_expired_token_forces_one_refresh_and_retry(engine: CredentialEngine, local_aws: LocalAWS) -> None:
    params = deployment(local_aws)
    call(False, True, **params)
    local_aws.fail_bedrock(code="ExpiredTokenException", status=403, count=1)
    text, _ = call(False, True, **params)
    assert "111111111111" in text
    statuses = [(c.status, c.error_code) for c in local_aws.bedrock_calls()]
    assert statuses == [(200, None), (403, "ExpiredTokenException"), (200, None)]
    assert len(local_aws.sts_calls("AssumeRole")) == 2


def test_bedrock_errors_map_like_native(engine: CredentialEngine, local_aws: LocalAWS) -> None:
    local_aws.fail_bedrock(code="ValidationException", status=400, count=1,
                           message="Input is too long for requested model.")
    with pytest.raises(litellm.ContextWindowExceededError):
        call(False, True, **deployment(local_aws))
    local_aws.fail_bedrock(code="ThrottlingException", status=429, count=1, message="Too many requests")
    with pytest.raises(litellm.RateLimitError):
        call(False, True, **deployment(local_aws))


@pytest.mark.parametrize("code", sorted(THROTTLE_CODES))
def test_every_sts_throttle_code_is_a_rate_limit(code: str) -> None:
    """One list of STS throttle codes (``_errors``) decides both the retry and the 429 (an STS
    ``TooManyRequestsException`` used to be a 503)."""
    error = StsUnavailableError("dept-a", DEPT_A, "https://sts.invalid", code, "slow down")
    assert isinstance(lite_error("dept-a", error), litellm.RateLimitError)


def test_bad_config_error_names_the_field(engine: CredentialEngine, local_aws: LocalAWS) -> None:
    with pytest.raises(litellm.InternalServerError) as info:
        call(False, True, **deployment(local_aws, aws_session_name="no spaces allowed"))
    assert "aws_session_name" in str(info.value) and "Fix:" in str(info.value)
    assert local_aws.sts_calls() == [] and local_aws.bedrock_calls() == []


def _reasoning(delta: Any) -> str:
    """Reasoning text of a stream delta: on every supported release it reaches ``delta.reasoning_content``."""
    return getattr(delta, "reasoning_content", None) or ""


def test_stream_keeps_text_tools_reasoning_and_cached_usage(engine: CredentialEngine, local_aws: LocalAWS) -> None:
    tools = [{"type": "function", "function": {"name": "lookup_account", "description": "d",
                                               "parameters": {"type": "object", "properties": {}}}}]
    messages = [{"role": "user", "content": [
        {"type": "text", "text": "who signed?", "cache_control": {"type": "ephemeral"}}]}]

    async def run() -> list[Any]:
        stream = await litellm.acompletion(
            model=f"bedrock-xacct/{MODEL}", messages=messages, stream=True, tools=tools,
            stream_options={"include_usage": True}, reasoning_effort="low", **deployment(local_aws))
        return [c async for c in stream]

    chunks = asyncio.run(run())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    reasoning = "".join(_reasoning(c.choices[0].delta) for c in chunks if c.choices)
    tool_calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    usage = [c.usage for c in chunks if getattr(c, "usage", None)]
    assert "111111111111" in text
    assert reasoning
    assert tool_calls and tool_calls[0].function.name == "lookup_account"
    args = "".join(tc.function.arguments or "" for tc in tool_calls)
    assert '"signer"' in args
    assert finishes and finishes[-1] == "tool_calls"
    assert usage and usage[-1].prompt_tokens_details.cached_tokens == 7
