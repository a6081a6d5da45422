"""`litellm-xacct check`: every lint rule fails on its mistake and passes on the fix; --live against the
local AWS stand-in; JSON output; exit codes; a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from litellm_xacct.__main__ import SUBCOMMANDS, main
from litellm_xacct._check import Deployment, Report, _compare_identity, check
from litellm_xacct._names import SHIM_SOURCE
from litellm_xacct.testing import LocalAWS
from tests.helpers import armed_example, hide_checkout

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
MOTIVATING = DATA / "motivating_config.yaml"
DEPT_A = "arn:aws:iam::111111111111:role/litellm-bedrock-dept-a"
DEPT_B = "arn:aws:iam::222222222222:role/litellm-bedrock-dept-b"
PLATFORM = "arn:aws:iam::333333333333:role/litellm-bedrock-platform"
UNREGISTERED = "arn:aws:iam::999999999999:role/not-in-the-stand-in"
EXTERNAL_ID = "ext-b-123"
SHIM = SHIM_SOURCE

#: A clean two-department config; tests derive each mistake from it by string replacement.
TWO_DEPTS = f"""
model_list:
  - model_name: claude-sonnet
    litellm_params:
      model: bedrock-xacct/us.anthropic.claude-sonnet-4-6
      aws_region_name: us-east-1
      aws_role_name: {DEPT_A}
      aws_session_name: gateway-dept-a
      tags: ["dept-a", "default"]
    model_info:
      xacct_callers:
        teams: ["team-a"]
  - model_name: claude-sonnet
    litellm_params:
      model: bedrock-xacct/us.anthropic.claude-sonnet-4-6
      aws_region_name: us-east-1
      aws_role_name: {DEPT_B}
      aws_session_name: gateway-dept-b
      tags: ["dept-b"]
    model_info:
      xacct_callers:
        teams: ["team-b"]
litellm_settings:
  custom_provider_map:
    - provider: bedrock-xacct
      custom_handler: xacct_handler.handler
  callbacks: ["xacct_handler.guard"]
router_settings:
  enable_tag_filtering: true
"""


def lint(tmp_path: Path, config: str, *, shim: bool = True) -> Report:
    """Write ``config`` (and the handler shim) to tmp_path and check it statically."""
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(config), encoding="utf-8")
    if shim:
        (tmp_path / "xacct_handler.py").write_text(SHIM, encoding="utf-8")
    return check(str(path))


def rules(report: Report) -> list[str]:
    return sorted(f.rule for f in report.findings_all())


def edit(old: str, new: str, base: str = TWO_DEPTS) -> str:
    assert old in base, old
    return base.replace(old, new, 1)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["check", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """example_config.yaml with the proxy guard armed (see tests/helpers.py)."""
    return armed_example(tmp_path)


# -- the motivating report and the example ---------------------------------------------------------


def test_motivating_config_reports_both_routing_mistakes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, str(MOTIVATING))
    assert code == 1
    report = check(str(MOTIVATING))
    # both routing mistakes, and (since the proxy guard exists) the unarmed guard
    assert rules(report) == ["cross-account-spread", "guard-not-armed", "tag-filtering-misplaced",
                             "tags-in-model-info", "tags-in-model-info"]
    assert {f.field for f in report.findings_all()} >= {"model_info.tags", "litellm_settings.enable_tag_filtering"}
    assert [report.status(d) for d in report.deployments] == ["error", "error"]
    assert "move `tags: [\"dept-a\"]` into litellm_params" in " ".join(out.split())
    assert "router_settings: {enable_tag_filtering: true}" in out
    assert "111111111111 (#0), 222222222222 (#1)" in out


def test_example_config_deployments(example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPT_B_EXTERNAL_ID", EXTERNAL_ID)
    report = check(str(example))
    assert rules(report) == []
    assert [(d.expected_account, d.tags) for d in report.deployments] == [
        ("111111111111", ["dept-a"]), ("222222222222", ["dept-b"]), ("333333333333", ["default"])]


def test_example_config_is_clean(example: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DEPT_B_EXTERNAL_ID", EXTERNAL_ID)
    code, out, _ = run_cli(capsys, str(example))
    assert code == 0, out
    assert "ok: no problems found" in out


def test_example_config_without_its_env_var_names_it(example: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("DEPT_B_EXTERNAL_ID", raising=False)
    code, out, _ = run_cli(capsys, str(example))
    assert code == 1
    report = check(str(example))
    unset = [f for f in report.findings_all() if f.rule == "unset-env-var"]
    assert [(f.index, f.field) for f in unset] == [(1, "aws_external_id")]
    assert "DEPT_B_EXTERNAL_ID" in unset[0].message
    assert "export DEPT_B_EXTERNAL_ID" in " ".join(out.split())


# -- one failing and one passing case per rule -----------------------------------------------------


def test_clean_base_config_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert rules(lint(tmp_path, TWO_DEPTS)) == []
    code, out, _ = run_cli(capsys, str(tmp_path / "config.yaml"))
    assert (code, out.splitlines()[-1]) == (0, "ok: no problems found")


def test_misspelled_aws_field_suggests_the_real_one(tmp_path: Path) -> None:
    report = lint(tmp_path, edit(f"aws_role_name: {DEPT_A}", f"aws_role_arn: {DEPT_A}"))
    found = [f for f in report.findings_all() if f.rule == "unknown-aws-field"]
    assert [(f.field, f.index) for f in found] == [("aws_role_arn", 0)]
    assert "rename it to aws_role_name" in found[0].message
    assert "unknown-aws-field" not in rules(lint(tmp_path, TWO_DEPTS))


def test_misspelled_xacct_field_suggests_the_real_one(tmp_path: Path) -> None:
    report = lint(tmp_path, edit("aws_session_name: gateway-dept-a",
                                 "aws_session_name: gateway-dept-a\n      xacct_duration_second: 900"))
    assert rules(report) == ["unknown-xacct-field"]  # reported once, not again by from_params
    assert "rename it to xacct_duration_seconds" in report.findings_all()[0].message
    ok = edit("aws_session_name: gateway-dept-a", "aws_session_name: gateway-dept-a\n      xacct_duration_seconds: 900")
    assert rules(lint(tmp_path, ok)) == []


def test_unset_environment_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XACCT_CHECK_EXT", raising=False)
    config = edit("aws_session_name: gateway-dept-b",
                  "aws_session_name: gateway-dept-b\n      aws_external_id: os.environ/XACCT_CHECK_EXT")
    report = lint(tmp_path, config)
    assert rules(report) == ["unset-env-var"]
    assert "XACCT_CHECK_EXT" in report.findings_all()[0].message
    monkeypatch.setenv("XACCT_CHECK_EXT", EXTERNAL_ID)
    assert rules(lint(tmp_path, config)) == []


def test_unset_role_variable_is_not_mistaken_for_the_source_identity(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("XACCT_CHECK_ROLE", raising=False)
    lint(tmp_path, edit(f"aws_role_name: {DEPT_B}", "aws_role_name: os.environ/XACCT_CHECK_ROLE"))
    report = check(str(tmp_path / "config.yaml"))
    assert rules(report) == ["unset-env-var"]  # no follow-on error about aws_session_name
    assert report.deployments[1].role_arn == "os.environ/XACCT_CHECK_ROLE"
    code, out, _ = run_cli(capsys, str(tmp_path / "config.yaml"))
    assert "os.environ/XACCT_CHECK_ROLE" in out and "(source identity)" not in out


def test_invalid_field_is_validated_as_at_runtime(tmp_path: Path) -> None:
    report = lint(tmp_path, edit("aws_session_name: gateway-dept-a", "aws_session_name: has space"))
    (finding,) = report.findings_all()
    assert (finding.rule, finding.field, finding.index) == ("invalid-field", "aws_session_name", 0)
    assert "Fix:" in finding.message
    assert report.deployments[0].config is None and report.deployments[1].config is not None


def test_assume_role_parameters_are_validated_offline(tmp_path: Path) -> None:
    # botocore's STS model caps RoleSessionName at 64: from_params then assume_role_kwargs, as a request does
    ok = lint(tmp_path, edit("aws_session_name: gateway-dept-a", "aws_session_name: " + "s" * 64))
    assert rules(ok) == []


def test_missing_region_is_reported_once(tmp_path: Path) -> None:
    report = lint(tmp_path, edit("      aws_region_name: us-east-1\n      aws_role_name: arn:aws:iam::111",
                                 "      aws_role_name: arn:aws:iam::111"))
    assert [(f.rule, f.field, f.index) for f in report.findings_all()] == [("missing-region", "aws_region_name", 0)]
    assert "aws_region_name: <region>" in report.findings_all()[0].message


def test_tags_under_model_info(tmp_path: Path) -> None:
    moved = edit('      tags: ["dept-b"]\n    model_info:\n',
                 '    model_info:\n      tags: ["dept-b"]\n')
    report = lint(tmp_path, moved)
    # the binding left on a deployment that now has no routing tag: refused at request time too
    assert rules(report) == ["caller-binding-no-department", "cross-account-spread", "tags-in-model-info"]
    assert [f.index for f in report.findings_all() if f.rule == "tags-in-model-info"] == [1]
    assert "tags-in-model-info" not in rules(lint(tmp_path, TWO_DEPTS))


def test_tags_must_be_a_list(tmp_path: Path) -> None:
    report = lint(tmp_path, edit('tags: ["dept-b"]', "tags: dept-b"))
    assert rules(report) == ["caller-binding-no-department", "cross-account-spread", "tags-not-a-list"]
    assert "tags: [dept-b]" in next(f.message for f in report.findings_all() if f.rule == "tags-not-a-list")


@pytest.mark.parametrize("section", ["litellm_settings", "general_settings"])
def test_enable_tag_filtering_outside_router_settings(tmp_path: Path, section: str) -> None:
    misplaced = edit("router_settings:\n  enable_tag_filtering: true\n",
                     f"{section}:\n  enable_tag_filtering: true\n")
    if section == "litellm_settings":
        misplaced = edit("litellm_settings:\n", "litellm_settings:\n  enable_tag_filtering: true\n",
                         edit("router_settings:\n  enable_tag_filtering: true\n", "", TWO_DEPTS))
    report = lint(tmp_path, misplaced)
    assert rules(report) == ["cross-account-spread", "tag-filtering-misplaced"]
    misplaced_finding = next(f for f in report.findings if f.rule == "tag-filtering-misplaced")
    assert (misplaced_finding.field, misplaced_finding.severity) == (f"{section}.enable_tag_filtering", "error")


def test_redundant_misplaced_tag_filtering_is_a_warning(tmp_path: Path) -> None:
    report = lint(tmp_path, TWO_DEPTS + "general_settings:\n  enable_tag_filtering: true\n")
    assert [(f.rule, f.severity) for f in report.findings_all()] == [("tag-filtering-misplaced", "warning")]


def test_cross_account_model_name_without_tag_routing(tmp_path: Path) -> None:
    report = lint(tmp_path, edit("router_settings:\n  enable_tag_filtering: true\n", ""))
    (finding,) = report.findings
    assert (finding.rule, finding.severity, finding.deployments) == ("cross-account-spread", "error", (0, 1))
    assert "router_settings.enable_tag_filtering is not true" in finding.message
    assert [report.status(d) for d in report.deployments] == ["error", "error"]


def test_cross_account_model_name_with_an_untagged_deployment(tmp_path: Path) -> None:
    report = lint(tmp_path, edit('      tags: ["dept-b"]\n', ""))
    (finding,) = report.findings
    assert finding.rule == "cross-account-spread"
    assert "#1 have no litellm_params.tags" in finding.message


def test_model_info_can_turn_tag_routing_off_on_newer_litellm(tmp_path: Path) -> None:
    report = lint(tmp_path, edit('    model_info:\n      xacct_callers:\n        teams: ["team-b"]\n',
                                 '    model_info:\n      enable_tag_filtering: false\n      xacct_callers:\n'
                                 '        teams: ["team-b"]\n'))
    assert rules(report) == ["cross-account-spread"]
    assert "model_info.enable_tag_filtering: false on #1" in report.findings[0].message


def test_same_account_model_name_needs_no_tag_routing(tmp_path: Path) -> None:
    one_account = edit(DEPT_B, "arn:aws:iam::111111111111:role/other", edit(
        "router_settings:\n  enable_tag_filtering: true\n", ""))
    assert rules(lint(tmp_path, one_account)) == []


def test_untagged_requests_without_a_default_deployment(tmp_path: Path) -> None:
    report = lint(tmp_path, edit('["dept-a", "default"]', '["dept-a"]'))
    (finding,) = report.findings
    assert (finding.rule, finding.severity) == ("untagged-spread", "warning")
    assert "`default`" in finding.message and "own model_name" in finding.message
    assert "untagged-spread" not in rules(lint(tmp_path, TWO_DEPTS))


def test_tag_shared_across_accounts(tmp_path: Path) -> None:
    report = lint(tmp_path, edit('["dept-b"]', '["dept-b", "dept-a"]'))
    finding, several = report.findings
    assert several.rule == "caller-in-several-departments" and "'team-b'" in several.message
    assert (finding.rule, finding.deployments) == ("shared-tag", (0, 1))
    assert "'dept-a'" in finding.message
    assert "shared-tag" not in rules(lint(tmp_path, TWO_DEPTS))


def test_configurable_clientside_auth_params_on_a_deployment(tmp_path: Path) -> None:
    report = lint(tmp_path, edit('["dept-b"]\n', '["dept-b"]\n      configurable_clientside_auth_params: '
                                                 '["aws_role_name"]\n'))
    assert [(f.rule, f.index, f.severity) for f in report.findings_all()] == [
        ("client-side-credentials", 1, "error")]
    other_provider = TWO_DEPTS.replace("model_list:\n", "model_list:\n  - model_name: gpt\n    litellm_params:\n"
                                       "      model: openai/gpt-4o\n      configurable_clientside_auth_params: "
                                       "[api_base]\n", 1)
    assert [(f.rule, f.index) for f in lint(tmp_path, other_provider).findings] == [("client-side-credentials", 0)]


@pytest.mark.parametrize(("section", "severity"), [("general_settings", "error"), ("litellm_settings", "warning")])
def test_allow_client_side_credentials(tmp_path: Path, section: str, severity: str) -> None:
    config = TWO_DEPTS + f"{section}:\n  allow_client_side_credentials: true\n"
    if section == "litellm_settings":
        config = edit("litellm_settings:\n", "litellm_settings:\n  allow_client_side_credentials: true\n")
    report = lint(tmp_path, config)
    assert [(f.rule, f.field, f.severity) for f in report.findings] == [
        ("client-side-credentials", f"{section}.allow_client_side_credentials", severity)]
    assert rules(lint(tmp_path, TWO_DEPTS + "general_settings:\n  allow_client_side_credentials: false\n")) == []


def test_provider_map_missing(tmp_path: Path) -> None:
    moved = edit("litellm_settings:\n  custom_provider_map:", "general_settings:\n  custom_provider_map:")
    report = lint(tmp_path, moved.replace('  callbacks: ["xacct_handler.guard"]\n', ""))
    (finding, guard) = report.findings
    assert guard.rule == "guard-not-armed"
    assert (finding.rule, finding.field) == ("provider-not-registered", "litellm_settings.custom_provider_map")
    assert "general_settings.custom_provider_map" in finding.message


def test_provider_map_without_bedrock_xacct(tmp_path: Path) -> None:
    report = lint(tmp_path, edit("provider: bedrock-xacct", "provider: bedrock_xacct"))
    (finding,) = report.findings
    assert finding.rule == "provider-not-registered"
    assert "'bedrock_xacct' is listed" in finding.message


def test_handler_from_the_installed_package_fails_on_1_82_3(tmp_path: Path) -> None:
    report = lint(tmp_path, edit("xacct_handler.guard", "litellm_xacct.guard",
                                 edit("xacct_handler.handler", "litellm_xacct.handler")), shim=False)
    (finding,) = report.findings
    assert (finding.rule, finding.severity) == ("handler-not-beside-config", "warning")
    assert "1.82.3" in finding.message and "xacct_handler.handler" in finding.message


def test_handler_module_that_does_not_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hide_checkout(monkeypatch)
    report = lint(tmp_path, TWO_DEPTS, shim=False)
    finding, guard = report.findings
    assert (finding.rule, finding.severity) == ("handler-not-found", "error")
    assert guard.rule == "guard-not-armed" and "no file beside the config imports guard" in guard.message
    assert str(tmp_path / "xacct_handler.py") in finding.message
    assert rules(lint(tmp_path, TWO_DEPTS, shim=True)) == []


def test_handler_in_a_package_directory_beside_the_config(tmp_path: Path) -> None:
    (tmp_path / "handlers").mkdir()
    (tmp_path / "handlers" / "xacct.py").write_text(SHIM, encoding="utf-8")
    config = edit("xacct_handler.guard", "handlers.xacct.guard",
                  edit("xacct_handler.handler", "handlers.xacct.handler"))
    assert rules(lint(tmp_path, config, shim=False)) == []


def test_malformed_deployment_and_no_bedrock_deployments(tmp_path: Path) -> None:
    report = lint(tmp_path, "model_list:\n  - model_name: gpt\n  - model_name: gpt4\n    litellm_params:\n"
                            "      model: openai/gpt-4o\n")
    assert [(f.rule, f.index, f.severity) for f in report.findings] == [("malformed-deployment", 0, "info"),
                                                                         ("no-bedrock-deployments", None, "info")]


def test_secrets_in_the_config_are_never_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret, token = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY", "FwoGZXIvYXdzEXAMPLETOKEN1234567890"
    config = edit("aws_session_name: gateway-dept-a", "aws_session_name: gateway-dept-a\n"
                  f"      aws_secret_access_key: {secret}\n      aws_session_token: {token}")
    lint(tmp_path, config)
    for extra in ([], ["--json"]):
        code, out, err = run_cli(capsys, str(tmp_path / "config.yaml"), *extra)
        assert code == 1
        assert secret not in out + err and token not in out + err
        assert "aws_access_key_id" in out  # the finding names the missing half of the key pair


def test_text_output_fits_160_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    long = edit("model_name: claude-sonnet", "model_name: " + "m" * 70, edit(
        DEPT_A, "arn:aws:iam::111111111111:role/" + "r" * 90))
    lint(tmp_path, long.replace("aws_session_name: gateway-dept-a", "aws_session_name: x"))
    for path in (str(tmp_path / "config.yaml"), str(MOTIVATING)):
        _, out, _ = run_cli(capsys, path)
        assert max(len(line) for line in out.splitlines()) <= 160, out


# -- JSON -----------------------------------------------------------------------------------------


def test_json_is_valid_sorted_and_stable(capsys: pytest.CaptureFixture[str]) -> None:
    first = run_cli(capsys, str(MOTIVATING), "--json")
    second = run_cli(capsys, str(MOTIVATING), "--json")
    assert first == second and first[0] == 1
    doc = json.loads(first[1])
    assert first[1] == json.dumps(doc, indent=2, sort_keys=True) + "\n"
    assert sorted(doc) == ["callers", "config", "deployments", "findings", "live", "probed", "summary"]
    assert doc["live"] is False and doc["summary"] == {"errors": 5, "warnings": 0, "info": 0}
    dep = doc["deployments"][0]
    assert sorted(dep) == ["callers", "expected_account", "findings", "identity", "index", "model", "model_name",
                           "probe", "resolved_account", "resolved_arn", "role_arn", "route", "session_name", "source",
                           "status", "tags"]
    assert (dep["route"], dep["identity"], dep["probe"], dep["source"]) == ("bedrock-xacct", "111111111111", None,
                                                                            None)
    assert (dep["role_arn"], dep["session_name"], dep["expected_account"], dep["resolved_account"]) == (
        DEPT_A, "gateway-dept-a", "111111111111", None)
    assert sorted(dep["findings"][0]) == ["field", "message", "rule", "severity"]
    assert {f["rule"] for f in doc["findings"]} == {"cross-account-spread", "tag-filtering-misplaced",
                                                    "guard-not-armed"}


# -- exit status 2 --------------------------------------------------------------------------------


@pytest.mark.parametrize(("content", "reason"), [
    (None, "no such file"),
    ("model_list: [\n  - {model_name: x", "invalid YAML"),
    ("- model_name: x\n", "must be a YAML mapping, got list"),
    ("litellm_settings: {}\n", "model_list is missing"),
    ("model_list: []\n", "model_list is empty"),
])
def test_unusable_input_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              content: str | None, reason: str) -> None:
    path = tmp_path / "config.yaml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code, out, err = run_cli(capsys, str(path))
    assert (code, out) == (2, "")
    assert len(err.strip().splitlines()) == 1 and reason in err


def test_sts_endpoint_without_live_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, str(MOTIVATING), "--sts-endpoint", "http://127.0.0.1:1")
    assert code == 2 and "--live" in err


def test_subcommands_are_a_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert "check" in SUBCOMMANDS
    assert main([]) == 2
    assert "check" in capsys.readouterr().err


# -- --live against the local stand-in -------------------------------------------------------------


@pytest.fixture
def live_env(local_aws: LocalAWS, monkeypatch: pytest.MonkeyPatch) -> LocalAWS:
    """The stand-in (tests/conftest.py), with the gateway's (central) identity in this process's env."""
    monkeypatch.setenv("DEPT_B_EXTERNAL_ID", EXTERNAL_ID)
    return local_aws


def test_live_reports_the_account_each_deployment_signs_in(example: Path, live_env: LocalAWS,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, str(example), "--live", "--sts-endpoint", live_env.sts_endpoint, "--json")
    doc = json.loads(out)
    assert doc["live"] is True
    assert [(d["expected_account"], d["resolved_account"]) for d in doc["deployments"]] == [
        ("111111111111", "111111111111"), ("222222222222", "222222222222"), ("333333333333", "333333333333")]
    assert doc["deployments"][1]["resolved_arn"] == (
        "arn:aws:sts::222222222222:assumed-role/litellm-bedrock-dept-b/gateway-dept-b")
    assert [f["rule"] for d in doc["deployments"] for f in d["findings"]] == []
    assert code == 0, out
    assert len(live_env.sts_calls("AssumeRole")) == 3
    central = live_env.central
    assert central.secret_access_key not in out + err and central.access_key_id not in out + err


def test_live_reports_a_role_the_gateway_cannot_assume(live_env: LocalAWS, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    lint(tmp_path, edit(DEPT_B, UNREGISTERED))
    code, out, _ = run_cli(capsys, str(tmp_path / "config.yaml"), "--live", "--sts-endpoint", live_env.sts_endpoint)
    assert code == 1
    report = check(str(tmp_path / "config.yaml"), live=True, sts_endpoint=live_env.sts_endpoint)
    ok, refused = report.deployments
    assert (ok.resolved_account, ok.findings) == ("111111111111", [])
    (finding,) = refused.findings
    assert (finding.rule, finding.field, refused.resolved_account) == ("live-credentials", "aws_role_name", None)
    assert "AccessDenied" in finding.message and UNREGISTERED in finding.message
    assert "AccessDenied" in out and "signs as arn:aws:sts::111111111111:assumed-role/" in out


def test_live_skips_deployments_that_fail_static_validation(live_env: LocalAWS, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    lint(tmp_path, edit("aws_session_name: gateway-dept-b", "aws_session_name: x"))
    code, out, _ = run_cli(capsys, str(tmp_path / "config.yaml"), "--live", "--sts-endpoint", live_env.sts_endpoint)
    assert code == 1 and "not resolved live: fix the errors below first" in out
    assert [c.params.get("RoleArn") for c in live_env.sts_calls("AssumeRole")] == [DEPT_A]


def test_live_wrong_external_id_is_refused(example: Path, live_env: LocalAWS, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPT_B_EXTERNAL_ID", "not-the-right-one")
    report = check(str(example), live=True, sts_endpoint=live_env.sts_endpoint)
    assert [f.rule for f in report.deployments[1].findings] == ["live-credentials"]
    assert report.deployments[0].resolved_account == "111111111111"


def test_account_mismatch_is_an_error() -> None:
    dep = Deployment(0, "claude-sonnet", {"aws_role_name": DEPT_A}, {})
    dep.resolved_account = "222222222222"
    dep.resolved_arn = "arn:aws:sts::222222222222:assumed-role/litellm-bedrock-dept-a/s"
    assert [f.rule for f in _compare_identity(dep)] == ["account-mismatch"]
    dep.resolved_account, dep.resolved_arn = "111111111111", "arn:aws:sts::111111111111:assumed-role/other/s"
    assert [f.rule for f in _compare_identity(dep)] == ["account-mismatch"]
    dep.resolved_arn = "arn:aws:sts::111111111111:assumed-role/litellm-bedrock-dept-a/s"
    assert _compare_identity(dep) == []


# -- as a real command ----------------------------------------------------------------------------


def _subprocess_env(**extra: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**env, "LITELLM_LOCAL_MODEL_COST_MAP": "True", **extra}


def test_python_dash_m_check_as_a_subprocess() -> None:
    result = subprocess.run([sys.executable, "-m", "litellm_xacct", "check", str(MOTIVATING)], cwd=REPO,
                            capture_output=True, text=True, timeout=120, env=_subprocess_env(), check=False)
    assert result.returncode == 1, result.stderr
    assert "cross-account-spread" in result.stdout and "tags-in-model-info" in result.stdout
    assert result.stdout.rstrip().endswith("5 error(s), 0 warning(s)")


def test_live_subprocess_against_the_stand_in(example: Path, live_env: LocalAWS) -> None:
    env = _subprocess_env(**live_env.central_env(), DEPT_B_EXTERNAL_ID=EXTERNAL_ID)
    result = subprocess.run([sys.executable, "-m", "litellm_xacct", "check", str(example), "--live",
                             "--sts-endpoint", live_env.sts_endpoint, "--json"],
                            cwd=REPO, capture_output=True, text=True, timeout=120, env=env, check=False)
    doc = json.loads(result.stdout)
    assert [d["resolved_account"] for d in doc["deployments"]] == ["111111111111", "222222222222", "333333333333"]
    assert result.returncode == 0, result.stdout
    assert live_env.central.secret_access_key not in result.stdout + result.stderr
