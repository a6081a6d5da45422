"""``litellm-xacct check``: find the config mistakes that break department isolation, before going live.

Use::

    report = check("config.yaml")                     # static rules, no AWS calls
    report = check("config.yaml", live=True)          # + resolve each bedrock-xacct identity via STS
    report = check("config.yaml", live=True, probe=True)  # + one 1-token request per deployment
    print(render_text(report))   # or render_json(report)
    exit_code = report.exit_code()   # 1 on any error or warning; info notes never fail

The check covers every deployment that reaches Amazon Bedrock: ``bedrock-xacct/`` and native
``bedrock/`` (``converse/``, ``invoke/``, wildcards, ``custom_llm_provider: bedrock``), following
``include:`` files. Layout: ``load`` (reading and includes) -> ``rules`` (:data:`RULES`, one signature
``rule(ctx) -> list[Finding]``) -> ``live`` / ``probe`` (AWS calls, opt-in) -> ``report`` (text and JSON).
Nothing here prints a secret: renderers pass their output through :meth:`Report.redact`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._config import SECRET_FIELDS
from .callers import caller_mode
from .findings import (
    ENV_REF,
    GATEWAY_IDENTITY,
    PREFIX,
    Deployment,
    Finding,
    Probe,
    Report,
    Severity,
    _mapping,
    _resolve_env,
    bedrock_route,
    role_account,
    routing_tags,
)
from .live import _compare_identity, run_live
from .load import Loaded, UnusableConfig, load_config
from .probe import COST, run_probe
from .report import WIDTH, render_json, render_text
from .rules import RULES
from .rules_base import GUARD, SHIM, SOURCE_IDENTITY, Context, Rule

__all__ = [
    "COST", "ENV_REF", "GATEWAY_IDENTITY", "GUARD", "PREFIX", "RULES", "SHIM", "SOURCE_IDENTITY", "WIDTH",
    "Context", "Deployment", "Finding", "Loaded", "Probe", "Report", "Rule", "Severity", "UnusableConfig",
    "_compare_identity", "check", "check_document", "load_config", "render_json", "render_text",
    "role_account", "routing_tags", "run_live", "run_probe",
]

_ENV_SECRETS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN",
                "AWS_BEARER_TOKEN_BEDROCK")


def bedrock_deployments(doc: Mapping[str, Any], sources: Sequence[str | None] = ()) -> list[Deployment]:
    """Every model_list entry that reaches Bedrock, with the provider that serves it."""
    deployments = []
    for i, entry in enumerate(doc["model_list"]):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("model_name"), str):
            continue
        params = _mapping(entry.get("litellm_params"))
        route = bedrock_route(params)
        if route is not None:
            deployments.append(Deployment(i, entry["model_name"], params, _mapping(entry.get("model_info")), route,
                                          sources[i] if i < len(sources) else None))
    return deployments


def check_document(doc: Mapping[str, Any], *, path: str, config_dir: Path, rules: Sequence[Rule] = RULES,
                   sources: Sequence[str | None] = ()) -> Report:
    """Run the static rules on a loaded config (no AWS calls)."""
    ctx = Context(doc, config_dir, bedrock_deployments(doc, sources))
    by_index = {d.index: d for d in ctx.deployments}
    report = Report(path=path, live=False, deployments=ctx.deployments, findings=[], secrets=_secrets(doc),
                    callers=caller_mode(ctx))
    for rule in rules:
        for finding in rule(ctx):
            owner = by_index.get(finding.index) if finding.index is not None else None
            (owner.findings if owner else report.findings).append(finding)
    return report


def _secrets(doc: Mapping[str, Any]) -> set[str]:
    """Credential values this check could ever print: the config's secret fields and the AWS env vars."""
    values = {os.environ.get(name) for name in _ENV_SECRETS}
    for entry in doc["model_list"]:
        params = _mapping(_mapping(entry).get("litellm_params"))
        values |= {_resolve_env(params.get(name)) for name in (*SECRET_FIELDS, "api_key")}
    return {str(v) for v in values if v and len(str(v)) >= 8 and not str(v).startswith(ENV_REF)}


def check(path: str, *, live: bool = False, sts_endpoint: str | None = None, probe: bool = False,
          bedrock_endpoint: str | None = None) -> Report:
    """Load ``path`` (and its includes) and check it; with ``live``, also resolve every valid bedrock-xacct
    deployment's identity; with ``probe`` (needs ``live``), send each deployment one 1-token request
    (see :data:`COST`). Raises :class:`UnusableConfig`."""
    loaded = load_config(path)
    report = check_document(loaded.doc, path=path, config_dir=Path(path).resolve().parent, sources=loaded.sources)
    if live:
        run_live(report, sts_endpoint=sts_endpoint)
        if probe:
            run_probe(report, sts_endpoint=sts_endpoint, bedrock_endpoint=bedrock_endpoint)
    return report
