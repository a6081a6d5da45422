"""``litellm-xacct check`` on who may use each department's account: the caller mode, each department's
``model_info.xacct_callers`` binding, and fallback chains that could move department traffic elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from litellm_xacct._check import render_json, render_text

from .test_check import DEPT_A, TWO_DEPTS, edit, lint, rules

STRICT = "general_settings:\n  xacct_strict_callers: true\n"
NO_BINDING_B = ('    model_info:\n      xacct_callers:\n        teams: ["team-b"]\nlitellm_settings:',
                "litellm_settings:")


def test_clean_config_shows_the_mode_and_each_binding(tmp_path: Path) -> None:
    report = lint(tmp_path, TWO_DEPTS)
    assert rules(report) == []
    text = " ".join(render_text(report).split())
    assert "callers: open (general_settings.xacct_strict_callers is not true)" in text
    assert "callers (model_info.xacct_callers): teams:team-a" in text and "teams:team-b" in text
    strict = lint(tmp_path, TWO_DEPTS + STRICT)
    assert "callers: strict (general_settings.xacct_strict_callers: true)" in " ".join(render_text(strict).split())
    assert '"callers": {' in render_json(strict)


def test_department_without_binding_is_a_warning_in_open_mode(tmp_path: Path) -> None:
    report = lint(tmp_path, edit(*NO_BINDING_B))
    (finding,) = [f for f in report.findings_all() if f.rule == "caller-binding-missing"]
    assert finding.severity == "warning" and "'dept-b'" in finding.message
    assert "any key holder can pick this account" in finding.message and finding.deployments == (1,)
    assert report.exit_code() == 1
    strict = lint(tmp_path, edit(*NO_BINDING_B) + STRICT)
    (note,) = [f for f in strict.findings_all() if f.rule == "caller-binding-missing"]
    assert note.severity == "info" and "no caller can reach it in strict mode" in note.message
    assert strict.exit_code() == 0


@pytest.mark.parametrize(("binding", "field"), [
    ('        team: ["team-b"]', "model_info.xacct_callers.team"),
    ('        teams: "team-b"', "model_info.xacct_callers.teams"),
    ('        tags: ["default"]', "model_info.xacct_callers.tags"),
])
def test_invalid_binding_is_an_error_naming_the_field(tmp_path: Path, binding: str, field: str) -> None:
    report = lint(tmp_path, edit('        teams: ["team-b"]', binding))
    (finding,) = [f for f in report.findings_all() if f.rule == "caller-binding-invalid"]
    assert (finding.severity, finding.field, finding.index) == ("error", field, 1)
    assert "Fix:" in finding.message


def test_binding_on_default_or_to_a_department_tag_is_an_error(tmp_path: Path) -> None:
    on_default = TWO_DEPTS.replace('tags: ["dept-a", "default"]', 'tags: ["default"]')
    assert "caller-binding-no-department" in rules(lint(tmp_path, on_default))
    by_department_tag = edit('        teams: ["team-b"]', '        tags: ["dept-a"]')
    (finding,) = [f for f in lint(tmp_path, by_department_tag).findings_all()
                  if f.rule == "caller-binding-department-tag"]
    assert finding.severity == "error" and "['dept-a']" in finding.message and "['dept-b']" in finding.message


FALLBACK_GROUP = """  - model_name: claude-backup
    litellm_params:
      model: bedrock-xacct/us.anthropic.claude-sonnet-4-6
      aws_region_name: us-east-1
      aws_role_name: ROLE
      tags: ["dept-a"]
    model_info:
      xacct_callers:
        teams: ["team-a"]
litellm_settings:"""


def _with_fallback(role: str, setting: str = "fallbacks") -> str:
    config = TWO_DEPTS.replace("litellm_settings:", FALLBACK_GROUP.replace("ROLE", role), 1)
    return config.replace("  enable_tag_filtering: true",
                          f"  enable_tag_filtering: true\n  {setting}: [{{claude-sonnet: [claude-backup]}}]")


@pytest.mark.parametrize("setting", ["fallbacks", "context_window_fallbacks"])
def test_fallback_that_moves_a_department_to_another_account_is_a_warning(tmp_path: Path, setting: str) -> None:
    other = "arn:aws:iam::444444444444:role/backup"
    report = lint(tmp_path, _with_fallback(other, setting))
    (finding,) = [f for f in report.findings_all() if f.rule == "fallback-crosses-accounts"]
    assert finding.severity == "warning" and "'dept-a'" in finding.message
    assert "['111111111111'] to ['444444444444']" in finding.message
    same = lint(tmp_path, _with_fallback(DEPT_A, setting))
    assert "fallback-crosses-accounts" not in rules(same)
    # dept-b has no deployment in the backup group: its fallen-back requests are refused, noted only
    (note,) = [f for f in same.findings_all() if f.rule == "fallback-drops-department"]
    assert note.severity == "info" and "'dept-b'" in note.message
