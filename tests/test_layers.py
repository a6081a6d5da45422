"""The layers: LiteLLM is reached through one door (``litellm_xacct/_compat/``), release numbers are named
only there (or in the user-facing lines listed below), and ``docs/releases.md`` is the door's register."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from litellm_xacct._compat import facts

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "litellm_xacct"
DOOR = PACKAGE / "_compat"
RELEASE = re.compile(r"\b1\.(82|108)\b")

#: Lines outside ``_compat/`` that must name a release: messages and explanations a user reads (check's
#: hints, migrate's notes, the test proxy's docstring). Keyed by the stripped line text only (another change
#: may move a line between files); each entry must match at least one line, so the list cannot rot.
RELEASE_LINES_ALLOWED = frozenset({
    'self.change(where, f"custom_handler {handler} -> {SHIM_MODULE}.handler (LiteLLM 1.82.3 loads "',
    "* writes the one-line shim ``xacct_handler.py`` beside it (LiteLLM 1.82.3 loads custom handlers and",
    '"request body override aws_role_name and endpoints on LiteLLM 1.82.3, keys and region on 1.108.7, and "',
    'hint += " (model_info.enable_tag_filtering works on newer LiteLLM releases only, not 1.82.3)"',
    "# LiteLLM 1.108.7 lets model_info.enable_tag_filtering override the router setting per model_name.",
    'f"custom_handler {handler!r} is importable, but LiteLLM 1.82.3 only loads a handler from a "',
})


def _where(path: Path) -> str:
    return str(path.relative_to(ROOT)) if ROOT in path.parents else str(path)


def outside_door(root: Path = PACKAGE) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if DOOR not in p.parents)


def litellm_imports(paths: list[Path]) -> list[str]:
    """``file:line`` of every ``import litellm...`` / ``from litellm... import`` (any nesting, TYPE_CHECKING
    blocks included) in ``paths``."""
    found = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            if any(n == "litellm" or n.startswith("litellm.") for n in names):
                found.append(f"{_where(path)}:{node.lineno}")
    return found


def litellm_module_names(paths: list[Path]) -> list[str]:
    """``file:line`` of every string constant naming a LiteLLM module (``"litellm.proxy.proxy_server"``): a
    dynamic import or a ``sys.modules`` lookup is an import too."""
    module = re.compile(r"^litellm(\.[A-Za-z_]\w*)+$")
    return [f"{_where(path)}:{node.lineno}"
            for path in paths for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path)))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and module.match(node.value)]


def release_mentions(paths: list[Path]) -> list[tuple[str, str]]:
    """``(file:line, stripped text)`` of every line naming a tested release in ``paths``."""
    return [(f"{_where(path)}:{n}", line.strip())
            for path in paths for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if RELEASE.search(line)]


def test_no_litellm_import_outside_the_door() -> None:
    offenders = litellm_imports(outside_door())
    assert not offenders, f"LiteLLM imported outside litellm_xacct/_compat/ (add a name to _compat): {offenders}"


def test_no_litellm_module_named_outside_the_door() -> None:
    offenders = litellm_module_names(outside_door())
    assert not offenders, f"a LiteLLM module named outside litellm_xacct/_compat/ (use _compat): {offenders}"


def test_the_import_scans_find_every_form(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        "from typing import TYPE_CHECKING\nimport litellm_xacct\nif TYPE_CHECKING:\n    from litellm import X\n"
        "def f():\n    import litellm.utils as u\n    from litellm.types import router\n"
        "    sys.modules.get('litellm.proxy.proxy_server')\n    version('litellm')\n", encoding="utf-8")
    found = [item.rsplit(":", 1)[1] for item in litellm_imports([tmp_path / "m.py"])]
    assert found == ["4", "6", "7"]
    assert [item.rsplit(":", 1)[1] for item in litellm_module_names([tmp_path / "m.py"])] == ["8"]


def test_release_numbers_only_in_the_door_or_allowed_lines() -> None:
    mentions = release_mentions(outside_door())
    offenders = [f"{where}: {text}" for where, text in mentions if text not in RELEASE_LINES_ALLOWED]
    assert not offenders, ("release numbers outside litellm_xacct/_compat/ (point at the _compat function or "
                           f"a _compat.facts key instead, or allow a user-facing line here): {offenders}")
    stale = RELEASE_LINES_ALLOWED - {text for _, text in mentions}
    assert not stale, f"allowed release lines that no longer exist (remove them): {sorted(stale)}"


def test_the_release_scan_finds_mentions(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("x = 1  # LiteLLM 1.82.3\ny = '1.108.7'\nz = 11.82\nw = 1.820\n", encoding="utf-8")
    assert [where.rsplit(":", 1)[1] for where, _ in release_mentions([tmp_path / "m.py"])] == ["1", "2"]


def test_every_public_door_function_is_documented() -> None:
    functions = facts.public_functions()
    assert len(functions) > 30
    missing = [name for name, function in functions if not (inspect.getdoc(function) or "").strip()]
    assert not missing, f"_compat functions without a docstring: {missing}"


def test_every_door_function_says_which_releases_differ() -> None:
    """A function either registers its difference (``@differs``) or says it is the same on every release."""
    quiet = [name for name, function in facts.public_functions()
             if not name.startswith("facts.") and getattr(function, "__xacct_difference__", None) is None
             and not re.search(r"every (tested )?release", " ".join((inspect.getdoc(function) or "").split()))]
    assert not quiet, f"_compat functions that say nothing about releases: {quiet}"


def test_differences_name_only_tested_releases() -> None:
    with pytest.raises(ValueError, match="not among the tested releases"):
        facts.differs("x", on={"9.9.9": "y"}, detected="z")
    for difference in facts.differences():
        assert set(difference.on) <= set(facts.RELEASES), difference
        assert difference.what and difference.detected and difference.on, difference


def test_the_door_imports_no_litellm_until_used() -> None:
    import os
    import subprocess
    import sys

    code = ("import sys, litellm_xacct._compat as c; assert 'litellm' not in sys.modules; "
            "c.CustomLLM; assert 'litellm' in sys.modules; print('ok')")
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_releases_page_is_generated_from_the_door() -> None:
    page = ROOT / "docs" / "releases.md"
    assert page.read_text(encoding="utf-8") == facts.render(), (
        "docs/releases.md differs from litellm_xacct/_compat: run "
        "`python -m litellm_xacct._compat docs/releases.md`")
