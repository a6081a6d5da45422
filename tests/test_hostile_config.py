"""Property: any deployment config yields a valid DeploymentConfig or a ConfigError naming the field.

Inputs start from a valid deployment and overwrite or add arbitrary ``aws_*`` / ``xacct_*`` fields (known
names, typos, odd types, huge and unicode strings, nesting). Never another exception type; never a
secret value (keys, session token, web identity token) in the message.
"""

from __future__ import annotations

import os
import re
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from litellm_xacct import ConfigError, DeploymentConfig
from litellm_xacct._config import AWS_FIELDS, SECRET_FIELDS, XACCT_FIELDS

DEPT_A = "arn:aws:iam::111111111111:role/litellm-bedrock-dept-a"
BASE = {"aws_region_name": "us-east-1", "aws_role_name": DEPT_A}
SECRET_MARK = "S3CRETVALUE"  # every secret this test generates contains it: a leak is easy to spot
TYPOS = ("aws_role_arn", "xacct_duration", "xacct_role_chains", "xacct_", "aws_", "XACCT_DURATION_SECONDS",
         "xacct_session_tag", "aws_sessionname", "xacct_source_identity ", "xacct_policy")

ENV_SET = "XACCT_HOSTILE_SET"
os.environ.setdefault(ENV_SET, "value-from-env")

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1000, max_size=5000),  # huge, any unicode
    st.sampled_from(["", " ", "os.environ/", "os.environ/XACCT_HOSTILE_UNSET", f"os.environ/{ENV_SET}",
                     DEPT_A, "arn:aws:iam::1:role/x", "arn:aws:iam::111111111111:role/" + "r" * 600,
                     "us-east-1", "mars-north-9", "https://sts.us-east-1.amazonaws.com",
                     "http://203.0.113.9", f"https://user:{SECRET_MARK}@sts.amazonaws.com",
                     "https://bedrock-runtime.us-east-1.amazonaws.com/path?q=1", "900", "43201", "-1",
                     '{"Version": "2012-10-17", "Statement": []}', "{not json", "[1, 2]",
                     "arn:aws:iam::aws:policy/ReadOnlyAccess", "/nonexistent/token/file", "\x00\ud7ff\u202e"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4),
    st.lists(st.fixed_dictionaries({"Key": inner, "Value": inner}), max_size=3),
    st.fixed_dictionaries({"role_arn": inner}, optional={"external_id": inner, "session_name": inner}),
), max_leaves=8)
secret_values = st.builds(lambda s: f"{SECRET_MARK}{s}", st.text(max_size=30))
names = st.one_of(st.sampled_from(AWS_FIELDS + XACCT_FIELDS), st.sampled_from(TYPOS),
                  st.builds(lambda p, s: p + s, st.sampled_from(["aws_", "xacct_"]), st.text(max_size=10)))


@st.composite
def deployments(draw: st.DrawFn) -> dict[str, Any]:
    params: dict[str, Any] = dict(BASE) if draw(st.booleans()) else {}
    for name, value in draw(st.dictionaries(names, values, max_size=6)).items():
        params[name] = value
    for name in draw(st.sets(st.sampled_from(sorted(SECRET_FIELDS)), max_size=3)):
        params[name] = draw(st.one_of(secret_values, st.builds(lambda v: [v], secret_values)))
    return params


def _field_known(field: str, params: dict[str, Any]) -> bool:
    """The field is one the input has (``xacct_role_chain[2]`` names an item of one), or one it lacks."""
    item = re.fullmatch(r"(xacct_role_chain)\[\d+\]", field)
    return field in params or (item is not None and item[1] in params) or field in (
        "model", "aws_region_name", "aws_secret_access_key", "aws_access_key_id", "aws_role_name")


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(deployments())
@example({**BASE, "aws_sts_endpoint": f"https://AKIA:{SECRET_MARK}pw@sts.us-east-1.amazonaws.com"})
@example({**BASE, "aws_bedrock_runtime_endpoint": f"https://u:{SECRET_MARK}@bedrock.example.com/x"})
@example({**BASE, "xacct_duration_seconds": float("inf")})
@example({**BASE, "xacct_duration_seconds": float("nan")})
@example({**BASE, "xacct_session_tags": {"k": [1]}})
@example({**BASE, "aws_access_key_id": [f"{SECRET_MARK}x"], "aws_secret_access_key": f"{SECRET_MARK}y"})
def test_any_deployment_config_is_valid_or_a_config_error_naming_the_field(params: dict[str, Any]) -> None:
    try:
        config = DeploymentConfig.from_params(params, deployment="fuzz", model="us.anthropic.claude-sonnet-4-6")
    except ConfigError as exc:
        message = str(exc)
        assert exc.field and _field_known(exc.field, params), (exc.field, sorted(params))
        assert exc.field in message and "Fix:" in message
        assert SECRET_MARK not in message, message
        assert SECRET_MARK not in repr(exc)
        return
    assert config.region, config  # a valid config always knows its region
    assert SECRET_MARK not in repr(config)
    for key in params:
        if key.startswith("xacct_"):
            assert key in XACCT_FIELDS  # an unknown xacct_ field is never accepted silently
