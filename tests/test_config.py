"""Deployment config validation: each bad field gives a message naming deployment, field, value and fix."""

from __future__ import annotations

import pytest

from litellm_xacct import ConfigError, DeploymentConfig

ROLE = "arn:aws:iam::111111111111:role/dept-a"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
BASE = {"aws_region_name": "us-east-1", "aws_role_name": ROLE}


def build(**fields: object) -> DeploymentConfig:
    params = {**BASE, **fields}
    return DeploymentConfig.from_params({k: v for k, v in params.items() if v is not None},
                                        deployment="dept-a", model="us.anthropic.claude-sonnet-4-6")


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"aws_role_name": "dept-a"}, "aws_role_name", "arn:aws:iam::111111111111:role/NAME"),
        ({"aws_role_name": "arn:aws:iam::1111:role/x"}, "aws_role_name", "not an IAM role ARN"),
        ({"aws_session_name": "has space"}, "aws_session_name", "letters, digits"),
        ({"aws_session_name": "x"}, "aws_session_name", "2-64"),
        ({"aws_session_name": "s" * 65}, "aws_session_name", "2-64"),
        ({"aws_external_id": "x"}, "aws_external_id", "2-1224"),
        ({"aws_external_id": "e" * 1225}, "aws_external_id", "2-1224"),
        ({"aws_region_name": None}, "aws_region_name", "is missing"),
        ({"aws_region_name": "US East"}, "aws_region_name", "us-east-1"),
        ({"aws_region_name": "os.environ/XACCT_TEST_UNSET_REGION"}, "aws_region_name",
         "XACCT_TEST_UNSET_REGION"),
        ({"xacct_duration_second": 900}, "xacct_duration_second", "did you mean 'xacct_duration_seconds'"),
        ({"xacct_duration_seconds": 60}, "xacct_duration_seconds", "900-43200"),
        ({"xacct_duration_seconds": "soon"}, "xacct_duration_seconds", "whole number"),
        ({"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE"}, "aws_secret_access_key", "set both keys"),
        ({"aws_sts_endpoint": "http://sts.example.com"}, "aws_sts_endpoint", "use https"),
        ({"aws_bedrock_runtime_endpoint": "ftp://x"}, "aws_bedrock_runtime_endpoint", "http(s) URL"),
        ({"aws_bedrock_runtime_endpoint": "https://h/path?q=1"}, "aws_bedrock_runtime_endpoint", "host[:port]"),
        ({"xacct_role_chain": ["arn:aws:iam::222222222222:role/hop", {"role_arn": ROLE, "bogus": 1}]},
         "xacct_role_chain[1]", "unknown keys"),
        ({"xacct_session_policy": "{not json"}, "xacct_session_policy", "valid JSON"),
        ({"xacct_policy_arns": ["arn:aws:iam::aws:role/x"]}, "xacct_policy_arns", "managed policy ARN"),
        ({"xacct_session_tags": {"team": "a"}, "xacct_transitive_tag_keys": ["cost"]},
         "xacct_transitive_tag_keys", "not session tags"),
        ({"aws_session_tags": {"bad": ["list"]}}, "xacct_session_tags", "not a valid STS session tag"),
        ({"aws_role_name": None, "aws_session_name": "only-session"}, "aws_session_name", "aws_role_name"),
        ({"aws_web_identity_token": "/no/such/token/file"}, "aws_web_identity_token", "does not exist"),
    ],
)
def test_bad_field_is_named_with_its_fix(fields: dict[str, object], field: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        build(**fields)
    err = info.value
    assert err.field == field
    assert err.deployment == "dept-a"
    assert fragment in str(err)
    assert "Fix:" in str(err)


def test_secret_never_in_error_or_repr() -> None:
    with pytest.raises(ConfigError) as info:
        build(aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key=SECRET,
              aws_session_token="tok" * 20, aws_region_name="nowhere")
    assert SECRET not in str(info.value)
    config = build(aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key=SECRET,
                   aws_session_token="TOKENVALUE" * 5)
    for text in (repr(config), str(config), repr(config.source), str(config.audit())):
        assert SECRET not in text and "TOKENVALUE" not in text
    assert config.source.describe() == "static keys AKIA...MPLE"


def test_os_environ_values_are_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPT_A_ROLE", ROLE)
    monkeypatch.setenv("DEPT_A_EXT", "ext-123")
    config = build(aws_role_name="os.environ/DEPT_A_ROLE", aws_external_id="os.environ/DEPT_A_EXT")
    assert config.role is not None
    assert (config.role.role_arn, config.role.external_id) == (ROLE, "ext-123")


def test_no_process_environment_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_ROLE_NAME": ROLE, "AWS_REGION_NAME": "eu-west-1", "AWS_REGION": "eu-west-1",
                        "AWS_SESSION_NAME": "env-session", "AWS_EXTERNAL_ID": "env-ext",
                        "AWS_STS_ENDPOINT": "https://evil.example.com",
                        "AWS_BEDROCK_RUNTIME_ENDPOINT": "https://evil.example.com"}.items():
        monkeypatch.setenv(name, value)
    config = build(aws_role_name="arn:aws:iam::222222222222:role/dept-b")
    assert config.role is not None
    assert config.role.role_arn.endswith("dept-b")
    assert config.role.session_name == "litellm-xacct" and config.role.external_id is None
    assert config.region == "us-east-1"
    assert config.sts_url == "https://sts.us-east-1.amazonaws.com"
    assert config.runtime_url == "https://bedrock-runtime.us-east-1.amazonaws.com"
    with pytest.raises(ConfigError, match="aws_region_name is missing"):
        build(aws_region_name=None)


def test_identity_key_differs_in_every_field() -> None:
    base = build(aws_session_name="s1", aws_external_id="e1")
    variants = [
        build(aws_session_name="s2", aws_external_id="e1"),
        build(aws_session_name="s1", aws_external_id="e2"),
        build(aws_session_name="s1", aws_external_id="e1", aws_role_name=ROLE + "2"),
        build(aws_session_name="s1", aws_external_id="e1", aws_sts_endpoint="https://sts.eu-west-1.amazonaws.com"),
        build(aws_session_name="s1", aws_external_id="e1", aws_profile_name="other"),
        build(aws_session_name="s1", aws_external_id="e1", xacct_duration_seconds=900),
        build(aws_session_name="s1", aws_external_id="e1", xacct_session_tags={"t": "v"}),
    ]
    keys = {base.identity_key, *(v.identity_key for v in variants)}
    assert len(keys) == len(variants) + 1
    assert build(aws_session_name="s1", aws_external_id="e1").identity_key == base.identity_key


@pytest.mark.parametrize(
    ("endpoint", "region"),
    [
        (None, "us-east-1"),
        ("https://sts.eu-west-1.amazonaws.com", "eu-west-1"),
        ("https://vpce-0abc-xyz.sts.ap-southeast-2.vpce.amazonaws.com", "ap-southeast-2"),
        ("https://sts.amazonaws.com", "us-east-1"),
        ("http://127.0.0.1:4566", "us-east-1"),
    ],
)
def test_sts_signing_region_follows_the_endpoint(endpoint: str | None, region: str) -> None:
    assert build(aws_sts_endpoint=endpoint).sts_region == region


def test_role_chain_and_options_parse() -> None:
    config = build(
        xacct_role_chain=["arn:aws:iam::333333333333:role/hop1",
                          {"role_arn": "arn:aws:iam::444444444444:role/hop2", "external_id": "x-2",
                           "session_name": "hop-two"}],
        xacct_session_policy={"Version": "2012-10-17", "Statement": []},
        aws_session_tags=[{"Key": "team", "Value": "a"}], xacct_session_tags={"cost": "42"},
        xacct_transitive_tag_keys=["team"], xacct_policy_arns=["arn:aws:iam::aws:policy/ReadOnlyAccess"],
    )
    assert [h.account for h in config.chain] == ["333333333333", "444444444444", "111111111111"]
    assert config.chain[1].session_name == "hop-two"
    assert config.options.tags == (("cost", "42"), ("team", "a"))
    assert config.options.policy == '{"Statement":[],"Version":"2012-10-17"}'


@pytest.mark.parametrize(("fields", "source", "kind"), [
    ({}, "default-chain", "DefaultChain"),
    ({"aws_profile_name": "dept"}, "profile", "Profile"),
    ({"aws_web_identity_token": "eyJ.token"}, "web-identity", "WebIdentity"),
    ({"aws_profile_name": "dept", "aws_web_identity_token": "eyJ.token"}, "profile", "Profile"),
    ({"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": SECRET, "aws_profile_name": "dept"},
     "static-keys", "StaticKeys"),
])
def test_signer_is_the_providers_precedence(fields: dict[str, object], source: str, kind: str) -> None:
    """`check` and `migrate` read who signs through _config.signer; it agrees with the provider's parse."""
    from litellm_xacct._config import signer

    found = signer({**BASE, **fields})
    assert (found.role, found.source) == (ROLE, source)
    assert type(build(**fields).source).__name__ == kind
