"""Security decisions that need no proxy: department isolation against a real Router's model list, caller
headers and SDK endpoints through ``litellm.completion``, web-identity settings the source can't honour, and
the guard's refused list read from LiteLLM's own param lists."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import litellm
import pytest

import litellm_xacct
from litellm_xacct import BedrockXacct, ConfigError, CredentialEngine, DeploymentConfig
from litellm_xacct._callerfields import ALLOWED, is_refused, refused_fields, refused_names
from litellm_xacct._guard import problems
from litellm_xacct._signing import clean_caller_headers
from litellm_xacct.testing import LocalAWS

from .conftest import DEPT_A, MODEL, deployment

MESSAGES = [{"role": "user", "content": "who signed this request?"}]
HOP = "arn:aws:iam::444444444444:role/web-identity-hop"

@pytest.fixture
def engine(local_aws: LocalAWS) -> Iterator[CredentialEngine]:
    eng = CredentialEngine()
    litellm_xacct.register(BedrockXacct(engine=eng))
    yield eng
    eng.close()


# -- department isolation (the decision table and the index: tests/test_authority_units.py) ---------------


def test_isolation_error_is_a_403_the_router_neither_cools_down_nor_gives_up_on() -> None:
    """403: not a cooldown status on either release, and retried when the group has other deployments."""
    from litellm.router_utils.cooldown_handlers import _is_cooldown_required

    from litellm_xacct._isolation import refuse

    exc = refuse("claude", "the request carries department tag(s) ['dept-a'] but ...")
    assert isinstance(exc, litellm.PermissionDeniedError) and exc.status_code == 403
    assert "Nothing was sent to AWS" in str(exc)
    router = litellm.Router(model_list=[
        {"model_name": "m", "litellm_params": {"model": "openai/x", "api_key": "k"}, "model_info": {"id": i}}
        for i in ("1", "2")])
    assert _is_cooldown_required(router, "1", exc.status_code, str(exc)) is False
    assert _is_cooldown_required(router, "1", 429, "throttled") is True  # the control: 429 does cool down
    deployments = router.model_list
    assert router.should_retry_this_error(exc, healthy_deployments=deployments, all_deployments=deployments)


# -- caller headers and SDK endpoints through litellm.completion --------------------------------------------


@pytest.mark.parametrize("header", ["Host", "authorization", "X-Amz-Security-Token", "x-amz-content-sha256",
                                    "X-Amz-Date", "Content-Type", "content-length", "Content-Encoding",
                                    "Content-MD5", "Transfer-Encoding"])
def test_caller_header_that_changes_the_signature_is_refused(engine: CredentialEngine, local_aws: LocalAWS,
                                                             header: str) -> None:
    with pytest.raises(litellm.BadRequestError) as info:
        litellm.completion(model=f"bedrock-xacct/{MODEL}", messages=MESSAGES,
                           extra_headers={header: "attacker.example"}, **deployment(local_aws))
    assert header in str(info.value)
    assert local_aws.bedrock_calls() == [] and local_aws.sts_calls() == []


def test_other_caller_headers_reach_the_wire_signed(engine: CredentialEngine, local_aws: LocalAWS) -> None:
    litellm.completion(model=f"bedrock-xacct/{MODEL}", messages=MESSAGES,
                       extra_headers={"X-Amzn-Bedrock-Trace": "ENABLED", "x-team": "a"}, **deployment(local_aws))
    calls = local_aws.bedrock_calls()
    assert len(calls) == 1 and calls[0].status == 200 and calls[0].account == "111111111111"
    received = {k.lower(): v for k, v in calls[0].headers.items()}
    assert received["x-amzn-bedrock-trace"] == "ENABLED" and received["x-team"] == "a"
    assert received["content-type"] == "application/json"


def test_clean_caller_headers_keeps_safe_ones_as_strings() -> None:
    assert clean_caller_headers({"x-team": 1, "anthropic-beta": "a,b"}) == {"x-team": "1", "anthropic-beta": "a,b"}
    assert clean_caller_headers({}) == {}
    with pytest.raises(litellm_xacct.CallerFieldError) as info:
        clean_caller_headers({"HOST": "evil"}, "dept-a")
    assert info.value.deployment == "dept-a" and "'HOST'" in str(info.value)


@pytest.mark.parametrize("name", ["api_base", "base_url"])
def test_sdk_api_base_is_refused_with_a_pointer(engine: CredentialEngine, local_aws: LocalAWS,
                                                name: str) -> None:
    with pytest.raises(litellm.InternalServerError) as info:
        litellm.completion(model=f"bedrock-xacct/{MODEL}", messages=MESSAGES,
                           **{name: "https://vpce-1.bedrock-runtime.us-east-1.vpce.amazonaws.com"},
                           **deployment(local_aws))
    assert "aws_bedrock_runtime_endpoint" in str(info.value) and "api_base" in str(info.value)  # base_url is mapped
    assert local_aws.bedrock_calls() == [] and local_aws.sts_calls() == []


# -- settings AssumeRoleWithWebIdentity can't honour -------------------------------------------------------


def _web(**fields: Any) -> DeploymentConfig:
    params = {"aws_region_name": "us-east-1", "aws_web_identity_token": "eyJ.token.sig", **fields}
    return DeploymentConfig.from_params(params, deployment="dept-a", model=MODEL)


@pytest.mark.parametrize(("fields", "field"), [
    ({"aws_role_name": DEPT_A, "aws_external_id": "ext-1"}, "aws_external_id"),
    ({"aws_role_name": DEPT_A, "xacct_source_identity": "alice"}, "xacct_source_identity"),
    ({"aws_role_name": DEPT_A, "xacct_session_tags": {"team": "a"}}, "xacct_session_tags / aws_session_tags"),
    ({"aws_role_name": DEPT_A, "aws_session_tags": [{"Key": "team", "Value": "a"}]},
     "xacct_session_tags / aws_session_tags"),
    ({"aws_role_name": DEPT_A, "xacct_role_chain": [{"role_arn": HOP, "external_id": "ext-1"}]},
     "xacct_role_chain[0].external_id"),
])
def test_web_identity_first_hop_settings_are_config_errors(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        _web(**fields)
    assert info.value.field == field
    assert "AssumeRoleWithWebIdentity" in str(info.value) and "xacct_role_chain" in info.value.fix


def test_web_identity_settings_on_the_second_hop_are_fine() -> None:
    config = _web(aws_role_name=DEPT_A, xacct_role_chain=[HOP], aws_external_id="ext-1",
                  xacct_source_identity="alice", xacct_session_tags={"team": "a"})
    assert [h.role_arn for h in config.chain] == [HOP, DEPT_A]
    assert config.chain[-1].external_id == "ext-1" and config.options.source_identity == "alice"


# -- the guard's list ----------------------------------------------------------------------------------------


def test_refused_list_comes_from_litellms_own_params() -> None:
    from litellm.types.router import GenericLiteLLMParams

    names = refused_names()
    litellm_own = {n.lower() for n in GenericLiteLLMParams.model_fields} - {a.lower() for a in ALLOWED}
    assert litellm_own and litellm_own <= names  # every LiteLLM param not explicitly allowed is refused
    for name in ("custom_llm_provider", "api_base", "api_key", "mock_response", "model_info", "fallbacks",
                 "aws_role_name", "aws_bedrock_runtime_endpoint", "litellm_credential_name"):
        assert is_refused(name) and is_refused(name.upper()), name
    for name in ("tags", "user", "metadata", "top_k", "thinking", "guardrailConfig", "temperature", "tools"):
        assert not is_refused(name), name


def test_refused_fields_are_found_at_every_depth_and_case() -> None:
    body = {"Custom_LLM_Provider": "bedrock", "top_k": 5, "guardrailConfig": {"guardrailIdentifier": "g"},
            "extra_body": {"metadata": {"AWS_ROLE_NAME": None}},
            "litellm_metadata": {"spend_logs_metadata": {"XACCT": {"account": "1"}, "ticket": "t"}},
            "metadata": {"tags": ["dept-a"], "headers": {}, "ticket": "T-1"}}
    assert refused_fields(body) == [("Custom_LLM_Provider", "the request body"),
                                    ("AWS_ROLE_NAME", "extra_body.metadata"),
                                    ("spend_logs_metadata.XACCT", "litellm_metadata")]
    assert refused_fields({"tags": ["a"], "top_k": 1, "thinking": {"type": "enabled"}, "user": "u"}) == []


def test_guard_checks_headers_routed_keys_and_the_spend_header() -> None:
    data = {"model": "m", "proxy_server_request": {"body": {"extra_body": {"extra_headers": {"Host": "x"}}}},
            "num_retries": 1, "Custom_LLM_Provider": "bedrock",
            "metadata": {"spend_logs_metadata": {"xacct": {}}}}
    assert problems(data) == [("Custom_LLM_Provider", "the routed request"),
                              ("header 'Host'", "extra_body.extra_headers"),
                              ("spend_logs_metadata.xacct",
                               "metadata (body or x-litellm-spend-logs-metadata header)")]
    assert problems({"model": "m", "proxy_server_request": {"body": {"tags": ["a"]}}, "metadata": {}}) == []


def test_proxy_process_arms_the_guard_unless_told_not_to() -> None:
    from litellm_xacct.testing._proxy import derive_config

    bare = {"model_list": [], "litellm_settings": {"callbacks": ["audit.log"]}}
    armed = derive_config(bare, "http://127.0.0.1:1", "http://127.0.0.1:2")
    assert armed["litellm_settings"]["callbacks"] == ["xacct_handler.guard", "audit.log"]
    assert bare["litellm_settings"]["callbacks"] == ["audit.log"]  # the caller's mapping is not changed
    mine = {"litellm_settings": {"callbacks": ["my_shim.guard"]}}
    assert derive_config(mine, "a", "b")["litellm_settings"]["callbacks"] == ["my_shim.guard"]
    unarmed = derive_config(bare, "a", "b", arm_guard=False)
    assert unarmed["litellm_settings"]["callbacks"] == ["audit.log"]


def test_forged_audit_scrub_is_one_rule_for_guard_and_provider() -> None:
    """Any key case, metadata and litellm_metadata, routed data and the original body; other entries kept."""
    from litellm_xacct._audit import scrub_forged_audit

    def forged() -> dict[str, Any]:
        return {"metadata": {"spend_logs_metadata": {"XACCT": {"account": "1"}, "team": "a"}},
                "litellm_metadata": {"spend_logs_metadata": {"xacct": {"account": "1"}}}}

    data: dict[str, Any] = {**forged(), "proxy_server_request": {"body": forged()}}
    scrub_forged_audit(data)
    body = data["proxy_server_request"]["body"]
    for holder in (data, body):
        assert holder["metadata"]["spend_logs_metadata"] == {"team": "a"}
        assert holder["litellm_metadata"]["spend_logs_metadata"] == {}
