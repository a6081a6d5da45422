"""`litellm-xacct check` on every deployment that reaches Bedrock: native bedrock/ routes, the motivating report's
config as written there, all errors of a deployment, the guard / custom_llm_provider / api_key rules, include:
files, models kept in LiteLLM's database, --probe against the stand-in, and a corpus of public configs."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from litellm_xacct.__main__ import main
from litellm_xacct._check import GATEWAY_IDENTITY, Report, check
from litellm_xacct.testing import LocalAWS
from tests.helpers import GUARD_SHIM, armed_example

DATA = Path(__file__).resolve().parent / "data"
PUBLIC = DATA / "public_configs"
DEPT_A = "arn:aws:iam::111111111111:role/litellm-bedrock-dept-a"
DEPT_B = "arn:aws:iam::222222222222:role/litellm-bedrock-dept-b"
MODEL = "us.anthropic.claude-sonnet-4-6"
USE_CASE = ("Model use case details have not been submitted for this account. Fill out the Anthropic use case "
            "details form before using the model.")

ARMED = """
litellm_settings:
  custom_provider_map:
    - provider: bedrock-xacct
      custom_handler: xacct_handler.handler
  callbacks: ["xacct_handler.guard"]
"""


def lint(tmp_path: Path, config: str, *, shim: str | None = GUARD_SHIM, name: str = "config.yaml") -> Report:
    path = tmp_path / name
    path.write_text(textwrap.dedent(config), encoding="utf-8")
    if shim is not None:
        (tmp_path / "xacct_handler.py").write_text(shim, encoding="utf-8")
    return check(str(path))


def rules(report: Report, severity: str | None = None) -> list[str]:
    return sorted(f.rule for f in report.findings_all() if severity in (None, f.severity))


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["check", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def xacct(role: str = DEPT_A, extra: str = "", name: str = "claude") -> str:
    return (f"  - model_name: {name}\n    litellm_params:\n      model: bedrock-xacct/{MODEL}\n"
            f"      aws_region_name: us-east-1\n      aws_role_name: {role}\n{extra}")


# -- the motivating report's config, native bedrock/ as written there ---------------------------------------


def test_motivating_native_config_every_mistake_found(capsys: pytest.CaptureFixture[str]) -> None:
    report = check(str(DATA / "motivating_config_native.yaml"))
    assert [(d.route, d.identity) for d in report.deployments] == [("bedrock", "111111111111"),
                                                                   ("bedrock", "222222222222")]
    assert rules(report, "error") == ["cross-account-spread", "tag-filtering-misplaced", "tags-in-model-info",
                                      "tags-in-model-info"]
    notes = [f for f in report.findings_all() if f.severity == "info"]
    assert [(f.rule, f.index) for f in notes] == [("native-bedrock-identity", 0), ("native-bedrock-identity", 1)]
    assert "Moving it to bedrock-xacct/" in notes[0].message and "model_info.tags" in notes[0].message
    code, out, _ = run_cli(capsys, str(DATA / "motivating_config_native.yaml"))
    assert code == 1 and out.rstrip().endswith("4 error(s), 0 warning(s), 2 note(s)")
    assert "guard-not-armed" not in out  # no bedrock-xacct deployment yet: nothing to guard


# -- which deployments reach Bedrock ---------------------------------------------------------------------


def test_every_bedrock_route_is_checked_and_other_providers_are_not(tmp_path: Path) -> None:
    report = lint(tmp_path, f"""
        model_list:
          - {{model_name: a, litellm_params: {{model: bedrock/{MODEL}}}}}
          - {{model_name: b, litellm_params: {{model: bedrock/converse/{MODEL}}}}}
          - {{model_name: c, litellm_params: {{model: bedrock/invoke/anthropic.claude-3-haiku-20240307-v1:0}}}}
          - {{model_name: d, litellm_params: {{model: "bedrock/*"}}}}
          - {{model_name: e, litellm_params: {{model: {MODEL}, custom_llm_provider: bedrock}}}}
          - {{model_name: f, litellm_params: {{model: openai/gpt-4o}}}}
          - {{model_name: g, litellm_params: {{model: anthropic/claude-sonnet-4-6}}}}
          - {{model_name: h, litellm_params: {{model: amazon.nova-pro-v1:0}}}}
          - {{model_name: i, litellm_params: {{model: gpt-4o-mini}}}}
        """)
    assert [(d.index, d.route, d.model_id) for d in report.deployments] == [
        (0, "bedrock", MODEL), (1, "bedrock", MODEL), (2, "bedrock", "anthropic.claude-3-haiku-20240307-v1:0"),
        (3, "bedrock", "*"), (4, "bedrock", MODEL), (7, "bedrock", "amazon.nova-pro-v1:0")]
    assert report.exit_code() == 0 and rules(report) == []  # native, gateway identity only: nothing wrong


def test_a_config_without_bedrock_is_not_a_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lint(tmp_path, "model_list:\n  - {model_name: gpt, litellm_params: {model: openai/gpt-4o}}\n")
    code, out, _ = run_cli(capsys, str(tmp_path / "config.yaml"))
    assert code == 0, out
    assert "no-bedrock-deployments" in out and out.rstrip().endswith("ok: no problems found, 1 note(s)")


def test_native_role_wildcard_and_invoke_notes(tmp_path: Path) -> None:
    report = lint(tmp_path, f"""
        model_list:
          - model_name: "bedrock/*"
            litellm_params: {{model: "bedrock/*", aws_role_name: "{DEPT_A}"}}
          - model_name: haiku
            litellm_params:
              model: bedrock/invoke/anthropic.claude-3-haiku-20240307-v1:0
              aws_profile_name: dept-b
        """)
    wildcard, invoke = (d.findings for d in report.deployments)
    assert [(f.rule, f.severity) for f in wildcard + invoke] == [("native-bedrock-identity", "info")] * 2
    assert "wildcard" in wildcard[0].message and "signing as 111111111111" in wildcard[0].message
    assert "profile dept-b" in invoke[0].message
    assert report.exit_code() == 0


def test_xacct_fields_on_a_native_deployment(tmp_path: Path) -> None:
    report = lint(tmp_path, f"model_list:\n  - {{model_name: a, litellm_params: {{model: bedrock/{MODEL}, "
                            "xacct_duration_seconds: 900}}\n")
    assert [(f.rule, f.field) for f in report.findings_all()] == [("xacct-field-on-native", "xacct_duration_seconds")]


def test_native_identity_fields_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XACCT_T_ROLE", raising=False)
    monkeypatch.delenv("XACCT_T_REGION", raising=False)
    report = lint(tmp_path, f"""
        model_list:
          - {{model_name: a, litellm_params: {{model: bedrock/{MODEL}, aws_role_name: "role/dept-a",
              aws_region_name: us-east}}}}
          - {{model_name: b, litellm_params: {{model: bedrock/{MODEL}, aws_role_name: os.environ/XACCT_T_ROLE,
              aws_region_name: os.environ/XACCT_T_REGION}}}}
        """)
    bad, unset = (d.findings for d in report.deployments)
    assert [(f.rule, f.field, f.severity) for f in bad if f.severity != "info"] == [
        ("invalid-field", "aws_role_name", "error"), ("invalid-field", "aws_region_name", "error")]
    assert [(f.rule, f.field, f.severity) for f in unset if f.rule == "unset-env-var"] == [
        ("unset-env-var", "aws_role_name", "error"), ("unset-env-var", "aws_region_name", "info")]
    assert "the gateway's own identity signs" in unset[0].message
    monkeypatch.setenv("XACCT_T_ROLE", DEPT_B)
    monkeypatch.setenv("XACCT_T_REGION", "eu-west-1")
    assert [f.rule for f in check(str(tmp_path / "config.yaml")).deployments[1].findings] == [
        "native-bedrock-identity"]


# -- identities under one model_name ---------------------------------------------------------------------


def test_gateway_identity_and_a_role_under_one_model_name(tmp_path: Path) -> None:
    report = lint(tmp_path, f"""
        model_list:
          - {{model_name: claude, litellm_params: {{model: bedrock/{MODEL}, aws_region_name: us-west-2}}}}
          - {{model_name: claude, litellm_params: {{model: bedrock/{MODEL}, aws_role_name: "{DEPT_B}"}}}}
        """)
    (spread,) = [f for f in report.findings if f.rule == "cross-account-spread"]
    assert (spread.severity, spread.deployments) == ("error", (0, 1))
    assert f"{GATEWAY_IDENTITY} (#0)" in spread.message and "222222222222 (#1)" in spread.message


def test_two_roles_without_department_intent_is_a_warning(tmp_path: Path) -> None:
    config = f"""
        model_list:
          - {{model_name: claude, litellm_params: {{model: bedrock/{MODEL}, aws_role_name: "{DEPT_A}"}}}}
          - {{model_name: claude, litellm_params: {{model: bedrock/{MODEL}, aws_role_name: "{DEPT_B}"}}}}
        """
    (spread,) = [f for f in lint(tmp_path, config).findings if f.rule == "cross-account-spread"]
    assert spread.severity == "warning" and "pooling capacity" in spread.message
    tagged = config.replace(f'"{DEPT_B}"}}', f'"{DEPT_B}", tags: [dept-b]}}')
    (spread,) = [f for f in lint(tmp_path, tagged).findings if f.rule == "cross-account-spread"]
    assert spread.severity == "error"


def test_one_identity_in_several_regions_is_no_spread(tmp_path: Path) -> None:
    report = lint(tmp_path, f"""
        model_list:
          - {{model_name: claude, litellm_params: {{model: bedrock/{MODEL}, aws_region_name: us-west-2}}}}
          - {{model_name: claude, litellm_params: {{model: bedrock/{MODEL}, aws_region_name: us-east-1}}}}
        """)
    assert rules(report) == []


def test_tag_regex_is_not_a_department_boundary(tmp_path: Path) -> None:
    report = lint(tmp_path, f"""
        model_list:
          - model_name: claude
            litellm_params: {{model: bedrock/{MODEL}, aws_role_name: "{DEPT_A}", tag_regex: ["^User-Agent: x"]}}
          - model_name: claude
            litellm_params: {{model: bedrock/{MODEL}, aws_role_name: "{DEPT_B}", tags: [default]}}
        router_settings: {{enable_tag_filtering: true}}
        """)
    (finding,) = report.findings
    assert (finding.rule, finding.severity, finding.deployments) == ("tag-regex-not-a-boundary", "warning", (0,))


# -- all errors of a deployment, and the new bedrock-xacct rules -----------------------------------------------


def test_every_error_of_a_deployment_is_reported(tmp_path: Path) -> None:
    report = lint(tmp_path, "model_list:\n" + xacct("not-an-arn", "      aws_session_name: has space\n"
                                                    "      xacct_duration_seconds: 5\n") + ARMED)
    found = [(f.rule, f.field) for f in report.deployments[0].findings]
    assert found == [("invalid-field", "aws_session_name"), ("invalid-field", "aws_role_name"),
                     ("invalid-field", "xacct_duration_seconds")], found
    assert report.deployments[0].config is None


def test_missing_region_and_a_bad_key_pair_are_both_reported(tmp_path: Path) -> None:
    config = "model_list:\n" + xacct(extra="      aws_access_key_id: os.environ/XACCT_T_AKID\n").replace(
        "      aws_region_name: us-east-1\n", "") + ARMED
    report = lint(tmp_path, config)
    assert [(f.rule, f.field) for f in report.findings_all()] == [("unset-env-var", "aws_access_key_id"),
                                                                  ("missing-region", "aws_region_name"),
                                                                  ("invalid-field", "aws_secret_access_key")]


def test_custom_llm_provider_bedrock_on_an_xacct_deployment(tmp_path: Path) -> None:
    report = lint(tmp_path, "model_list:\n" + xacct(extra="      custom_llm_provider: bedrock\n") + ARMED)
    (finding,) = report.findings_all()
    assert (finding.rule, finding.severity, finding.field) == ("served-natively", "error", "custom_llm_provider")
    assert "native Bedrock" in finding.message and "remove custom_llm_provider" in finding.message
    fixed = "model_list:\n" + xacct(extra="      custom_llm_provider: bedrock-xacct\n") + ARMED
    assert rules(lint(tmp_path, fixed)) == []


def test_api_key_on_an_xacct_deployment_is_ignored(tmp_path: Path) -> None:
    report = lint(tmp_path, "model_list:\n" + xacct(extra="      api_key: os.environ/BEDROCK_API_KEY\n") + ARMED)
    (finding,) = report.findings_all()
    assert (finding.rule, finding.severity, finding.field) == ("api-key-ignored", "error", "api_key")
    assert "role" in finding.message and "Fix: remove api_key" in finding.message


@pytest.mark.parametrize(("callbacks", "shim", "armed"), [
    (None, GUARD_SHIM, False),
    ('["xacct_handler.guard"]', "from litellm_xacct import handler  # noqa: F401\n", False),
    ('["xacct_handler.guard"]', GUARD_SHIM, True),
    ('["litellm_xacct.guard"]', "from litellm_xacct import handler  # noqa: F401\n", True),
    ('xacct_handler.guard', GUARD_SHIM, True),
])
def test_guard_must_protect_xacct_deployments(tmp_path: Path, callbacks: str | None, shim: str, armed: bool) -> None:
    settings = ARMED.replace('  callbacks: ["xacct_handler.guard"]\n',
                             f"  callbacks: {callbacks}\n" if callbacks else "")
    report = lint(tmp_path, "model_list:\n" + xacct() + settings, shim=shim)
    guard = [f for f in report.findings if f.rule == "guard-not-armed"]
    assert (guard == []) is armed, guard
    if not armed:
        assert guard[0].severity == "error" and 'callbacks: ["xacct_handler.guard"]' in guard[0].message
        assert "from litellm_xacct import guard, handler" in guard[0].message


# -- include: and the database -----------------------------------------------------------------------------


def test_include_files_are_followed(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "dept.yaml").write_text(
        "include: [more.yaml]\nmodel_list:\n" + xacct(DEPT_B, '      tags: ["dept-b"]\n'), encoding="utf-8")
    (tmp_path / "models" / "more.yaml").write_text(
        f"model_list:\n  - {{model_name: claude, litellm_params: {{model: bedrock/{MODEL}}}}}\n", encoding="utf-8")
    report = lint(tmp_path, "include: [models/dept.yaml]\nmodel_list:\n" + xacct(extra='      tags: ["dept-a"]\n')
                  + ARMED + "router_settings: {enable_tag_filtering: true}\n")
    assert [(d.index, d.source, d.identity) for d in report.deployments] == [
        (0, None, "111111111111"), (1, "models/dept.yaml", "222222222222"),
        (2, "models/more.yaml", GATEWAY_IDENTITY)]
    # the included native deployment is untagged: tag routing does not isolate the group
    (spread,) = [f for f in report.findings if f.rule == "cross-account-spread"]
    assert spread.deployments == (0, 1, 2) and "#2 have no litellm_params.tags" in spread.message


def test_a_missing_include_is_unusable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "config.yaml").write_text("include: [nope.yaml]\nmodel_list:\n" + xacct(), encoding="utf-8")
    code, out, err = run_cli(capsys, str(tmp_path / "config.yaml"))
    assert (code, out) == (2, "") and "include nope.yaml: no such file" in err


def test_models_in_the_database_are_named_as_unseen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "config.yaml").write_text("general_settings:\n  store_model_in_db: true\n", encoding="utf-8")
    code, out, _ = run_cli(capsys, str(tmp_path / "config.yaml"))
    assert code == 0, out
    assert "models-in-database" in out and "this check did not see them" in " ".join(out.split())


@pytest.mark.parametrize(("settings", "noted"), [
    ("general_settings: {database_url: os.environ/DATABASE_URL}", True),
    ("general_settings: {database_url: os.environ/DATABASE_URL, store_model_in_db: false}", False),
    ('environment_variables: {STORE_MODEL_IN_DB: "True"}', True),
    ("general_settings: {master_key: os.environ/LITELLM_MASTER_KEY}", False),
])
def test_which_settings_load_models_from_the_database(tmp_path: Path, settings: str, noted: bool) -> None:
    entry = f"  - {{model_name: a, litellm_params: {{model: bedrock/{MODEL}}}}}\n"
    report = lint(tmp_path, f"model_list:\n{entry}{settings}\n")
    assert [f.rule for f in report.findings] == (["models-in-database"] if noted else [])
    assert report.exit_code() == 0


# -- --probe against the stand-in -----------------------------------------------------------------------------


@pytest.fixture
def probe_env(local_aws: LocalAWS, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[LocalAWS, Path]:
    monkeypatch.setenv("DEPT_B_EXTERNAL_ID", "ext-b-123")
    return local_aws, armed_example(tmp_path)


def test_probe_reports_the_account_without_model_access(probe_env: tuple[LocalAWS, Path],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    aws, example = probe_env
    aws.deny_model("222222222222", MODEL)
    code, out, _ = run_cli(capsys, str(example), "--live", "--probe", "--sts-endpoint", aws.sts_endpoint,
                           "--bedrock-endpoint", aws.bedrock_endpoint, "--json")
    doc = json.loads(out)
    assert code == 1 and doc["probed"] is True
    assert [(d["probe"]["status"], d["probe"]["code"]) for d in doc["deployments"]] == [
        ("ok", None), ("denied", "AccessDeniedException"), ("ok", None)]
    (finding,) = doc["deployments"][1]["findings"]
    assert finding["rule"] == "model-access" and "You don't have access to the model" in finding["message"]
    calls = aws.bedrock_calls()
    assert [(c.account, c.role_arn, c.status) for c in calls] == [
        ("111111111111", DEPT_A, 200), ("222222222222", DEPT_B, 403),
        ("333333333333", "arn:aws:iam::333333333333:role/litellm-bedrock-platform", 200)]
    assert [c.body["inferenceConfig"]["maxTokens"] for c in calls if c.body] == [1, 1, 1]
    assert aws.central.secret_access_key not in out and aws.central.access_key_id not in out


@pytest.mark.parametrize(("code", "message", "hint"), [
    ("AccessDeniedException", USE_CASE, "use-case form has not been submitted"),
    ("ValidationException", None, "not offered in this region"),
    ("ResourceNotFoundException", None, "does not exist in this account and region"),
])
def test_probe_names_bedrocks_own_error(probe_env: tuple[LocalAWS, Path], code: str, message: str | None,
                                        hint: str) -> None:
    aws, example = probe_env
    aws.deny_model("111111111111", MODEL, code, message)
    report = check(str(example), live=True, probe=True, sts_endpoint=aws.sts_endpoint,
                   bedrock_endpoint=aws.bedrock_endpoint)
    denied = report.deployments[0]
    assert denied.probe is not None and (denied.probe.status, denied.probe.code) == ("denied", code)
    (finding,) = denied.findings
    assert finding.rule == "model-access" and hint in finding.message
    assert [d.probe.status for d in report.deployments[1:] if d.probe] == ["ok", "ok"]


def test_probe_signs_native_deployments_through_litellm(local_aws: LocalAWS, tmp_path: Path) -> None:
    lint(tmp_path, f"""
        model_list:
          - {{model_name: a, litellm_params: {{model: bedrock/{MODEL}, aws_region_name: us-east-1,
              aws_role_name: "{DEPT_A}", aws_session_name: native-a}}}}
          - {{model_name: b, litellm_params: {{model: bedrock/converse/{MODEL}, aws_region_name: us-east-1}}}}
          - {{model_name: c, litellm_params: {{model: "bedrock/*"}}}}
          - {{model_name: d, litellm_params: {{model: bedrock/amazon.nova-canvas-v1:0}},
              model_info: {{mode: image_generation}}}}
        """)
    report = check(str(tmp_path / "config.yaml"), live=True, probe=True, sts_endpoint=local_aws.sts_endpoint,
                   bedrock_endpoint=local_aws.bedrock_endpoint)
    probes = [d.probe for d in report.deployments]
    assert [(p.status, p.code) for p in probes if p] == [("ok", None), ("denied", "AccessDeniedException"),
                                                        ("skipped", None), ("skipped", None)]
    assert [f.rule for f in report.deployments[3].findings] == ["probe-skipped"]
    assert "image_generation" in report.deployments[3].findings[0].message
    assert "use case" in probes[1].message if probes[1] else False  # the gateway's own account: the stand-in refuses it
    assert [(c.account, c.session_name) for c in local_aws.bedrock_calls()] == [
        ("111111111111", "native-a"), (local_aws.central.account, None)]
    # --live resolved the native identities through LiteLLM's own credential code
    assert [(d.resolved_account, d.resolved_arn) for d in report.deployments] == [
        ("111111111111", "arn:aws:sts::111111111111:assumed-role/litellm-bedrock-dept-a/native-a"),
        (local_aws.central.account, local_aws.central.arn), (None, None), (local_aws.central.account,
                                                                             local_aws.central.arn)]


def test_live_reports_a_native_role_that_cannot_be_assumed(local_aws: LocalAWS, tmp_path: Path) -> None:
    lint(tmp_path, f"model_list:\n  - {{model_name: a, litellm_params: {{model: bedrock/{MODEL}, "
                   "aws_region_name: us-east-1, aws_role_name: 'arn:aws:iam::999999999999:role/nope'}}\n")
    report = check(str(tmp_path / "config.yaml"), live=True, sts_endpoint=local_aws.sts_endpoint)
    live = [f for f in report.findings_all() if f.rule == "live-credentials"]
    assert [(f.index, f.field) for f in live] == [(0, "aws_role_name")]
    assert "native Bedrock credential path failed" in live[0].message
    assert report.deployments[0].resolved_account is None
    assert [c.params.get("RoleArn") for c in local_aws.sts_calls("AssumeRole")] == [
        "arn:aws:iam::999999999999:role/nope"]


def test_probe_needs_live_and_help_states_the_cost(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, str(DATA / "motivating_config.yaml"), "--probe")
    assert code == 2 and "--probe only applies with --live" in err
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "COSTS MONEY" in help_text and "one output token" in help_text and "billed to the account" in help_text


def test_deny_model_is_cleared_by_reset(local_aws: LocalAWS) -> None:
    local_aws.deny_model("111111111111")
    assert local_aws._bedrock.denials  # noqa: SLF001 - the knob's own state
    local_aws.reset()
    assert local_aws._bedrock.denials == {}  # noqa: SLF001


# -- public configs from other projects --------------------------------------------------------------------

#: file -> (exit status, failing findings as (rule, severity)); every other config must exit 0 with no
#: error or warning. See tests/data/public_configs/*.yaml headers for each source.
EXPECTED = {
    "25-routeiq-universal-surface.yaml": (1, [("cross-account-spread", "error")]),
    "26-litellm-docs-tag-regex.yaml": (1, [("tag-regex-not-a-boundary", "warning")]),
}
PUBLIC_CONFIGS = sorted(p.name for p in PUBLIC.glob("*.yaml"))


def test_the_public_corpus_is_there() -> None:
    assert len(PUBLIC_CONFIGS) >= 25
    assert all(p.read_text(encoding="utf-8").startswith("# Source: github.com/") for p in PUBLIC.glob("*.yaml"))


@pytest.mark.parametrize("name", PUBLIC_CONFIGS)
def test_public_config(name: str) -> None:
    report = check(str(PUBLIC / name))
    failing = sorted({(f.rule, f.severity) for f in report.failing()})
    assert (report.exit_code(), failing) == EXPECTED.get(name, (0, [])), [f.message for f in report.failing()]


def test_public_spread_names_the_gateway_identity_and_the_capacity_account() -> None:
    report = check(str(PUBLIC / "25-routeiq-universal-surface.yaml"))
    (spread,) = [f for f in report.findings if f.rule == "cross-account-spread"]
    assert spread.deployments == (1, 2)
    assert f"{GATEWAY_IDENTITY} (#1), 222222222222 (#2)" in spread.message
    assert "and by other providers: #0, #3" in spread.message


def test_stand_in_command_line_denies_model_access(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m litellm_xacct.testing --deny-model` (the --probe example in docs/check-and-migrate.md)
    refuses that account's calls."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    server = subprocess.Popen([sys.executable, "-m", "litellm_xacct.testing", "--role", DEPT_A, "--role", DEPT_B,
                               "--deny-model", f"222222222222={MODEL}", "--json"],
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert server.stdout is not None
        info = json.loads(server.stdout.readline())
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", info["central"]["aws_access_key_id"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", info["central"]["aws_secret_access_key"])
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        lint(tmp_path, "model_list:\n" + xacct(DEPT_A, '      tags: ["dept-a"]\n')
             + xacct(DEPT_B, '      tags: ["dept-b", "default"]\n') + ARMED
             + "router_settings: {enable_tag_filtering: true}\n")
        report = check(str(tmp_path / "config.yaml"), live=True, probe=True, sts_endpoint=info["sts_endpoint"],
                       bedrock_endpoint=info["bedrock_endpoint"])
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert [(d.probe.status, d.probe.code) for d in report.deployments if d.probe] == [
        ("ok", None), ("denied", "AccessDeniedException")]
