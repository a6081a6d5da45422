"""Shared fixtures: a local AWS (moto STS server + Bedrock wire fake, both real HTTP on 127.0.0.1)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from litellm_xacct.testing import LocalAWS, Role  # noqa: E402

DEPT_A = "arn:aws:iam::111111111111:role/litellm-bedrock-dept-a"
DEPT_B = "arn:aws:iam::222222222222:role/litellm-bedrock-dept-b"
DEPT_B_EXTERNAL_ID = "ext-b-123"
PLATFORM = "arn:aws:iam::333333333333:role/litellm-bedrock-platform"  # example_config's `default` deployment
HOPS = [f"arn:aws:iam::{d * 12}:role/hop{i}" for i, d in enumerate("345", start=1)]
MODEL = "us.anthropic.claude-sonnet-4-6"


@pytest.fixture(scope="session")
def aws() -> Iterator[LocalAWS]:
    roles = [Role(DEPT_A), Role(DEPT_B, external_id=DEPT_B_EXTERNAL_ID), Role(PLATFORM), *(Role(h) for h in HOPS)]
    with LocalAWS(roles=roles, region="us-east-1") as local:
        yield local


@pytest.fixture
def local_aws(aws: LocalAWS, monkeypatch: pytest.MonkeyPatch) -> LocalAWS:
    """The stand-in with clean logs and faults, and the gateway's own (central) identity in the env."""
    aws.reset()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in aws.central_env().items():
        monkeypatch.setenv(name, value)
    return aws


def deployment(aws: LocalAWS, role: str | None = DEPT_A, **extra: Any) -> dict[str, Any]:
    """litellm_params for a bedrock-xacct deployment pointed at the stand-in."""
    params: dict[str, Any] = {
        "aws_region_name": aws.region,
        "aws_sts_endpoint": aws.sts_endpoint,
        "aws_bedrock_runtime_endpoint": aws.bedrock_endpoint,
    }
    if role is not None:
        params["aws_role_name"] = role
    params.update(extra)
    return params
