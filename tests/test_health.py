"""LiteLLM's ``/health`` (on demand and in the background) signs as each department; a quiet startup."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import openai
import pytest
import yaml

from litellm_xacct import _compat
from litellm_xacct.testing import LocalAWS, ProxyProcess, Role

from .conftest import DEPT_A, DEPT_B, DEPT_B_EXTERNAL_ID, PLATFORM
from .helpers import REPO

BROKEN = "arn:aws:iam::444444444444:role/not-trusted"  # not registered at the stand-in: AssumeRole is refused
ACCOUNTS = {DEPT_A: "111111111111", DEPT_B: "222222222222", PLATFORM: "333333333333"}
MISMATCH = "resolves to provider '{}'"


def _config(background: bool) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((REPO / "example_config.yaml").read_text(encoding="utf-8"))
    doc["model_list"].append({"model_name": "broken", "litellm_params": {
        "model": "bedrock-xacct/us.anthropic.claude-sonnet-4-6", "aws_region_name": "us-east-1",
        "aws_role_name": BROKEN, "tags": ["dept-x"]}})
    # A genuinely mis-configured deployment: AWS fields on an OpenAI model. 1.108.7 must still warn about it.
    doc["model_list"].append({"model_name": "mis", "litellm_params": {
        "model": "openai/gpt-4o-mini", "aws_region_name": "us-east-1", "api_key": "sk-unused",
        "api_base": "http://127.0.0.1:9"}, "model_info": {"disable_background_health_check": True}})
    if background:
        doc["general_settings"] = {"background_health_checks": True, "health_check_interval": 300}
    return doc


def _start(background: bool) -> Iterator[tuple[LocalAWS, ProxyProcess]]:
    roles = [Role(DEPT_A), Role(DEPT_B, external_id=DEPT_B_EXTERNAL_ID), Role(PLATFORM)]
    with LocalAWS(roles=roles) as aws, ProxyProcess(_config(background), aws,
                                                    env={"DEPT_B_EXTERNAL_ID": DEPT_B_EXTERNAL_ID}) as proxy:
        yield aws, proxy


@pytest.fixture(scope="module")
def proxy() -> Iterator[tuple[LocalAWS, ProxyProcess]]:
    yield from _start(background=False)


def health(proxy: ProxyProcess, query: str = "") -> dict[str, Any]:
    request = urllib.request.Request(f"{proxy.base_url}/health{query}",
                                     headers={"Authorization": f"Bearer {proxy.master_key}"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - loopback only
            return dict(json.load(response))
    except urllib.error.HTTPError as exc:  # 1.108.7 answers 503 when every targeted deployment is unhealthy
        if exc.code != 503:
            raise
        body = json.load(exc)
        return dict(body.get("detail", body)) if isinstance(body, dict) else {}


def _by_role(endpoints: list[dict[str, Any]], roles: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Endpoints by role: 1.82.3 lists the deployment's fields, 1.108.7 its ``model_id`` (``roles``: id -> role)."""
    found = {}
    for e in endpoints:
        role = e.get("aws_role_name") or roles.get(str(e.get("model_id") or (e.get("model_info") or {}).get("id")))
        if role:
            found[str(role)] = e
    return found


def _roles(proxy: ProxyProcess) -> dict[str, str]:
    """Deployment id -> role, from the proxy's /model/info."""
    request = urllib.request.Request(f"{proxy.base_url}/model/info",
                                     headers={"Authorization": f"Bearer {proxy.master_key}"})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
        data = json.load(response)["data"]
    return {d["model_info"]["id"]: d["litellm_params"].get("aws_role_name") for d in data
            if d["litellm_params"].get("aws_role_name")}


def _assert_departments_healthy(aws: LocalAWS, proxy: ProxyProcess, result: dict[str, Any]) -> None:
    roles = _roles(proxy)
    assert len(roles) == 4
    healthy = _by_role(result["healthy_endpoints"], roles)
    assert sorted(healthy) == sorted(ACCOUNTS), result
    calls = aws.bedrock_calls()
    assert len(calls) == len(ACCOUNTS)  # one real call per department deployment, each signed by its own account
    assert sorted(c.account for c in calls if c.status == 200) == sorted(ACCOUNTS.values())
    assert {c.role_arn for c in calls} == set(ACCOUNTS)
    unhealthy = _by_role(result["unhealthy_endpoints"], roles)
    assert list(unhealthy) == [BROKEN]
    error = str(unhealthy[BROKEN].get("error"))
    assert BROKEN in error and "AccessDenied" in error, error


@pytest.mark.proxy
def test_no_misleading_startup_warning(proxy: tuple[LocalAWS, ProxyProcess]) -> None:
    _, server = proxy
    assert server.log_path is not None
    log = server.log_path.read_text(encoding="utf-8", errors="replace")  # first test: nothing served yet
    assert "claude-sonnet" in log  # the proxy's startup banner lists the model groups
    assert MISMATCH.format("bedrock-xacct") not in log
    if _compat.warns_on_credential_mismatch():  # 1.108.7; 1.82.3 has no such check
        assert MISMATCH.format("openai") in log  # still fires for a genuinely mis-configured deployment
    ours = [line for line in log.splitlines() if re.search(r"WARNING", line) and "xacct" in line.lower()]
    assert ours == []


@pytest.mark.proxy
def test_health_signs_each_deployment_as_its_department(proxy: tuple[LocalAWS, ProxyProcess]) -> None:
    aws, server = proxy
    aws.reset()
    result = {"healthy_endpoints": health(server, "?model=claude-sonnet")["healthy_endpoints"],
              "unhealthy_endpoints": health(server, "?model=broken")["unhealthy_endpoints"]}
    _assert_departments_healthy(aws, server, result)


@pytest.mark.proxy
def test_a_caller_cannot_pose_as_a_health_check(proxy: tuple[LocalAWS, ProxyProcess]) -> None:
    """A dept-a caller dressed as LiteLLM's health check, naming dept-b's deployment: never signed by dept-b."""
    aws, server = proxy
    aws.reset()
    ids = {role: model_id for model_id, role in _roles(server).items()}
    assert len(ids) == 4
    client = server.openai_client()
    hc = "litellm-internal-health-check"
    disguises: list[dict[str, Any]] = [
        {"model_info": {"id": ids[DEPT_B]}},
        {"metadata": {"tags": [hc], "user_api_key": hc, "model_info": {"id": ids[DEPT_B]}}},
        {"litellm_metadata": {"tags": [hc], "user_api_key": hc}, "proxy_server_request": None},
    ]
    for extra in disguises:
        try:
            client.chat.completions.create(model="claude-sonnet", messages=[{"role": "user", "content": "hi"}],
                                           max_tokens=5, extra_body={"tags": ["dept-a"], **extra})
        except openai.APIStatusError as exc:
            assert exc.status_code in (400, 403), exc
    calls = aws.bedrock_calls()
    assert [c.account for c in calls if c.account != "111111111111"] == []


@pytest.mark.proxy
def test_background_health_checks_sign_as_each_department() -> None:
    for aws, server in _start(background=True):
        deadline = time.monotonic() + 90
        result = health(server)
        while not result.get("healthy_endpoints") and not result.get("unhealthy_endpoints"):
            assert time.monotonic() < deadline, result
            time.sleep(0.5)
            result = health(server)
        _assert_departments_healthy(aws, server, result)
