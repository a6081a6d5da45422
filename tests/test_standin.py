"""Tests of the local AWS stand-in itself (litellm_xacct.testing), driven by real boto3 clients."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from email.message import Message
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.eventstream import EventStreamBuffer
from botocore.exceptions import ClientError

from litellm_xacct.testing import CENTRAL_ACCOUNT, LocalAWS, Role, StaticIdentity
from litellm_xacct.testing._bedrock import CENTRAL_REFUSAL, verify_sigv4
from litellm_xacct.testing._eventstream import encode_event, encode_message

DEPT_A = "arn:aws:iam::111111111111:role/dept-a"
DEPT_B = "arn:aws:iam::222222222222:role/dept-b"
DEPT_B_EXT = "ext-b-123"
HOPS = ["arn:aws:iam::333333333333:role/hop1", "arn:aws:iam::444444444444:role/hop2",
        "arn:aws:iam::555555555555:role/hop3"]
MODEL = "us.anthropic.claude-sonnet-4-6"
PROFILE_ARN = "arn:aws:bedrock:us-east-1:111111111111:application-inference-profile/abc"
NO_RETRY = Config(retries={"total_max_attempts": 1})
HELLO = [{"role": "user", "content": [{"text": "who signed this request"}]}]

Creds = dict[str, str]


@pytest.fixture(scope="module")
def standin() -> Iterator[LocalAWS]:
    roles = [Role(DEPT_A), Role(DEPT_B, external_id=DEPT_B_EXT), *(Role(h) for h in HOPS)]
    with LocalAWS(roles=roles, region="us-east-1") as local:
        yield local


@pytest.fixture
def aws(standin: LocalAWS) -> LocalAWS:
    standin.reset()
    return standin


def central_creds(aws: LocalAWS) -> Creds:
    return {"aws_access_key_id": aws.central.access_key_id,
            "aws_secret_access_key": aws.central.secret_access_key}


def sts(aws: LocalAWS, creds: Creds | None = None, config: Config = NO_RETRY) -> Any:
    return boto3.client("sts", endpoint_url=aws.sts_endpoint, region_name=aws.region, config=config,
                        **(creds or central_creds(aws)))


def bedrock(aws: LocalAWS, creds: Creds, config: Config = NO_RETRY) -> Any:
    return boto3.client("bedrock-runtime", endpoint_url=aws.bedrock_endpoint, region_name=aws.region,
                        config=config, **creds)


def assume(aws: LocalAWS, role: str, session: str = "gw", via: Creds | None = None, **kw: Any) -> Creds:
    c = sts(aws, via).assume_role(RoleArn=role, RoleSessionName=session, **kw)["Credentials"]
    return {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
            "aws_session_token": c["SessionToken"]}


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    err = excinfo.value.response
    return err["Error"]["Code"], err["Error"]["Message"], err["ResponseMetadata"]["HTTPStatusCode"]


# --- STS -------------------------------------------------------------------------------------------


def test_caller_identity_for_central_and_assumed_keys(aws: LocalAWS) -> None:
    assert sts(aws).get_caller_identity()["Arn"] == "arn:aws:iam::123456789012:user/gateway"
    who = sts(aws, assume(aws, DEPT_A, "dept-a-gw")).get_caller_identity()
    assert who["Account"] == "111111111111"
    assert who["Arn"] == "arn:aws:sts::111111111111:assumed-role/dept-a/dept-a-gw"


def test_unregistered_role_is_access_denied(aws: LocalAWS) -> None:
    with pytest.raises(ClientError) as excinfo:
        assume(aws, "arn:aws:iam::999999999999:role/nope")
    code, message, status = error_of(excinfo)
    assert (code, status) == ("AccessDenied", 403)
    assert message == ("User: arn:aws:iam::123456789012:user/gateway is not authorized to perform: "
                       "sts:AssumeRole on resource: arn:aws:iam::999999999999:role/nope")
    [call] = aws.sts_calls("AssumeRole")
    assert (call.status, call.error_code) == (403, "AccessDenied")
    assert call.access_key_id == aws.central.access_key_id


def test_external_id_is_enforced(aws: LocalAWS) -> None:
    for kwargs in ({}, {"ExternalId": "wrong-id"}):
        with pytest.raises(ClientError) as excinfo:
            assume(aws, DEPT_B, **kwargs)
        assert error_of(excinfo)[0] == "AccessDenied"
    assume(aws, DEPT_B, ExternalId=DEPT_B_EXT)
    assert [c.params.get("ExternalId") for c in aws.sts_calls("AssumeRole")] == [None, "wrong-id", DEPT_B_EXT]
    assert [c.status for c in aws.sts_calls()] == [403, 403, 200]


def test_roles_can_be_added_at_runtime(aws: LocalAWS) -> None:
    late = "arn:aws:iam::666666666666:role/late"
    with pytest.raises(ClientError):
        assume(aws, late)
    aws.add_role(Role(late))
    assert sts(aws, assume(aws, late)).get_caller_identity()["Account"] == "666666666666"


def test_three_hop_chain(aws: LocalAWS) -> None:
    creds = None
    for i, hop in enumerate(HOPS, start=1):
        creds = assume(aws, hop, f"hop{i}", via=creds)
    assert creds is not None
    who = sts(aws, creds).get_caller_identity()
    assert who["Arn"] == "arn:aws:sts::555555555555:assumed-role/hop3/hop3"
    signers = [c.access_key_id for c in aws.sts_calls("AssumeRole")]
    assert len(signers) == 3, signers
    assert signers[0] == aws.central.access_key_id and all(k and k.startswith("ASIA") for k in signers[1:])
    reply = bedrock(aws, creds).converse(modelId=MODEL, messages=HELLO)
    assert "account 555555555555" in reply["output"]["message"]["content"][0]["text"]


def test_web_identity_trust(aws: LocalAWS) -> None:
    # botocore sends AssumeRoleWithWebIdentity unsigned whatever keys the client has
    anonymous = boto3.client("sts", endpoint_url=aws.sts_endpoint, region_name=aws.region, config=NO_RETRY,
                             aws_access_key_id="x", aws_secret_access_key="x")
    ok = anonymous.assume_role_with_web_identity(RoleArn=DEPT_A, RoleSessionName="pod",
                                                 WebIdentityToken="jwt-token")
    assert ok["AssumedRoleUser"]["Arn"] == "arn:aws:sts::111111111111:assumed-role/dept-a/pod"
    with pytest.raises(ClientError) as excinfo:
        anonymous.assume_role_with_web_identity(RoleArn="arn:aws:iam::1:role/x", RoleSessionName="pp",
                                                WebIdentityToken="jwt-token")
    assert error_of(excinfo)[0] == "AccessDenied"
    calls = aws.sts_calls("AssumeRoleWithWebIdentity")
    assert [c.access_key_id for c in calls] == [None, None]
    assert "jwt-token" not in repr(calls[0])  # bearer token masked


def test_fail_sts_count_and_clear(aws: LocalAWS) -> None:
    aws.fail_sts("Throttling", 400, count=2)
    for _ in range(2):
        with pytest.raises(ClientError) as excinfo:
            sts(aws).get_caller_identity()
        assert error_of(excinfo)[0::2] == ("Throttling", 400)
    sts(aws).get_caller_identity()
    aws.fail_sts("ServiceUnavailable", 503)  # count=None: until cleared
    for _ in range(3):
        with pytest.raises(ClientError) as excinfo:
            sts(aws).get_caller_identity()
        assert error_of(excinfo)[0::2] == ("ServiceUnavailable", 503)
    aws.clear_faults()
    sts(aws).get_caller_identity()
    codes = [c.error_code for c in aws.sts_calls()]
    assert codes == ["Throttling"] * 2 + [None] + ["ServiceUnavailable"] * 3 + [None]


def test_fail_sts_internal_failure_is_retried_by_botocore(aws: LocalAWS) -> None:
    aws.fail_sts("InternalFailure", 500, count=1)
    retrying = Config(retries={"total_max_attempts": 2, "mode": "standard"})
    assert sts(aws, config=retrying).get_caller_identity()["Account"] == CENTRAL_ACCOUNT
    assert [c.status for c in aws.sts_calls()] == [500, 200]


def test_credential_lifetime_overrides_duration(aws: LocalAWS) -> None:
    aws.credential_lifetime = 20
    client = sts(aws)
    c = client.assume_role(RoleArn=DEPT_A, RoleSessionName="ss", DurationSeconds=3600)["Credentials"]
    remaining = (c["Expiration"] - datetime.now(timezone.utc)).total_seconds()
    assert 15 < remaining <= 21
    assert aws.sts_calls("AssumeRole")[0].params["DurationSeconds"] == "3600"  # original recorded
    aws.credential_lifetime = 0  # already expired when issued
    expired = assume(aws, DEPT_A)
    with pytest.raises(ClientError) as excinfo:
        bedrock(aws, expired).converse(modelId=MODEL, messages=HELLO)
    assert error_of(excinfo) == (
        "ExpiredTokenException", "The security token included in the request is expired", 403)
    with pytest.raises(ClientError) as excinfo:
        sts(aws, expired).get_caller_identity()
    assert error_of(excinfo)[0] == "ExpiredToken"
    aws.reset()
    assert aws.credential_lifetime is None


def test_sts_delay(aws: LocalAWS) -> None:
    client = sts(aws)
    client.get_caller_identity()  # warm the connection
    aws.sts_delay = 0.3
    started = time.perf_counter()
    client.get_caller_identity()
    assert time.perf_counter() - started >= 0.3
    aws.clear_faults()
    started = time.perf_counter()
    client.get_caller_identity()
    assert time.perf_counter() - started < 0.3


# --- Bedrock: who signed ---------------------------------------------------------------------------


def test_assumed_role_converse_reports_signer(aws: LocalAWS) -> None:
    reply = bedrock(aws, assume(aws, DEPT_A, "dept-a-gw")).converse(modelId=MODEL, messages=HELLO)
    text = reply["output"]["message"]["content"][0]["text"]
    assert text == ("Hello from account 111111111111 as "
                    "arn:aws:sts::111111111111:assumed-role/dept-a/dept-a-gw (session dept-a-gw).")
    assert reply["usage"] == {"inputTokens": 4, "outputTokens": 8, "totalTokens": 12}
    assert reply["ResponseMetadata"]["HTTPHeaders"]["x-xacct-account"] == "111111111111"
    [call] = aws.bedrock_calls()
    assert (call.operation, call.model_id, call.status, call.error_code) == ("Converse", MODEL, 200, None)
    assert (call.account, call.role_arn, call.session_name, call.region) == (
        "111111111111", DEPT_A, "dept-a-gw", "us-east-1")
    assert call.principal_arn == "arn:aws:sts::111111111111:assumed-role/dept-a/dept-a-gw"
    assert call.body == {"messages": HELLO}


def test_central_keys_are_refused_with_use_case_error(aws: LocalAWS) -> None:
    with pytest.raises(ClientError) as excinfo:
        bedrock(aws, central_creds(aws)).converse(modelId=MODEL, messages=HELLO)
    assert error_of(excinfo) == ("AccessDeniedException", CENTRAL_REFUSAL, 403)
    [call] = aws.bedrock_calls()
    assert (call.account, call.status, call.role_arn) == (CENTRAL_ACCOUNT, 403, None)


def test_wrong_secret_is_invalid_signature(aws: LocalAWS) -> None:
    creds = assume(aws, DEPT_A)
    with pytest.raises(ClientError) as excinfo:
        bedrock(aws, dict(creds, aws_secret_access_key="x" * 40)).converse(modelId=MODEL, messages=HELLO)
    code, message, status = error_of(excinfo)
    assert (code, status) == ("InvalidSignatureException", 403)
    assert message.startswith("The request signature we calculated does not match")
    assert aws.bedrock_calls()[0].account == "111111111111"  # the claimed signer is still logged


def test_tampered_request_is_invalid_signature(aws: LocalAWS) -> None:
    client = bedrock(aws, assume(aws, DEPT_A))

    def tamper(request: Any, **_: Any) -> None:
        request.body = request.body.replace(b"who", b"WHO")  # body changed after signing

    client.meta.events.register("before-send.bedrock-runtime.Converse", tamper)
    with pytest.raises(ClientError) as excinfo:
        client.converse(modelId=MODEL, messages=HELLO)
    assert error_of(excinfo)[0] == "InvalidSignatureException"


def test_session_token_missing_or_wrong(aws: LocalAWS) -> None:
    creds, other = assume(aws, DEPT_A, "one"), assume(aws, DEPT_A, "two")
    for bad in ({k: v for k, v in creds.items() if k != "aws_session_token"},
                dict(creds, aws_session_token=other["aws_session_token"])):
        with pytest.raises(ClientError) as excinfo:
            bedrock(aws, bad).converse(modelId=MODEL, messages=HELLO)
        assert error_of(excinfo) == ("UnrecognizedClientException",
                                     "The security token included in the request is invalid.", 403)


def test_unknown_key_and_missing_auth(aws: LocalAWS) -> None:
    with pytest.raises(ClientError) as excinfo:
        bedrock(aws, {"aws_access_key_id": "AKIAUNKNOWN000000000", "aws_secret_access_key": "s"}).converse(
            modelId=MODEL, messages=HELLO)
    assert error_of(excinfo)[0] == "UnrecognizedClientException"
    url = f"{aws.bedrock_endpoint}/model/{MODEL}/converse"
    request = urllib.request.Request(url, data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as http_error:
        urllib.request.urlopen(request, timeout=5)
    assert http_error.value.code == 403
    assert http_error.value.headers["x-amzn-ErrorType"].startswith("MissingAuthenticationTokenException:")
    assert [(c.access_key_id, c.account) for c in aws.bedrock_calls()] == [("AKIAUNKNOWN000000000", None),
                                                                           (None, None)]


def test_clock_skew_is_signature_expired(aws: LocalAWS) -> None:
    creds = assume(aws, DEPT_A)
    request = AWSRequest("POST", f"{aws.bedrock_endpoint}/model/{MODEL}/converse", data=b"{}",
                         headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(creds["aws_access_key_id"], creds["aws_secret_access_key"],
                          creds["aws_session_token"]), "bedrock", aws.region).add_auth(request)
    headers = Message()  # the shape http.server hands the fake
    for name, value in [*request.headers.items(), ("Host", aws.bedrock_endpoint.split("//")[1])]:
        headers[name] = value
    identities = aws._identities  # the instance's key registry
    path = f"/model/{MODEL}/converse"
    assert verify_sigv4(identities, "POST", path, headers, b"{}").error is None
    for skew in (timedelta(minutes=6), timedelta(minutes=-6)):
        now = datetime.now(timezone.utc) + skew
        error = verify_sigv4(identities, "POST", path, headers, b"{}", now=now).error
        assert error is not None and error.code == "InvalidSignatureException"
        assert error.message.startswith("Signature expired")


def test_fail_bedrock_after_verification(aws: LocalAWS) -> None:
    client = bedrock(aws, assume(aws, DEPT_A))
    aws.fail_bedrock()  # default: one ExpiredTokenException
    with pytest.raises(ClientError) as excinfo:
        client.converse(modelId=MODEL, messages=HELLO)
    assert error_of(excinfo)[0::2] == ("ExpiredTokenException", 403)
    client.converse(modelId=MODEL, messages=HELLO)
    aws.fail_bedrock("ThrottlingException", 429, count=None, message="slow down")
    with pytest.raises(ClientError) as excinfo:
        client.converse(modelId=MODEL, messages=HELLO)
    assert error_of(excinfo) == ("ThrottlingException", "slow down", 429)
    aws.clear_faults()
    client.converse(modelId=MODEL, messages=HELLO)
    calls = aws.bedrock_calls()
    assert [c.error_code for c in calls] == ["ExpiredTokenException", None, "ThrottlingException", None]
    assert {c.account for c in calls} == {"111111111111"}


def test_inference_profile_arn_model_id(aws: LocalAWS) -> None:
    reply = bedrock(aws, assume(aws, DEPT_A)).converse(modelId=PROFILE_ARN, messages=HELLO)
    assert reply["stopReason"] == "end_turn"
    assert aws.bedrock_calls()[0].model_id == PROFILE_ARN


# --- Bedrock: answer shapes ------------------------------------------------------------------------


def test_converse_tool_reasoning_and_cache(aws: LocalAWS) -> None:
    reply = bedrock(aws, assume(aws, DEPT_A)).converse(
        modelId=MODEL, messages=HELLO, system=[{"text": "be brief"}, {"cachePoint": {"type": "default"}}],
        toolConfig={"tools": [{"toolSpec": {"name": "whoami", "inputSchema": {"json": {"type": "object"}}}}]},
        additionalModelRequestFields={"thinking": {"type": "enabled", "budget_tokens": 1024}},
    )
    content = reply["output"]["message"]["content"]
    assert content[0]["reasoningContent"]["reasoningText"] == {"text": "Thinking about who signed.",
                                                               "signature": "sig-xacct"}
    assert content[2]["toolUse"] == {"toolUseId": "tooluse_xacct1", "name": "whoami",
                                     "input": {"signer": "111111111111"}}
    assert reply["stopReason"] == "tool_use"
    assert reply["usage"]["inputTokens"] == 6
    assert (reply["usage"]["cacheReadInputTokens"], reply["usage"]["cacheWriteInputTokens"]) == (7, 0)


def test_converse_stream_decodes(aws: LocalAWS) -> None:
    response = bedrock(aws, assume(aws, DEPT_B, "b-gw", ExternalId=DEPT_B_EXT)).converse_stream(
        modelId=MODEL, messages=HELLO,
        toolConfig={"tools": [{"toolSpec": {"name": "whoami", "inputSchema": {"json": {"type": "object"}}}}]},
        additionalModelRequestFields={"reasoning_config": {"type": "enabled"}},
    )
    events = list(response["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[-2:] == ["messageStop", "metadata"]
    deltas = [e["contentBlockDelta"]["delta"] for e in events if "contentBlockDelta" in e]
    text = "".join(d.get("text", "") for d in deltas)
    assert text == ("Hello from account 222222222222 as arn:aws:sts::222222222222:assumed-role/dept-b/b-gw "
                    "(session b-gw).")
    assert sum(1 for d in deltas if "text" in d) >= 3
    reasoning = [d["reasoningContent"] for d in deltas if "reasoningContent" in d]
    assert reasoning == [{"text": "Thinking about who signed."}, {"signature": "sig-xacct"}]
    [start] = [e["contentBlockStart"] for e in events if "contentBlockStart" in e]
    assert start["start"]["toolUse"] == {"toolUseId": "tooluse_xacct1", "name": "whoami"}
    tool_json = "".join(d["toolUse"]["input"] for d in deltas if "toolUse" in d)
    assert json.loads(tool_json) == {"signer": "222222222222"}
    assert events[-2]["messageStop"]["stopReason"] == "tool_use"
    assert events[-1]["metadata"]["usage"] == {"inputTokens": 4, "outputTokens": 8, "totalTokens": 12}
    assert aws.bedrock_calls()[0].operation == "ConverseStream"


def test_invoke_model_anthropic_titan_and_unknown(aws: LocalAWS) -> None:
    client = bedrock(aws, assume(aws, DEPT_A))
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64, "system": "be brief",
            "messages": [{"role": "user", "content": "who signed this"}]}
    out = json.loads(client.invoke_model(modelId=MODEL, body=json.dumps(body))["body"].read())
    assert out["content"][0]["text"].startswith("Hello from account 111111111111")
    assert out["usage"] == {"input_tokens": 5, "output_tokens": 8} and out["stop_reason"] == "end_turn"
    emb = json.loads(client.invoke_model(modelId="amazon.titan-embed-text-v1",
                                         body=json.dumps({"inputText": "a b c"}))["body"].read())
    again = json.loads(client.invoke_model(modelId="amazon.titan-embed-text-v1",
                                           body=json.dumps({"inputText": "a b c"}))["body"].read())
    assert len(emb["embedding"]) == 1536 and emb == again and emb["inputTextTokenCount"] == 3
    with pytest.raises(ClientError) as excinfo:
        client.invoke_model(modelId="acme.unknown-model-v1", body=json.dumps({"prompt": "hi"}))
    assert error_of(excinfo)[0::2] == ("ValidationException", 400)
    assert [c.operation for c in aws.bedrock_calls()] == ["InvokeModel"] * 4


def test_invoke_with_response_stream_decodes(aws: LocalAWS) -> None:
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "who signed"}]}]}
    response = bedrock(aws, assume(aws, DEPT_A)).invoke_model_with_response_stream(
        modelId=MODEL, body=json.dumps(body))
    chunks = [json.loads(e["chunk"]["bytes"]) for e in response["body"]]
    types = [c["type"] for c in chunks]
    assert types == ["message_start", "content_block_start", "content_block_delta", "content_block_delta",
                     "content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    text = "".join(c["delta"]["text"] for c in chunks if c["type"] == "content_block_delta")
    assert text.startswith("Hello from account 111111111111")
    assert chunks[-2]["delta"]["stop_reason"] == "end_turn" and chunks[-2]["usage"] == {"output_tokens": 8}
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["inputTokenCount"] == 2


def test_eventstream_encoder_round_trips() -> None:
    buffer = EventStreamBuffer()
    buffer.add_data(encode_event("chunk", {"bytes": base64.b64encode(b"{}").decode()}))
    buffer.add_data(encode_message({":message-type": "event"}, b""))
    first, second = list(buffer)
    assert first.headers == {":event-type": "chunk", ":content-type": "application/json",
                             ":message-type": "event"}
    assert json.loads(first.payload) == {"bytes": "e30="}
    assert (second.headers, second.payload) == ({":message-type": "event"}, b"")


# --- plumbing --------------------------------------------------------------------------------------


def test_calls_and_health_endpoints(aws: LocalAWS) -> None:
    bedrock(aws, assume(aws, DEPT_A, "http-log")).converse(modelId=MODEL, messages=HELLO)
    with urllib.request.urlopen(f"{aws.bedrock_endpoint}/_xacct/health", timeout=5) as r:
        assert json.load(r) == {"status": "ok"}
    with urllib.request.urlopen(f"{aws.bedrock_endpoint}/_xacct/calls", timeout=5) as r:
        [call] = json.load(r)
    assert call["session_name"] == "http-log" and "headers" not in call


def test_reprs_hide_secrets(aws: LocalAWS) -> None:
    creds = assume(aws, DEPT_A)
    bedrock(aws, creds).converse(modelId=MODEL, messages=HELLO)
    shown = repr(aws.central) + repr(aws.bedrock_calls()) + repr(aws.sts_calls()) + repr(aws)
    for secret in (aws.central.secret_access_key, creds["aws_secret_access_key"], creds["aws_session_token"]):
        assert secret not in shown
    assert isinstance(aws.central, StaticIdentity) and aws.central.account == CENTRAL_ACCOUNT
    assert aws.central_env()["AWS_DEFAULT_REGION"] == "us-east-1"


def test_instances_are_isolated(aws: LocalAWS) -> None:
    creds = assume(aws, DEPT_A)
    with LocalAWS(roles=[Role(DEPT_A)]) as other:
        assert other.central.access_key_id != aws.central.access_key_id
        with pytest.raises(ClientError) as excinfo:  # keys issued by another stand-in are unknown here
            bedrock(other, creds).converse(modelId=MODEL, messages=HELLO)
        assert error_of(excinfo)[0] == "UnrecognizedClientException"
        other.reset()
    assert len(aws.sts_calls()) == 1
    bedrock(aws, creds).converse(modelId=MODEL, messages=HELLO)


def test_concurrent_converse_calls(aws: LocalAWS) -> None:
    config = Config(max_pool_connections=100, retries={"total_max_attempts": 1})
    client = bedrock(aws, assume(aws, DEPT_A), config)
    with ThreadPoolExecutor(max_workers=100) as pool:
        replies = list(pool.map(lambda _: client.converse(modelId=MODEL, messages=HELLO), range(100)))
    assert all(r["stopReason"] == "end_turn" for r in replies)
    assert len(aws.bedrock_calls()) == 100 and {c.status for c in aws.bedrock_calls()} == {200}


def test_concurrent_sts_calls(aws: LocalAWS) -> None:
    client = sts(aws, config=Config(max_pool_connections=200, retries={"total_max_attempts": 1}))
    with ThreadPoolExecutor(max_workers=200) as pool:
        results = list(pool.map(lambda i: client.assume_role(RoleArn=DEPT_A, RoleSessionName=f"s{i:03}"),
                                range(200)))
    assert len({r["Credentials"]["AccessKeyId"] for r in results}) == 200
    assert len(aws.sts_calls("AssumeRole")) == 200


def test_main_prints_json_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: a\n"
        "    litellm_params:\n"
        "      model: bedrock-xacct/x\n"
        "      aws_role_name: os.environ/XACCT_TEST_ROLE\n"
        "      aws_external_id: ext-c\n"
        "      xacct_role_chain:\n"
        "        - arn:aws:iam::777777777777:role/hop\n"
        "        - {role_arn: 'arn:aws:iam::888888888888:role/hop', external_id: ext-h}\n"
    )
    env = dict(os.environ, XACCT_TEST_ROLE="arn:aws:iam::999999999999:role/c")
    proc = subprocess.Popen(
        [sys.executable, "-m", "litellm_xacct.testing", "--role", f"{DEPT_B}={DEPT_B_EXT}",
         "--roles-from-config", str(config), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["region"] == "us-east-1" and info["central"]["account"] == CENTRAL_ACCOUNT
        client = boto3.client("sts", endpoint_url=info["sts_endpoint"], region_name="us-east-1",
                              config=NO_RETRY,
                              aws_access_key_id=info["central"]["aws_access_key_id"],
                              aws_secret_access_key=info["central"]["aws_secret_access_key"])
        client.assume_role(RoleArn=DEPT_B, RoleSessionName="ss", ExternalId=DEPT_B_EXT)
        client.assume_role(RoleArn="arn:aws:iam::999999999999:role/c", RoleSessionName="ss",
                           ExternalId="ext-c")
        client.assume_role(RoleArn="arn:aws:iam::777777777777:role/hop", RoleSessionName="ss")
        with pytest.raises(ClientError):
            client.assume_role(RoleArn="arn:aws:iam::888888888888:role/hop", RoleSessionName="ss")
        with urllib.request.urlopen(f"{info['bedrock_endpoint']}/_xacct/health", timeout=5) as r:
            assert r.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_stop_closes_everything() -> None:
    local = LocalAWS(roles=[Role(DEPT_A)]).start()
    creds = assume(local, DEPT_A)
    client = bedrock(local, creds)
    client.converse(modelId=MODEL, messages=HELLO)  # leaves an idle keep-alive connection open
    endpoint, threads = local.bedrock_endpoint, [local._sts._thread, local._bedrock._thread]
    started = time.perf_counter()
    local.stop()
    assert time.perf_counter() - started < 2
    assert not any(t is not None and t.is_alive() for t in threads)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{endpoint}/_xacct/health", timeout=2)
    local.stop()  # idempotent
    with pytest.raises(RuntimeError):
        _ = local.sts_endpoint


def test_litellm_signer_verifies(aws: LocalAWS) -> None:
    """LiteLLM signs Bedrock requests itself (not via a boto3 client): the fake must accept it."""
    litellm = pytest.importorskip("litellm")
    creds = assume(aws, DEPT_A, "litellm-gw")
    params = dict(creds, aws_region_name=aws.region, aws_bedrock_runtime_endpoint=aws.bedrock_endpoint)
    messages = [{"role": "user", "content": "who signed"}]
    for model in (f"bedrock/converse/{MODEL}", f"bedrock/invoke/{MODEL}", f"bedrock/converse/{PROFILE_ARN}"):
        reply = litellm.completion(model=model, messages=messages, **params)
        assert reply.choices[0].message.content.startswith("Hello from account 111111111111")
    stream = litellm.completion(model=f"bedrock/{MODEL}", messages=messages, stream=True, **params)
    assert "session litellm-gw" in "".join(chunk.choices[0].delta.content or "" for chunk in stream)
    assert [c.status for c in aws.bedrock_calls()] == [200] * 4
