"""Reading a LiteLLM proxy config the way the proxy does: YAML, then its ``include:`` files (paths relative
to the config; their ``model_list`` entries are appended to the config's, as LiteLLM merges them)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class UnusableConfig(Exception):
    """The config cannot be checked at all (missing, unreadable, not YAML, no model_list, an include that
    does not exist). ``str()`` is a one-line reason."""


@dataclass
class Loaded:
    """The merged config, and for each model_list index the include file it came from (None: the config)."""

    doc: dict[str, Any]
    sources: list[str | None] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)


def _read_yaml(path: Path, shown: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UnusableConfig(f"{shown}: no such file") from None
    except IsADirectoryError:
        raise UnusableConfig(f"{shown}: is a directory, not a config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UnusableConfig(f"{shown}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise UnusableConfig(f"{shown}: invalid YAML{where}: {problem}") from None


def _include_path(entry: str, declared_in: Path, root: Path) -> Path:
    """An include is read next to the config that declares it; newer LiteLLM releases fall back to a file
    next to the root config (older configs were written that way)."""
    declared = (declared_in.parent / entry).resolve()
    beside_root = (root.parent / entry).resolve()
    return beside_root if not declared.exists() and beside_root.exists() else declared


def _entries(doc: dict[str, Any], shown: str) -> list[str]:
    includes = doc.get("include")
    if includes is None:
        return []
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise UnusableConfig(f"{shown}: include must be a list of file paths")
    return list(includes)


def _merge_includes(doc: dict[str, Any], path: Path, shown: str) -> Loaded:
    """LiteLLM's ``include:``: each file is loaded (includes of includes too, each file once) and its keys
    merged into the config: lists (``model_list``) are extended, anything else replaces the value."""
    own = doc.get("model_list")
    sources: list[str | None] = [None] * (len(own) if isinstance(own, list) else 0)
    merged = {k: v for k, v in doc.items() if k != "include"}
    pending = [(entry, path) for entry in _entries(doc, shown)]
    loaded = {path.resolve()}
    seen: list[str] = []
    while pending:
        entry, declared_in = pending.pop(0)
        location = _include_path(entry, declared_in, path)
        if location in loaded:
            continue
        loaded.add(location)
        name = os.path.relpath(location, path.resolve().parent)
        included = _read_yaml(location, f"{shown}: include {name}")
        if included is None:
            continue
        if not isinstance(included, dict):
            raise UnusableConfig(f"{shown}: include {name} must be a YAML mapping, got {type(included).__name__}")
        seen.append(name)
        pending += [(nested, location) for nested in _entries(included, f"{shown}: include {name}")]
        for key, value in included.items():
            if key == "include":
                continue
            if isinstance(value, list) and isinstance(merged.get(key), list):
                merged[key] = [*merged[key], *value]
                if key == "model_list":
                    sources += [name] * len(value)
            else:
                merged[key] = value
                if key == "model_list":
                    sources = [name] * len(value) if isinstance(value, list) else []
    return Loaded(merged, sources, seen)


def load_config(path: str | os.PathLike[str]) -> Loaded:
    """Read a LiteLLM proxy config and its includes. Raises :class:`UnusableConfig` with a one-line reason.

    A config without models is unusable, unless it keeps its models in LiteLLM's database
    (``general_settings.store_model_in_db``), which the check then reports it cannot see."""
    shown = str(path)
    doc = _read_yaml(Path(path), shown)
    if not isinstance(doc, dict):
        raise UnusableConfig(f"{shown}: the config must be a YAML mapping, got {type(doc).__name__}")
    loaded = _merge_includes(doc, Path(path), shown)
    model_list = loaded.doc.get("model_list")
    from .rules_proxy import _database_reason

    if _database_reason(loaded.doc) is not None and model_list in (None, []):
        loaded.doc["model_list"] = []
        return loaded
    if not isinstance(model_list, list) or not model_list:
        what = "is missing" if model_list is None else "is empty" if model_list == [] else "is not a list"
        raise UnusableConfig(f"{shown}: model_list {what}; nothing to check")
    return loaded
