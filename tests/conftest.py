"""Shared fixtures: a local AWS (moto STS server + Bedrock wire fake, both real HTTP on 127.0.0.1)."""

from __future__ import annotations

import ast
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def _one_ast_parse_at_a_time() -> None:
    """Python 3.11's AST constructor keeps its recursion depth in interpreter-wide state, so two threads
    parsing at once can fail with ``SystemError: AST constructor recursion depth mismatch``
    (python/cpython#106905, pytest-dev/pytest#10763). In this suite pytest parses test source to render an
    (expected) failure while LiteLLM's logging threads format the same stream error's traceback, which
    3.11's ``traceback`` module parses for its carets: it crashed a whole run (INTERNALERROR) about one
    run in five on LiteLLM 1.82.3. Both go through ``ast.parse``; here they take turns. Test harness only:
    the package never parses source."""
    original = ast.parse
    if getattr(original, "_xacct_serialised", False):
        return
    lock = threading.RLock()

    def parse(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(*args, **kwargs)

    parse._xacct_serialised = True  # type: ignore[attr-defined]
    ast.parse = parse  # type: ignore[assignment]


_one_ast_parse_at_a_time()

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
