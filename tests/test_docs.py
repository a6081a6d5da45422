"""The docs against the code: what a page quotes (config fields, check flags and rules, command outputs,
benchmark tables, engine defaults, the supported releases) must match what the package does, and every
relative link must resolve, so the pages cannot drift from the code unnoticed."""

from __future__ import annotations

import argparse
import ast
import importlib.util
import inspect
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import litellm_xacct._check as check_package
from litellm_xacct import ConfigError, CredentialEngine, DeploymentConfig
from litellm_xacct.__main__ import build_parser
from litellm_xacct._check import check
from litellm_xacct._config import AWS_FIELDS, DEFAULT_SESSION_NAME, XACCT_FIELDS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
RESULTS = ROOT / "benchmarks" / "results"
#: Pages other work is writing; the README and other pages link them already. Checked like any page once
#: they exist, and test_pages_written_elsewhere_exist (strict xfail) fails then: drop this set at that point.
FENCE = re.compile(r"^```.*?^```[ \t]*$", re.S | re.M)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def pages() -> list[Path]:
    return [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *sorted(DOCS.glob("*.md"))]


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def prose(text: str) -> str:
    """``text`` without its fenced code blocks (a `#` line there is not a heading, a [x](y) not a link)."""
    return FENCE.sub("", text)


def table_rows(text: str, header: str) -> list[list[str]]:
    """Cells of every row of every table whose header row starts with ``header``."""
    rows, inside = [], False
    for line in prose(text).splitlines():
        if line.startswith(header):
            inside = True
        elif not line.startswith("|"):
            inside = False
        elif inside and not line.startswith("|---"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def code_names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


# -- the config reference ---------------------------------------------------------------------------------

CONFIG_ROWS = table_rows(read(DOCS / "configuration.md"), "| field | required | default | meaning |")


def _documented_fields() -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for cells in CONFIG_ROWS:
        for name in code_names(cells[0]):
            assert name not in fields, f"{name} documented twice"
            fields[name] = cells
    return fields


def test_config_reference_lists_exactly_the_fields_the_package_reads() -> None:
    fields = _documented_fields()
    assert len(CONFIG_ROWS) >= len(AWS_FIELDS) + len(XACCT_FIELDS)
    package = {n for n in fields if n.startswith(("aws_", "xacct_"))}
    assert package == set(AWS_FIELDS) | set(XACCT_FIELDS)
    assert set(fields) - package == {"model"}, "only LiteLLM's own `model` may join the package's fields"


def _minimal(**extra: object) -> dict[str, object]:
    return {"aws_region_name": "us-east-1", **extra}


def test_fields_marked_refused_are_refused_and_required_ones_required() -> None:
    fields = _documented_fields()
    refused = sorted(n for n, cells in fields.items() if cells[1] == "refused")
    assert "aws_bedrock_project_id" in refused
    for name in refused:
        with pytest.raises(ConfigError) as caught:
            DeploymentConfig.from_params(_minimal(**{name: "x"}), deployment="d", model="anthropic.claude-x")
        assert caught.value.field == name
    required = sorted(n for n, cells in fields.items() if cells[1] == "yes" and n != "model")
    assert required == ["aws_region_name"]
    with pytest.raises(ConfigError) as caught:
        DeploymentConfig.from_params({}, deployment="d", model="anthropic.claude-x")
    assert caught.value.field == "aws_region_name"
    DeploymentConfig.from_params(_minimal(), deployment="d", model="anthropic.claude-x")  # and the rest optional


ROLE = "arn:aws:iam::111111111111:role/dept-a"


def _accepted(**fields: object) -> bool:
    try:
        DeploymentConfig.from_params(_minimal(aws_role_name=ROLE, **fields), deployment="d", model="anthropic.claude-x")
    except ConfigError as exc:
        assert exc.field in fields
        return False
    return True


@pytest.mark.parametrize("name", ["aws_session_name", "aws_external_id", "xacct_duration_seconds"])
def test_quoted_bounds_are_the_parsers(name: str) -> None:
    bounds = re.search(r"\b(\d+)-(\d+)\b", _documented_fields()[name][3])
    assert bounds is not None, f"{name}: no range quoted"
    low, high = int(bounds[1]), int(bounds[2])
    value = (lambda n: n) if name == "xacct_duration_seconds" else (lambda n: "a" * n)
    assert [_accepted(**{name: value(n)}) for n in (low - 1, low, high, high + 1)] == [False, True, True, False]


def test_quoted_defaults_are_the_parsers() -> None:
    fields = _documented_fields()
    config = DeploymentConfig.from_params(_minimal(aws_role_name=ROLE), deployment="d", model="anthropic.claude-x")
    assert fields["aws_session_name"][2] == f"`{DEFAULT_SESSION_NAME}`" == f"`{config.chain[-1].session_name}`"
    region = "us-east-1"
    assert fields["aws_bedrock_runtime_endpoint"][2].replace("<region>", region) == f"`{config.runtime_url}`"
    assert fields["aws_sts_endpoint"][2].replace("<region>", region) == f"`{config.sts_url}`"
    assert not _accepted(aws_bedrock_runtime_endpoint="http://bedrock.example.com")  # "https, or http to loopback"
    assert _accepted(aws_bedrock_runtime_endpoint="http://127.0.0.1:9")


def test_caching_page_quotes_the_engine_defaults() -> None:
    text = read(DOCS / "caching.md")
    params = inspect.signature(CredentialEngine).parameters
    assert params["max_entries"].default == 1024 and "1,024 entries" in text
    cold = params["cold_retry"].default
    assert (cold.attempts, cold.base, cold.cap, cold.budget) == (6, 0.25, 4.0, 15.0)
    assert "(0.25 s doubling to 4 s) for at most 6 calls and never past 15 s" in " ".join(text.split())
    assert params["idle_timeout"].default == 3600.0 and "within the last hour" in text


# -- check and migrate --------------------------------------------------------------------------------------

CHECK_DOC = DOCS / "check-and-migrate.md"


def _subcommand_flags(name: str) -> set[str]:
    (subparsers,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return {s for a in subparsers.choices[name]._actions for s in a.option_strings} - {"-h", "--help"}


def test_flag_table_is_the_cli() -> None:
    rows = table_rows(read(CHECK_DOC), "| command | flag |")
    assert len(rows) >= 5
    for command in ("check", "migrate"):
        documented = {f for cells in rows if cells[0] == f"`{command}`" for f in code_names(cells[1])}
        assert documented == _subcommand_flags(command), command


def _rule_names() -> set[str]:
    """Every rule name a finding can carry: the rule argument of each Finding(...) / _finding(dep, ...)."""
    def constants(node: ast.expr) -> Iterator[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value
        elif isinstance(node, ast.IfExp):
            yield from constants(node.body)
            yield from constants(node.orelse)

    names: set[str] = set()
    package = Path(check_package.__file__).parent
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(read(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                at = {"Finding": 0, "_finding": 1}.get(node.func.id)
                if at is not None and len(node.args) > at:
                    names.update(constants(node.args[at]))
    return names


def test_rule_table_is_every_rule_check_reports() -> None:
    rows = table_rows(read(CHECK_DOC), "| rule | when |")
    documented = [code_names(cells[0])[0] for cells in rows]
    assert len(documented) == len(set(documented)) >= 20
    assert set(documented) == _rule_names()


#: (command as quoted, config copied to config.yaml in a scratch directory first, or None: run from the root)
EXAMPLES = [
    ("litellm-xacct check tests/data/motivating_config_native.yaml", None),
    ("litellm-xacct check tests/data/public_configs/25-routeiq-universal-surface.yaml", None),
    ("litellm-xacct migrate config.yaml", "tests/data/motivating_config_bedrock.yaml"),
]


def _quoted_outputs() -> dict[str, str]:
    """command -> the output quoted under ``$ command`` in a fenced block of the page."""
    found = {}
    for block in FENCE.findall(read(CHECK_DOC)):
        lines = block.splitlines()[1:-1]
        if lines and lines[0].startswith("$ litellm-xacct ") and not lines[0].endswith("\\"):
            found[lines[0][2:]] = "\n".join(lines[1:]) + "\n"
    return found


def test_every_offline_example_is_rerun() -> None:
    assert sorted(_quoted_outputs()) == sorted(cmd for cmd, _ in EXAMPLES)


@pytest.mark.parametrize(("command", "config"), EXAMPLES, ids=[c.split()[1] + "-" + c.split()[2] for c, _ in EXAMPLES])
def test_quoted_output_is_what_the_command_prints(command: str, config: str | None, tmp_path: Path) -> None:
    cwd = ROOT
    if config is not None:
        shutil.copy(ROOT / config, tmp_path / "config.yaml")
        cwd = tmp_path
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "litellm_xacct", *command.split()[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode in (0, 1), done.stderr
    assert done.stdout == _quoted_outputs()[command]


def test_public_config_counts() -> None:
    text = " ".join(read(CHECK_DOC).split())
    configs = sorted((ROOT / "tests" / "data" / "public_configs").glob("*.yaml"))
    reports = [check(str(p)) for p in configs]
    with_bedrock = sum(1 for r in reports if r.deployments)
    passing = sum(1 for r in reports if r.exit_code() == 0)
    quoted = (f"Over the {len(configs)} public configs in `tests/data/public_configs/` ({len(configs) - with_bedrock} "
              f"without Bedrock, {with_bedrock} with), `check` exits 0 on {passing} (notes only) and 1 on two")
    assert len(configs) - passing == 2 and quoted in text


# -- benchmark results ----------------------------------------------------------------------------------------


def _render_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render_docs", ROOT / "benchmarks" / "render_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_result_files_name_their_command_date_and_release() -> None:
    files = sorted(RESULTS.glob("*.txt"))
    assert len(files) >= 4
    for path in files:
        first = read(path).splitlines()[0]
        assert re.search(r"\b20\d\d-\d\d-\d\d\b", first) and "LiteLLM" in first, path.name
        assert re.search(r"benchmarks/\w+\.py|make bench", first), path.name


def test_embedded_tables_equal_their_result_files() -> None:
    render = _render_docs()
    files = render.results()
    embedded = [(page, name, body) for page in render.pages() for name, body in render.blocks(read(page))]
    assert len(embedded) >= 4
    for page, name, body in embedded:
        assert name in files, f"{page.name}: results:{name} has no benchmarks/results/{name}.txt"
        assert body == files[name].strip("\n") + "\n", f"{page.name}: results:{name} differs; run render_docs.py"
    for page in render.pages():
        assert render.render(read(page), files) == read(page), page.name


def test_prose_under_a_table_reads_the_run_the_table_shows() -> None:
    """A page's reading of a table quotes its figures: every date in the text after a results block (up to
    the next block or heading) must be in that result file's header, so a new run makes the old reading fail
    here instead of standing beside the new table."""
    render = _render_docs()
    files, checked = render.results(), 0
    for page in render.pages():
        text = read(page)
        for m in render.BLOCK.finditer(text):
            after = re.split(r"<!-- results:|^#", text[m.end():], maxsplit=1, flags=re.M)[0]
            header = files[m["name"]].splitlines()[0]
            for date in re.findall(r"\b20\d\d-\d\d-\d\d\b", after):
                assert date in header, f"{page.name}: the text after results:{m['name']} reads a run of {date}"
                checked += 1
    assert checked >= 4


# -- links, releases, commands ------------------------------------------------------------------------------------


def _slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for line in prose(read(path)).splitlines():
        heading = re.match(r"^#{1,6} (.+)$", line)
        if heading:
            slug = _slug(heading[1])
            anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return anchors


def test_every_relative_link_resolves() -> None:
    checked = 0
    for page in pages():
        for target in LINK.findall(prose(read(page))):
            if re.match(r"^[a-z]+:", target):
                continue
            file_part, _, anchor = target.partition("#")
            path = (page.parent / file_part).resolve() if file_part else page
            assert path.exists(), f"{page.relative_to(ROOT)}: {target} does not exist"
            if anchor and path.suffix == ".md":
                assert anchor in _anchors(path), f"{page.relative_to(ROOT)}: {target}: no such heading"
            checked += 1
    assert checked >= 30



def test_readme_states_the_supported_releases_as_pyproject_does() -> None:
    spec = re.search(r'"litellm(>=[^"]+)"', read(ROOT / "pyproject.toml"))
    assert spec is not None
    assert f"`litellm{spec[1]}`" in read(ROOT / "README.md")


def test_readme_install_table_names_the_user_extras() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    extras = set(tomllib.loads(read(ROOT / "pyproject.toml"))["project"]["optional-dependencies"]) - {"dev"}
    rows = table_rows(read(ROOT / "README.md"), "| Install | For |")
    named = {m for cells in rows for m in re.findall(r"litellm-xacct\[(\w+)\]", cells[0])}
    assert len(rows) == len(extras) + 1 and named == extras


def test_readme_test_command_is_what_ci_runs() -> None:
    assert "make test   #" in read(ROOT / "README.md")
    assert re.search(r"(?m)^make test$", read(ROOT / ".ci" / "run"))


@pytest.mark.proxy
def test_testing_page_example_runs() -> None:
    """The example test users copy from docs/testing.md: a real proxy on example_config.yaml."""
    (code,) = re.findall(r"```python\n(.*?)```", read(DOCS / "testing.md"), re.S)
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]


def test_readme_measured_figures_are_in_their_result_files() -> None:
    """Every figure the README's "Measured" table quotes (each in backticks) stands in the result file its row
    names, so a rerun that changes a figure fails here until the README follows."""
    section = read(ROOT / "README.md").split("## Measured", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and line.rstrip().endswith("` |")]
    assert len(rows) >= 5, section
    for row in rows:
        name = row.rstrip(" |").rsplit("`", 2)[1]
        text = (RESULTS / f"{name}.txt").read_text(encoding="utf-8")
        figures = re.findall(r"`([^`]+)`", row.rsplit("|", 2)[0])
        assert figures, row
        for figure in figures:
            assert figure in text, f"README Measured row {name}: {figure!r} is not in benchmarks/results/{name}.txt"
