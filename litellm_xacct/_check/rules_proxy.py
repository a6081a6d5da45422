"""``check`` rules about the proxy around the deployments: the ``custom_provider_map`` entry and its handler
file, the proxy guard in ``litellm_settings.callbacks``, and models kept in LiteLLM's database."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._names import PROVIDER
from .findings import PREFIX, Finding
from .rules_base import GUARD, SHIM, Context, _deployment_list, _did_you_mean, _settings, _walk


def provider_map(ctx: Context) -> list[Finding]:
    """``litellm_settings.custom_provider_map`` must map ``bedrock-xacct`` to a loadable handler."""
    if not ctx.of(PROVIDER):
        return []
    doc, config_dir = ctx.doc, ctx.config_dir
    field_name = "litellm_settings.custom_provider_map"
    example = f"[{{provider: {PROVIDER}, custom_handler: {SHIM}}}]"
    entries = _settings(doc, "litellm_settings").get("custom_provider_map")
    if entries is None:
        elsewhere = [p for p, k, _ in _walk(doc) if k == "custom_provider_map"]
        hint = f" (it is under {', '.join(elsewhere)}, where LiteLLM ignores it)" if elsewhere else ""
        return [Finding("provider-not-registered", "error", field_name,
                        f"{field_name} is missing{hint}: LiteLLM does not know provider {PROVIDER} and every "
                        f"request to its deployments fails. Fix: set {field_name}: {example} and put "
                        "xacct_handler.py beside the config.")]
    if not isinstance(entries, list):
        return [Finding("provider-not-registered", "error", field_name,
                        f"{field_name} must be a list. Fix: {field_name}: {example}.")]
    ours = [e for e in entries if isinstance(e, Mapping) and e.get("provider") == PROVIDER]
    if not ours:
        named = [str(e.get("provider")) for e in entries if isinstance(e, Mapping)]
        guess = _did_you_mean(PROVIDER, named)
        hint = f" ({guess!r} is listed: a typo?)" if guess else ""
        return [Finding("provider-not-registered", "error", field_name,
                        f"{field_name} does not map provider {PROVIDER}{hint}, so every request to its "
                        f"deployments fails. Fix: add {{provider: {PROVIDER}, custom_handler: {SHIM}}}.")]
    return [f for entry in ours for f in _check_handler(entry.get("custom_handler"), config_dir)]


def _check_handler(handler: Any, config_dir: Path) -> list[Finding]:
    """Mirror LiteLLM's ``get_instance_fn``: ``<config dir>/<module path>.py``, else (newer releases only)
    a normal import."""
    where = "litellm_settings.custom_provider_map[].custom_handler"
    if not isinstance(handler, str) or "." not in handler:
        return [Finding("handler-not-found", "error", where,
                        f"custom_handler {handler!r} is not `module.attribute`. Fix: custom_handler: {SHIM}.")]
    module = handler.rsplit(".", 1)[0]
    beside = config_dir.joinpath(*module.split(".")).with_suffix(".py")
    if beside.is_file():
        return []
    if not _importable(module):
        return [Finding("handler-not-found", "error", where,
                        f"custom_handler {handler!r}: {beside} does not exist and {module!r} is not importable, "
                        "so the proxy cannot load the provider. Fix: put xacct_handler.py (one line: `from "
                        f"litellm_xacct import guard, handler`) beside the config and use custom_handler: {SHIM}.")]
    return [Finding("handler-not-beside-config", "warning", where,
                    f"custom_handler {handler!r} is importable, but LiteLLM 1.82.3 only loads a handler from a "
                    f"file beside the config ({beside}) and fails to start. Fix: put xacct_handler.py (one line: "
                    f"`from litellm_xacct import guard, handler`) beside the config and use custom_handler: {SHIM}.")]


def _importable(module: str) -> bool:
    """Whether a fresh interpreter (like the proxy: no cwd on sys.path) finds ``module``."""
    probe = ("import importlib.util, os, sys\n"
             "sys.path[:] = [p for p in sys.path if p not in ('', os.getcwd())]\n"
             f"sys.exit(0 if importlib.util.find_spec({module!r}) else 1)\n")
    try:
        result = subprocess.run([sys.executable, "-c", probe], cwd=os.path.abspath(os.sep),
                                capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


_IMPORTS_GUARD = re.compile(r"^\s*from\s+litellm_xacct\s+import\s+[^#\n]*\bguard\b|litellm_xacct\.guard\b", re.M)


def _guard_entry(entry: Any, config_dir: Path) -> bool:
    """Whether a ``litellm_settings.callbacks`` entry is the litellm-xacct proxy guard: ``litellm_xacct.guard``,
    or ``<module>.guard`` where ``<module>.py`` beside the config imports guard from litellm_xacct."""
    if not isinstance(entry, str) or not entry.endswith(".guard"):
        return False
    module = entry.rsplit(".", 1)[0]
    if module == "litellm_xacct":
        return True
    beside = config_dir.joinpath(*module.split(".")).with_suffix(".py")
    try:
        return bool(_IMPORTS_GUARD.search(beside.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError):
        return False


def guard_armed(ctx: Context) -> list[Finding]:
    """``bedrock-xacct`` deployments must be protected by the proxy guard (``litellm_settings.callbacks``),
    which refuses request bodies that switch the provider or supply credentials before routing."""
    xacct = ctx.of(PROVIDER)
    if not xacct:
        return []
    callbacks = _settings(ctx.doc, "litellm_settings").get("callbacks")
    entries = callbacks if isinstance(callbacks, list) else [callbacks] if callbacks else []
    if any(_guard_entry(e, ctx.config_dir) for e in entries):
        return []
    listed = [e for e in entries if isinstance(e, str) and e.endswith(".guard")]
    why = (f" ({', '.join(listed)} is listed, but no file beside the config imports guard from litellm_xacct)"
           if listed else "")
    return [Finding(
        "guard-not-armed", "error", "litellm_settings.callbacks",
        f"the {PREFIX} deployments ({_deployment_list([d.index for d in xacct])}) are not protected by the "
        f"litellm-xacct proxy guard{why}: a request body carrying custom_llm_provider, aws_* keys or a model id "
        "can make LiteLLM bypass the provider and sign with another identity. Fix: make xacct_handler.py beside "
        "the config read `from litellm_xacct import guard, handler  # noqa: F401` and add litellm_settings: "
        f"{{callbacks: [\"{GUARD}\"]}}.", None, None, tuple(d.index for d in xacct))]


def _database_reason(doc: Mapping[str, Any]) -> str | None:
    """Why LiteLLM may load models from its database, or None. It does with store_model_in_db (the setting or
    the STORE_MODEL_IN_DB variable); a database_url alone may mean it, unless store_model_in_db is false."""
    general = _settings(doc, "general_settings")
    env = str(_settings(doc, "environment_variables").get("STORE_MODEL_IN_DB", "")).lower()
    if general.get("store_model_in_db") is True:
        return "general_settings.store_model_in_db is true"
    if env in ("true", "1", "yes"):
        return "environment_variables.STORE_MODEL_IN_DB is set"
    if general.get("database_url") and general.get("store_model_in_db") is not False:
        return ("general_settings.database_url is set (LiteLLM loads models from it when STORE_MODEL_IN_DB is set "
                "in the gateway's environment)")
    return None


def database_models(ctx: Context) -> list[Finding]:
    """Models kept in LiteLLM's database are invisible to a file check: say so."""
    reason = _database_reason(ctx.doc)
    if reason is None:
        return []
    return [Finding(
        "models-in-database", "info", "general_settings.store_model_in_db",
        f"{reason}: models added through the admin UI or /model/new live in LiteLLM's database, and this check "
        "did not see them. Fix: keep Bedrock deployments in the config file, or review the database's models "
        "(the UI's Models page) against these rules.")]
