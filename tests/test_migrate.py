"""``litellm-xacct migrate``: the motivating report's native ``bedrock/`` config becomes a bedrock-xacct config
that passes ``check`` and, through a real proxy on the stand-in, sends each department to its own account;
the user's file (comments, order, quoting, ``os.environ/``) is kept; a second run changes nothing; the input
is never overwritten unless asked; a ``default`` deployment is proposed, applied only on request; what cannot
be converted is listed and left as it was."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from litellm_xacct.__main__ import main
from litellm_xacct._check import check
from litellm_xacct._migrate import SHIM_LINE, SHIM_SOURCE, migrate_text, write_shim
from tests.helpers import hide_checkout

DATA = Path(__file__).resolve().parent / "data"
REPO = DATA.parent.parent
NATIVE = DATA / "motivating_config_bedrock.yaml"
GATEWAY = DATA / "migrate_gateway.yaml"


def _migrate(tmp_path: Path, source: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, Path, str]:
    """Copy ``source`` into tmp_path, run the command on the copy; (exit code, output path, stdout)."""
    config = tmp_path / source.name
    config.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    # the output goes beside the input: include: paths are relative to the config's directory
    (tmp_path / "more_models.yaml").write_text((DATA / "more_models.yaml").read_text(encoding="utf-8"),
                                                encoding="utf-8")
    out = tmp_path / "config.out.yaml"
    code = main(["migrate", str(config), "-o", str(out), *args])
    return code, out, capsys.readouterr().out


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _env_refs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.startswith("os.environ/") else []
    if isinstance(value, dict):
        return [r for v in value.values() for r in _env_refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _env_refs(v)]
    return []


# -- the motivating report's config ------------------------------------------------------------------


def test_motivating_config_becomes_a_bedrock_xacct_config_that_passes_check(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _load(NATIVE)
    models = [d["litellm_params"]["model"] for d in before["model_list"]]
    assert models == ["bedrock/us.anthropic.claude-sonnet-4-6"] * 2
    assert before["litellm_settings"] == {"enable_tag_filtering": True}

    code, out, printed = _migrate(tmp_path, NATIVE, capsys=capsys)

    assert code == 0, printed
    after = _load(out)
    deployments = after["model_list"]
    assert [d["litellm_params"]["model"] for d in deployments] == ["bedrock-xacct/us.anthropic.claude-sonnet-4-6"] * 2
    assert [d["litellm_params"]["tags"] for d in deployments] == [["dept-a"], ["dept-b"]]
    assert [d["model_info"] for d in deployments] == [{"base_model": "us.anthropic.claude-sonnet-4-6"}] * 2
    for old, new in zip(before["model_list"], deployments, strict=True):  # the identity fields are untouched
        assert {k: v for k, v in new["litellm_params"].items() if k.startswith("aws_")} == \
            {k: v for k, v in old["litellm_params"].items() if k.startswith("aws_")}
    assert after["router_settings"] == {"enable_tag_filtering": True}
    assert "enable_tag_filtering" not in after["litellm_settings"]
    assert after["litellm_settings"]["custom_provider_map"] == [
        {"provider": "bedrock-xacct", "custom_handler": "xacct_handler.handler"}]
    assert after["litellm_settings"]["callbacks"] == ["xacct_handler.guard"]
    assert (out.parent / "xacct_handler.py").read_text(encoding="utf-8") == SHIM_SOURCE
    # the diff is printed, and the check that ran on the result is the one a user would run
    assert "-      model: bedrock/us.anthropic.claude-sonnet-4-6" in printed
    assert "+      model: bedrock-xacct/us.anthropic.claude-sonnet-4-6" in printed
    assert f"litellm-xacct check {out}" in printed
    report = check(str(out))
    assert report.summary()["errors"] == 0, [str(f) for f in report.findings_all()]
    assert [d.tags for d in report.deployments] == [["dept-a"], ["dept-b"]]
    # the guard wiring is what check asks for: the same output without it is an error
    unguarded = out.with_name("unguarded.yaml")
    unguarded.write_text(out.read_text(encoding="utf-8").replace("  callbacks: [xacct_handler.guard]\n", ""),
                         encoding="utf-8")
    assert "guard-not-armed" in {f.rule for f in check(str(unguarded)).findings_all() if f.severity == "error"}
    # both deployments carry department tags, so there is nobody to propose as default: said, not invented
    assert "'claude-sonnet': no proposal: every deployment of 'claude-sonnet' carries a department tag" in printed
    assert "default" not in str(after["model_list"])


def test_the_input_is_never_overwritten_unless_in_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "gateway.yaml"
    original = NATIVE.read_bytes()
    config.write_bytes(original)

    assert main(["migrate", str(config)]) == 0
    assert config.read_bytes() == original
    default_out = tmp_path / "gateway.xacct.yaml"
    assert "bedrock-xacct/" in default_out.read_text(encoding="utf-8")

    assert main(["migrate", str(config), "-o", str(config)]) == 2
    assert "pass --in-place" in capsys.readouterr().err
    assert config.read_bytes() == original

    assert main(["migrate", str(config), "--in-place"]) == 0
    assert config.read_text(encoding="utf-8") == default_out.read_text(encoding="utf-8")
    assert config.read_bytes() != original


# -- keeping the user's file ---------------------------------------------------------------------


def test_comments_key_order_quoting_and_env_references_are_kept() -> None:
    text = GATEWAY.read_text(encoding="utf-8")
    result = migrate_text(text)
    out = result.text
    assert result.changed

    def comments(s: str) -> list[str]:
        return [m.group(1).strip() for m in re.finditer(r"#(.*)$", s, re.MULTILINE)]

    assert comments(text), "the fixture has comments"
    assert comments(out) == comments(text)
    # blank lines between entries stay where they were (one per entry boundary the user wrote)
    assert out.count("\n\n") == text.count("\n\n") + 1  # + the one before the new router_settings section
    before, after = yaml.safe_load(text), yaml.safe_load(out)
    assert list(after)[:len(before)] == list(before)
    assert list(after) == [*before, "router_settings"]
    for old, new in zip(before["model_list"], after["model_list"], strict=True):
        assert list(new)[:2] == list(old)[:2] == ["model_name", "litellm_params"]
        kept = [k for k in old["litellm_params"] if k in new["litellm_params"]]
        assert [k for k in new["litellm_params"] if k in kept] == kept  # order of the keys that stay
    assert list(after["litellm_settings"]) == ["drop_params", "callbacks", "custom_provider_map"]
    # quoting: the double-quoted model stays double-quoted, the single-quoted ARN single-quoted
    assert 'model: "bedrock-xacct/us.anthropic.claude-sonnet-4-6"' in out
    assert "aws_role_name: 'arn:aws:iam::111111111111:role/litellm-bedrock-dept-a'" in out
    assert "tags: ['dept-a']" in out and 'tags: ["dept-a"]' in out
    assert 'callbacks: ["custom_callbacks.proxy_handler_instance", xacct_handler.guard]' in out
    # os.environ/ references: every one is still there, as a reference, in the same place
    assert _env_refs(after) == _env_refs(before)
    assert after["model_list"][0]["litellm_params"]["aws_region_name"] == "os.environ/AWS_REGION_NAME"
    assert after["model_list"][1]["litellm_params"]["aws_external_id"] == "os.environ/DEPT_B_EXTERNAL_ID"


def test_a_second_run_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the shipped example is already in the migrated form: a fixed point
    example = (REPO / "example_config.yaml").read_text(encoding="utf-8")
    assert migrate_text(example).text == example and not migrate_text(example).changed
    for source in [NATIVE, GATEWAY, DATA / "motivating_config.yaml"]:
        once = migrate_text(source.read_text(encoding="utf-8"))
        assert once.changed, source
        twice = migrate_text(once.text)
        assert twice.text == once.text, source
        assert twice.changes == [], (source, twice.changes)
    applied = migrate_text(GATEWAY.read_text(encoding="utf-8"), default_deployments=[2]).text
    assert migrate_text(applied).text == applied
    # through the command: the second run finds nothing to do and leaves the file byte for byte
    code, out, _ = _migrate(tmp_path, NATIVE, capsys=capsys)
    first = out.read_bytes()
    assert main(["migrate", str(out), "--in-place"]) == code == 0
    assert out.read_bytes() == first
    assert f"no changes: {out} needs nothing migrate does" in capsys.readouterr().out


# -- default deployment --------------------------------------------------------------------------


def test_default_deployment_is_proposed_and_applied_only_when_chosen(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, printed = _migrate(tmp_path, GATEWAY, capsys=capsys)
    assert "'claude-sonnet': proposed model_list[2]: model_list[2] is the only deployment of 'claude-sonnet' " \
           "without a department tag" in printed
    assert "pass --default-deployment 2 to apply it" in printed
    platform = _load(out)["model_list"][2]["litellm_params"]
    assert "tags" not in platform
    # left unapplied, check still sees the platform deployment in the departments' group: an error
    assert code == 1
    spread = [f for f in check(str(out)).findings_all() if f.model_name == "claude-sonnet" and 2 in f.deployments]
    assert spread, "the untagged platform deployment is reported"

    code, out, printed = _migrate(tmp_path, GATEWAY, "--default-deployment", "2", capsys=capsys)
    assert _load(out)["model_list"][2]["litellm_params"]["tags"] == ["default"]
    assert "model_list[2] (claude-sonnet): tagged default (--default-deployment)" in printed
    # routing is fixed; what remains is who may call each department, which migrate cannot know
    left = [f for f in check(str(out)).findings_all() if f.model_name == "claude-sonnet" and f.deployments]
    assert sorted({f.rule for f in left}) == ["caller-binding-missing"], left

    _, out, printed = _migrate(tmp_path, GATEWAY, "--default-deployment", "none", capsys=capsys)
    assert "'claude-sonnet': left without a default (--default-deployment none)" in printed
    assert "tags" not in _load(out)["model_list"][2]["litellm_params"]

    for bad in ("99", "abc", "7"):  # 7: a group with no department tags needs no default
        config = tmp_path / GATEWAY.name
        assert main(["migrate", str(config), "-o", str(tmp_path / "x.yaml"), "--default-deployment", bad]) == 2
        assert "--default-deployment" in capsys.readouterr().err


# -- what migrate does not convert ---------------------------------------------------------------


def test_unconvertible_deployments_are_listed_with_the_reason_and_left_as_they_were() -> None:
    text = GATEWAY.read_text(encoding="utf-8")
    result = migrate_text(text)
    skipped = {n.where: n.text for n in result.skipped}
    expected = {
        "model_list[6] (bedrock/*)": "wildcard deployment lets every caller choose any model id",
        "model_list[7] (static)": "no aws_role_name: it signs with its static access keys",
        "model_list[8] (api-key)": "authenticates with a Bedrock API key",
        "model_list[9] (llama)": "bedrock/llama/ route has no bedrock-xacct counterpart",
        "include: more_models.yaml": "not migrated: migrate rewrites one file",
        "general_settings.store_model_in_db": "live in LiteLLM's database",
        "model_list[5] (nova)": "aws_region_name is missing",
        "model_list[4] (profile)": "model_info.base_model not set",
        "model_list[11] (web-identity)": "aws_external_id with aws_web_identity_token: native bedrock/ dropped",
    }
    for where, reason in expected.items():
        assert reason in skipped.get(where, ""), (where, skipped)
    before, after = yaml.safe_load(text), yaml.safe_load(result.text)
    for index in (6, 7, 8, 9):
        assert after["model_list"][index] == before["model_list"][index]
    assert after["include"] == before["include"]
    # converted ones: the route survives, custom_llm_provider: bedrock is gone
    models = [d["litellm_params"]["model"] for d in after["model_list"][:6]]
    assert models == [
        "bedrock-xacct/us.anthropic.claude-sonnet-4-6", "bedrock-xacct/converse/us.anthropic.claude-sonnet-4-6",
        "bedrock-xacct/us.anthropic.claude-sonnet-4-6", "bedrock-xacct/invoke/anthropic.claude-3-5-haiku-20241022-v1:0",
        "bedrock-xacct/arn:aws:bedrock:us-east-1:111111111111:application-inference-profile/abc123",
        "bedrock-xacct/us.amazon.nova-pro-v1:0"]
    assert not [d for d in after["model_list"][:6] if "custom_llm_provider" in d["litellm_params"]]
    # a web identity source with a role moves too (the web-identity fields are kept as written)
    assert after["model_list"][11]["litellm_params"] == {
        **before["model_list"][11]["litellm_params"], "model": "bedrock-xacct/us.anthropic.claude-sonnet-4-6"}
    # tags move on every provider: routing mistakes break isolation whoever serves
    assert after["model_list"][10]["litellm_params"]["tags"] == ["dept-a"]
    assert "model_info" not in after["model_list"][10]
    assert after["model_list"][1]["litellm_params"]["tags"] == ["dept-b", "finance"]  # merged, no duplicate


def test_bedrock_xacct_deployment_served_natively_is_fixed() -> None:
    text = ("model_list:\n  - model_name: m\n    litellm_params:\n"
            "      model: bedrock-xacct/us.anthropic.claude-sonnet-4-6\n"
            "      custom_llm_provider: bedrock\n      aws_region_name: us-east-1\n"
            "      aws_role_name: arn:aws:iam::111111111111:role/r\n      api_key: os.environ/BEDROCK_KEY\n")
    result = migrate_text(text)
    params = yaml.safe_load(result.text)["model_list"][0]["litellm_params"]
    assert "custom_llm_provider" not in params
    assert params["api_key"] == "os.environ/BEDROCK_KEY"  # the user's field is left; they are told to remove it
    assert any("api_key is ignored by bedrock-xacct" in n.text for n in result.skipped)


def test_nothing_to_do_leaves_the_text_byte_for_byte() -> None:
    text = "model_list:\n- model_name: gpt\n  litellm_params: {model: openai/gpt-4o}   # flow, odd indent\n"
    result = migrate_text(text)
    assert not result.changed and result.text == text and result.shim_module is None


def test_the_shim_is_written_once_and_never_replaces_a_different_file(tmp_path: Path) -> None:
    assert write_shim(tmp_path, "xacct_handler") == f"wrote {tmp_path / 'xacct_handler.py'}"
    assert SHIM_LINE in (tmp_path / "xacct_handler.py").read_text(encoding="utf-8")
    assert "already exports guard and handler" in write_shim(tmp_path, "xacct_handler")

    old = tmp_path / "old_shim.py"
    old.write_text("# Loaded by litellm\nfrom litellm_xacct import handler  # noqa: F401\n", encoding="utf-8")
    assert "updated" in write_shim(tmp_path, "old_shim")
    assert old.read_text(encoding="utf-8") == SHIM_SOURCE

    mine = tmp_path / "mine.py"
    mine.write_text("from my_company.llm import handler\n", encoding="utf-8")
    assert "left" in write_shim(tmp_path, "mine")
    assert mine.read_text(encoding="utf-8") == "from my_company.llm import handler\n"


def test_a_users_own_shim_module_is_kept_and_armed(tmp_path: Path) -> None:
    text = NATIVE.read_text(encoding="utf-8").replace(
        "litellm_settings:\n", "litellm_settings:\n  custom_provider_map:\n    - provider: bedrock-xacct\n"
                               "      custom_handler: my_shim.handler\n")
    after = yaml.safe_load(migrate_text(text).text)
    assert after["litellm_settings"]["custom_provider_map"] == [
        {"provider": "bedrock-xacct", "custom_handler": "my_shim.handler"}]
    assert after["litellm_settings"]["callbacks"] == ["my_shim.guard"]


# -- through a real proxy --------------------------------------------------------------------------


@pytest.mark.proxy
def test_migrated_motivating_config_sends_each_department_to_its_own_account(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from litellm_xacct.testing import LocalAWS, ProxyProcess
    from litellm_xacct.testing.__main__ import roles_from_config

    from .conftest import DEPT_A, DEPT_B

    code, out, printed = _migrate(tmp_path, NATIVE, capsys=capsys)
    assert code == 0, printed
    config = _load(out)
    assert config["litellm_settings"]["callbacks"] == ["xacct_handler.guard"]
    # the proxy loads the shim migrate wrote (handler and guard), not the one ProxyProcess would write
    files = {"xacct_handler.py": (out.parent / "xacct_handler.py").read_text(encoding="utf-8")}
    expected = {"dept-a": ("111111111111", DEPT_A, "gateway-dept-a"),
                "dept-b": ("222222222222", DEPT_B, "gateway-dept-b")}
    # the stand-in trusts exactly the roles the migrated config names (dept-b without an external id, as written)
    with LocalAWS(roles=roles_from_config(str(out))) as local_aws, \
            ProxyProcess(config, local_aws, files=files) as proxy:
        client = proxy.openai_client()
        sent = 0
        for tag in ("dept-a", "dept-b", "dept-a", "dept-b", "dept-a", "dept-b"):
            for stream in (False, True):
                before = len(local_aws.bedrock_calls())
                kwargs: dict[str, Any] = {"model": "claude-sonnet", "extra_body": {"tags": [tag]},
                                          "messages": [{"role": "user", "content": "who signed this?"}]}
                if stream:
                    text = "".join(c.choices[0].delta.content or "" for c in
                                   client.chat.completions.create(stream=True, **kwargs) if c.choices)
                else:
                    text = client.chat.completions.create(**kwargs).choices[0].message.content or ""
                sent += 1
                calls = local_aws.bedrock_calls()[before:]
                assert len(calls) == 1, (tag, stream, calls, proxy.log_tail())
                assert (calls[0].account, calls[0].role_arn, calls[0].session_name) == expected[tag], (tag, stream)
                assert calls[0].status == 200 and text, (tag, stream, text)
        client.close()
        calls = local_aws.bedrock_calls()
        assumed = {c.params.get("RoleArn") for c in local_aws.sts_calls("AssumeRole")}
    assert len(calls) == sent == 12
    assert {c.account for c in calls} == {"111111111111", "222222222222"}
    assert {c.model_id for c in calls} == {"us.anthropic.claude-sonnet-4-6"}
    assert assumed == {DEPT_A, DEPT_B}


def _native_config(mapping: int, dash: int, after_dash: int) -> str:
    """The motivating deployments written with a given mapping indent and sequence dash style."""
    m, item = " " * mapping, " " * dash + "-" + " " * after_dash
    inner = " " * (dash + 1 + after_dash)
    lines = ["model_list:"]
    for role, tag in (("111111111111:role/a", "dept-a"), ("222222222222:role/b", "dept-b")):
        lines += [f"{item}model_name: claude-sonnet", f"{inner}litellm_params:",
                  f"{inner}{m}model: bedrock/us.anthropic.claude-sonnet-4-6  # {tag}",
                  f"{inner}{m}aws_region_name: us-east-1", f"{inner}{m}aws_role_name: arn:aws:iam::{role}",
                  f"{inner}model_info:", f"{inner}{m}id: {tag}-id"]
    lines += ["litellm_settings:", f"{m}drop_params: true", f"{m}enable_tag_filtering: true", ""]
    return "\n".join(lines)


@pytest.mark.parametrize(("mapping", "dash", "after_dash"), [(2, 2, 1), (2, 0, 1), (4, 4, 3), (4, 2, 1)])
def test_the_files_indentation_style_is_kept(mapping: int, dash: int, after_dash: int) -> None:
    text = _native_config(mapping, dash, after_dash)
    out = migrate_text(text).text
    kept = [ln for ln in text.splitlines() if "model: bedrock/" not in ln and "enable_tag_filtering" not in ln]
    lines = iter(out.splitlines())
    missing = [ln for ln in kept if not any(ln == candidate for candidate in lines)]
    assert missing == [], out  # every untouched line is still there, byte for byte, in the same order
    assert out.count("model: bedrock-xacct/us.anthropic.claude-sonnet-4-6") == 2
    assert migrate_text(out).text == out


def test_a_proposed_default_that_assumes_no_role_says_whose_bill_it_is() -> None:
    text = NATIVE.read_text(encoding="utf-8").replace(
        "\nlitellm_settings:", "\n  - model_name: claude-sonnet\n    litellm_params:\n"
                               "      model: bedrock/us.anthropic.claude-sonnet-4-6\n      aws_region_name: us-east-1\n"
                               "\nlitellm_settings:")
    result = migrate_text(text)
    [proposal] = result.defaults
    assert (proposal.candidate, proposal.applied) == (2, False)
    assert "it assumes no role, so untagged requests would be billed to whatever identity it signs with" in \
        proposal.reason
    # the gateway-identity deployment itself stays native, and says why
    assert "no aws_role_name: it signs with the gateway's own AWS identity" in \
        {n.where: n.text for n in result.skipped}["model_list[2] (claude-sonnet)"]


def test_shim_dir_puts_the_shim_where_the_proxy_will_run(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    hide_checkout(monkeypatch)
    elsewhere = tmp_path / "deploy"
    elsewhere.mkdir()
    code, out, printed = _migrate(tmp_path, NATIVE, "--shim-dir", str(elsewhere), capsys=capsys)
    assert (elsewhere / "xacct_handler.py").read_text(encoding="utf-8") == SHIM_SOURCE
    assert not (out.parent / "xacct_handler.py").exists()
    # check looks beside the config, as LiteLLM does, and says the handler is not there
    assert code == 1
    errors = {f.rule for f in check(str(out)).findings_all() if f.severity == "error"}
    assert "handler-not-found" in errors, printed
