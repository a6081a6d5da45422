"""What every ``check`` rule shares: the :class:`Context` a rule sees, the :data:`Rule` signature, :func:`each`
(lift a per-deployment check to a rule), the handler/guard names, and the small helpers the rules use."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .findings import GATEWAY_IDENTITY, Deployment, Finding, Route, Severity, _mapping

SHIM = "xacct_handler.handler"  # the one-line file beside the config that every LiteLLM release can load
GUARD = "xacct_handler.guard"  # the proxy guard, loaded from the same file
SOURCE_IDENTITY = GATEWAY_IDENTITY  # kept for callers of the old name


@dataclass
class Context:
    """What every rule sees: the merged config, where it lives, and the deployments that reach Bedrock."""

    doc: Mapping[str, Any]
    config_dir: Path
    deployments: list[Deployment]

    def of(self, route: Route) -> list[Deployment]:
        return [d for d in self.deployments if d.route == route]


Rule = Callable[[Context], list[Finding]]


def each(check: Callable[[Deployment], list[Finding]], route: Route | None = None) -> Rule:
    """Lift a per-deployment check to a rule (optionally for one route only)."""
    def rule(ctx: Context) -> list[Finding]:
        return [f for d in ctx.deployments if route is None or d.route == route for f in check(d)]
    rule.__name__ = check.__name__
    rule.__doc__ = check.__doc__
    return rule


# -- small helpers ---------------------------------------------------------------------------------


def _did_you_mean(name: str, choices: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return close[0] if close else None


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Every (dotted path, key, value) in a YAML document, lists shown as ``[i]``."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            here = f"{path}.{key}" if path else str(key)
            yield here, key, value
            yield from _walk(value, here)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


def _settings(doc: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    return _mapping(doc.get(name))


def _deployment_list(indexes: Sequence[int]) -> str:
    return ", ".join(f"#{i}" for i in indexes)


def _finding(dep: Deployment, rule: str, severity: Severity, field_name: str, message: str) -> Finding:
    return Finding(rule, severity, field_name, message, dep.index, dep.model_name)
