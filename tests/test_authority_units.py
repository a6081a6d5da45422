"""Isolation and caller-authority decisions that need no proxy: the decision tables, the gateway-wide index of a
real ``litellm.Router``'s model list (and when it is rebuilt), and the binding's validation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import litellm
import pytest

import litellm_xacct
from litellm_xacct._authority import Caller, Refusal, decide, recheck, record
from litellm_xacct._errors import ConfigError
from litellm_xacct._index import build, for_router, parse_binding
from litellm_xacct._isolation import caller_tags, violation

MODEL = "bedrock-xacct/us.anthropic.claude-sonnet-4-6"
DEPARTMENTS = frozenset({"dept-a", "dept-b"})
A, B, DEFAULT, NONE = frozenset({"dept-a"}), frozenset({"dept-b"}), frozenset({"default"}), frozenset()


@pytest.mark.parametrize(("wanted", "picked", "has_default", "allowed"), [
    ({"dept-a"}, A, True, True),
    ({"dept-a"}, DEFAULT, True, False),  # 1.82.3: dept-a cooling down, the Router falls through to default
    ({"dept-a"}, B, True, False),
    (set(), DEFAULT, True, True),
    (set(), A, True, False),  # default cooling down: untagged traffic must not reach a department
    ({"dept-a", "dept-b"}, A, True, False),  # both departments: no deployment carries both
    (set(), A, False, False),  # no default deployment: untagged never lands in a department
    (set(), NONE, False, True),  # ... but may use an untagged deployment
    ({"dept-a"}, frozenset({"dept-a", "eu"}), True, True),
])
def test_isolation_decisions(wanted: set[str], picked: frozenset[str], has_default: bool, allowed: bool) -> None:
    problem = violation(wanted, picked, DEPARTMENTS, has_default)
    assert (problem is None) == allowed, problem
    if problem:
        assert str(sorted(picked)) in problem


def _entry(group: str, tag: str | None, ident: str, **info: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"model": MODEL, "aws_region_name": "us-east-1"}
    if tag:
        params["tags"] = [tag]
    return {"model_name": group, "litellm_params": params, "model_info": {"id": ident, **info}}


@pytest.fixture(autouse=True)
def registered() -> None:
    """LiteLLM's Router refuses a ``bedrock-xacct/`` model until the provider is registered."""
    litellm_xacct.register()


def _router() -> litellm.Router:
    return litellm.Router(model_list=[
        _entry("claude", "dept-a", "a", xacct_callers={"teams": ["research"]}),
        _entry("claude", "default", "default"),
        _entry("backup", "dept-b", "b"),  # dept-b exists only in another group: still a department
        _entry("gpt", None, "gpt-untagged"),
        {"model_name": "openai", "litellm_params": {"model": "openai/x", "api_key": "k", "tags": ["dept-z"]},
         "model_info": {"id": "oa"}},
    ], enable_tag_filtering=True)


def test_index_is_gateway_wide_and_reads_the_binding() -> None:
    index = for_router(_router())
    assert index.departments == {"dept-a", "dept-b"}  # dept-z is on a non-bedrock-xacct deployment
    assert index.default_groups == {"claude"} and index.groups == {"claude", "backup", "gpt"}
    assert index.bindings["dept-a"][0].teams == {"research"} and index.bindings["dept-b"] == ()
    assert index.tag_filtering is True and index.errors == ()


def test_index_is_rebuilt_only_when_the_model_list_changes() -> None:
    router = _router()
    first = for_router(router)
    assert for_router(router) is first  # same list: the same index object, no rebuild
    router.add_deployment(litellm.types.router.Deployment(**_entry("backup", "dept-c", "c")))
    second = for_router(router)
    assert second is not first and "dept-c" in second.departments and "c" in second.deployments


@pytest.mark.parametrize(("value", "field"), [
    (["research"], "model_info.xacct_callers"),
    ({"team": ["x"]}, "model_info.xacct_callers.team"),
    ({"teams": "research"}, "model_info.xacct_callers.teams"),
    ({"tags": ["default"]}, "model_info.xacct_callers.tags"),
    ({"teams": []}, "model_info.xacct_callers"),
])
def test_binding_errors_name_the_field_and_fix(value: Any, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_binding("claude", value)
    assert info.value.field == field and "Fix:" in str(info.value)


def test_binding_on_a_deployment_without_a_department_fails_closed() -> None:
    index = build([_entry("claude", "default", "d", xacct_callers={"teams": ["t"]})], True)
    assert len(index.errors) == 1 and "without a department tag" in str(index.errors[0])


KEY_A = Caller(key_alias="alice", key_tags=("dept-a",))
TEAM_B = Caller(team_alias="research")  # bound by xacct_callers on dept-b
UNBOUND = Caller(key_alias="nobody")
INDEX = build([_entry("claude", "dept-a", "a"), _entry("claude", "default", "d"),
               _entry("claude", "dept-b", "b", xacct_callers={"teams": ["research"]})], True)


@pytest.mark.parametrize(("caller", "tags", "strict", "wanted"), [
    (KEY_A, [], False, {"dept-a"}),  # a bound caller's untagged request goes to its department
    (KEY_A, ["dept-a", "finance"], False, {"dept-a"}),
    (KEY_A, ["&dept-a"], False, {"dept-a"}),
    (KEY_A, ["dept-b"], False, None),
    (KEY_A, ["&dept-b"], False, None),
    (KEY_A, ["!dept-a"], False, None),
    (KEY_A, ["default"], False, None),
    (KEY_A, ["dept-a", "dept-b"], False, None),
    (TEAM_B, [], True, {"dept-b"}),
    (TEAM_B, ["dept-a"], True, None),
    (UNBOUND, [], False, set()),
    (UNBOUND, ["dept-b"], False, {"dept-b"}),  # open mode: tag routing
    (UNBOUND, ["!dept-b"], False, set()),
    (UNBOUND, ["dept-b"], True, None),  # strict: refused
    (UNBOUND, ["&dept-a"], True, None),
    (UNBOUND, ["default", "finance"], True, set()),
    (Caller(key_tags=("!dept-a",)), ["dept-a"], True, None),  # "!dept-a" on a key binds nothing
])
def test_authority_decisions(caller: Caller, tags: list[str], strict: bool, wanted: set[str] | None) -> None:
    if wanted is None:
        with pytest.raises(Refusal) as info:
            decide(caller, tags, INDEX, strict)
        assert "department" in str(info.value)
        return
    assert decide(caller, tags, INDEX, strict)[1] == wanted


def test_provider_recheck_refuses_what_the_record_does_not_allow() -> None:
    """The provider recomputes the binding from the guard's record: a bound caller's request on another
    department's deployment is refused even if the record's ``wanted`` were wrong."""
    forged = record(KEY_A, {}, {"dept-b"}, False, [])
    assert recheck(forged, INDEX.deployments["b"], INDEX, [])[0] == "other-department"  # type: ignore[index]
    honest = record(KEY_A, {"dept-a": "key tag"}, {"dept-a"}, False, [])
    assert recheck(honest, INDEX.deployments["a"], INDEX, []) is None
    assert recheck(None, INDEX.deployments["a"], INDEX, [])[0] == "no-record"  # type: ignore[index]


def test_model_info_tags_without_routing_tags_fail_closed() -> None:
    index = build([{"model_name": "claude", "litellm_params": {"model": MODEL},
                    "model_info": {"id": "m", "tags": ["dept-a"]}}], False)
    code, problem = recheck(record(UNBOUND, {}, set(), False, []), index.deployments["m"], index, [])  # type: ignore[misc]
    assert code == "model-info-tags" and "move tags from model_info into litellm_params" in problem


def test_caller_tags_come_from_the_caller_not_the_deployment() -> None:
    proxy_request = {"body": {"tags": ["dept-a"], "metadata": {"tags": "x"}, "litellm_metadata": {"tags": ["y"]}},
                     "headers": {"X-LiteLLM-Tags": "dept-b, z"}}
    assert caller_tags(proxy_request, [{"tags": ["k"], "inherited_tags": ["forged"]}]) == [
        "dept-a", "x", "y", "dept-b", "z", "k"]


def test_benchmark_cost_does_not_grow_with_deployments() -> None:
    """benchmarks/isolation_index.py with its real Router: per-request guard + provider cost at 2,000
    deployments stays within a loose factor of the cost at 10 (a scan of the model list would be ~100x)."""
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "isolation_index.py"
    result = subprocess.run([sys.executable, str(script), "--sizes", "10", "2000", "--requests", "300"],
                            capture_output=True, text=True, timeout=300, check=True)
    rows = [line.split("|") for line in result.stdout.splitlines()
            if line.startswith("| ") and "deployments" not in line]
    assert len(rows) == 2, result.stdout
    small, big = (float(r[4]) for r in rows)
    assert big < 10 * small, result.stdout
