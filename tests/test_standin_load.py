"""The stand-in's load knobs: an STS rate limit like AWS's per-account quota, and the caller's port on
every call record (how the benchmarks tell proxy workers apart)."""

from __future__ import annotations

import socket

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from litellm_xacct.testing import LocalAWS

from .conftest import DEPT_A


def _sts(aws: LocalAWS) -> object:
    return boto3.client("sts", endpoint_url=aws.sts_endpoint, region_name=aws.region,
                        aws_access_key_id=aws.central.access_key_id,
                        aws_secret_access_key=aws.central.secret_access_key,
                        config=Config(retries={"total_max_attempts": 1}))


def test_throttle_sts_answers_calls_beyond_the_burst_with_throttling(local_aws: LocalAWS) -> None:
    sts = _sts(local_aws)
    local_aws.throttle_sts(0.01, burst=2)  # 2 calls now, the next token in 100 s
    outcomes = []
    for _ in range(4):
        try:
            sts.assume_role(RoleArn=DEPT_A, RoleSessionName="s1")  # type: ignore[attr-defined]
            outcomes.append("ok")
        except ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])
    assert outcomes == ["ok", "ok", "Throttling", "Throttling"]
    assert [c.error_code for c in local_aws.sts_calls("AssumeRole")] == [None, None, "Throttling", "Throttling"]
    local_aws.throttle_sts(None)
    sts.assume_role(RoleArn=DEPT_A, RoleSessionName="s1")  # type: ignore[attr-defined]
    local_aws.throttle_sts(0.01, burst=1)
    local_aws.clear_faults()  # clears the limit too
    sts.assume_role(RoleArn=DEPT_A, RoleSessionName="s1")  # type: ignore[attr-defined]
    assert len(local_aws.sts_calls("AssumeRole")) == 6


def test_call_records_name_the_callers_port(local_aws: LocalAWS) -> None:
    sts = _sts(local_aws)
    sts.get_caller_identity()  # type: ignore[attr-defined]
    calls = local_aws.sts_calls("GetCallerIdentity")
    assert len(calls) == 1
    host, port = (calls[0].peer or ":").rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    # the port is the client's own end of the connection, not the server's
    assert int(port) != int(local_aws.sts_endpoint.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", int(local_aws.bedrock_endpoint.rsplit(":", 1)[1]))) as conn:
        mine = conn.getsockname()[1]
        conn.sendall(b"POST /model/m/converse HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        conn.recv(4096)
    bedrock = local_aws.bedrock_calls()
    assert len(bedrock) == 1 and bedrock[0].peer == f"127.0.0.1:{mine}"
