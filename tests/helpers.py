"""Helpers shared by the check tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
GUARD_SHIM = "from litellm_xacct import guard, handler  # noqa: F401\n"


def armed_example(directory: Path, source: Path = REPO / "example_config.yaml") -> Path:
    """A copy of example_config.yaml with the proxy guard armed (``litellm_settings.callbacks`` and the shim
    importing ``guard``), whether or not the repository's copy arms it yet. Returns the config's path."""
    doc: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    settings = doc.setdefault("litellm_settings", {})
    callbacks = [c for c in settings.get("callbacks") or [] if c != "xacct_handler.guard"]
    settings["callbacks"] = [*callbacks, "xacct_handler.guard"]
    path = directory / "example_config.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    (directory / "xacct_handler.py").write_text(GUARD_SHIM, encoding="utf-8")
    return path
