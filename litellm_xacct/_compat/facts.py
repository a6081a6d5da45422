"""The register of LiteLLM-release differences, and the page rendered from it (``docs/releases.md``).

Two kinds of entries, each naming what differs, how it differs per release and how the difference is found:

* :func:`differs` marks a ``_compat`` function that absorbs a difference in code (found by feature
  detection: ``hasattr``, a signature, the type of a returned value; never a version string);
* :data:`FACTS` lists differences the package relies on without code of its own (other modules cite them by
  key, e.g. "see ``_compat.facts`` ``cooldown-before-tags``").

``python -m litellm_xacct._compat docs/releases.md`` rewrites the page; ``tests/test_layers.py`` fails
when the page and this register disagree.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

#: The releases the test suite runs on (``make test``); every entry says what each of them does.
RELEASES: tuple[str, ...] = ("1.82.3", "1.108.7")

_F = TypeVar("_F", bound=Callable[..., Any])
_MARK = "__xacct_difference__"


@dataclass(frozen=True)
class Difference:
    """One release difference: ``what`` differs, what each release in ``on`` does, how it is ``detected``."""

    what: str
    on: Mapping[str, str]
    detected: str
    where: str = ""  # the _compat function that absorbs it (filled in by :func:`differences`), or a FACTS key
    notes: tuple[str, ...] = field(default_factory=tuple)


def differs(what: str, *, on: Mapping[str, str], detected: str) -> Callable[[_F], _F]:
    """Mark a ``_compat`` function as the place a release difference is absorbed (returns it unchanged)."""
    unknown = set(on) - set(RELEASES)
    if unknown:
        raise ValueError(f"differs({what!r}): {sorted(unknown)} are not among the tested releases {RELEASES}")

    def mark(function: _F) -> _F:
        setattr(function, _MARK, Difference(what, dict(on), detected))
        return function

    return mark


#: Differences the package relies on without absorbing them in code; cited by key from other modules.
FACTS: dict[str, Difference] = {
    "custom-provider-aws-fields": Difference(
        "a deployment's ``aws_*`` fields reaching a custom provider",
        {"1.82.3": "only in ``logging_obj.model_call_details['litellm_params']``",
         "1.108.7": "in ``litellm_params`` too"},
        "``_request`` reads both places, the call's own first"),
    "body-overrides": Difference(
        "request-body keys that override the deployment's ``aws_*`` params through the proxy",
        {"1.82.3": "role and endpoints (``aws_role_name``, ``aws_sts_endpoint``, ...)",
         "1.108.7": "keys and region (``aws_access_key_id``, ..., ``aws_region_name``)"},
        "not detected: ``_request`` reads identity from the router's copy of the deployment on every release"),
    "body-copy-keys": Difference(
        "keys the proxy keeps out of (or adds to) its copy of the caller's body",
        {"1.82.3": "not relied on",
         "1.108.7": "``api_key``, ``headers``, ``provider_specific_header`` listed in ``credential_fields``; "
                    "``max_retries``, ``model_info``... added to its metadata; images get ``litellm_call_id``"},
        "not detected: the guard and ``_callerfields`` read every place, whichever exist"),
    "user-config": Difference(
        "a caller's ``user_config`` (the proxy builds a Router from the caller's own model_list)",
        {"1.82.3": "honoured", "1.108.7": "not relied on"},
        "not detected: ``_callerfields`` refuses it on every release"),
    "tag-operators": Difference(
        "``&tag`` (required) and ``!tag`` (excluded) in routing tags",
        {"1.82.3": "plain strings that match no deployment", "1.108.7": "understood by the Router"},
        "not detected: ``_isolation.split_tag`` strips the operator on every release"),
    "inherited-tags": Difference(
        "``metadata.tags`` after the proxy's key/team/project step",
        {"1.82.3": "overwritten by the caller's own tags when the body or header sends tags",
         "1.108.7": "union, plus ``metadata.inherited_tags``"},
        "not detected: the guard reads the caller's auth and every tag source, never ``inherited_tags``"),
    "cooldown-before-tags": Difference(
        "deployments cooling down, before tag filtering",
        {"1.82.3": "filtered out first: a department's request falls through to ``default``",
         "1.108.7": "401 instead"},
        "not detected: ``_isolation`` refuses a pick outside the request's department (403, not a cooldown "
        "status on either release)"),
    "caller-field-status": Difference(
        "an exception raised through LiteLLM unmapped, with a ``status_code`` attribute",
        {"1.82.3": "not relied on", "1.108.7": "answered with that status (400: no cooldown)"},
        "not detected: ``_error_mapping.lite_error`` maps ``CallerFieldError`` itself on every release"),
    "custom-handler-file": Difference(
        "how ``custom_handler: pkg.module.instance`` is loaded",
        {"1.82.3": "only from a file beside the config", "1.108.7": "a file beside the config, else an import"},
        "not detected: the shim ``xacct_handler.py`` beside the config works on both"),
}


def _modules() -> list[Any]:
    """Every module of ``litellm_xacct._compat`` (imports LiteLLM)."""
    package = importlib.import_module("litellm_xacct._compat")
    names = sorted(info.name for info in pkgutil.iter_modules(package.__path__))
    return [importlib.import_module(f"{package.__name__}.{name}") for name in names]


def public_functions() -> list[tuple[str, Callable[..., Any]]]:
    """``(module.name, function)`` for every public function defined in a ``_compat`` module."""
    found = []
    for module in _modules():
        short = module.__name__.rsplit(".", 1)[-1]
        for name, value in vars(module).items():
            if name.startswith("_") or not callable(value) or inspect.isclass(value):
                continue
            if getattr(value, "__module__", None) != module.__name__:
                continue
            found.append((f"{short}.{name}", value))
    return found


def differences() -> list[Difference]:
    """Every difference absorbed in code (by module and function name), then every :data:`FACTS` entry."""
    coded = [Difference(d.what, d.on, d.detected, f"_compat.{name}")
             for name, function in public_functions() if (d := getattr(function, _MARK, None)) is not None]
    facts = [Difference(d.what, d.on, d.detected, f"facts: {key}") for key, d in FACTS.items()]
    return coded + facts


def _cell(text: str) -> str:
    """One table cell: reST roles and double backticks as Markdown code, on one line."""
    text = re.sub(r":\w+:`~?\.?([^`]+)`", r"`\1`", text).replace("``", "`")
    return " ".join(text.replace("|", "\\|").split())


def render() -> str:
    """The text of ``docs/releases.md``."""
    head = ("# LiteLLM release differences\n\n"
            "Generated from `litellm_xacct/_compat/` (`python -m litellm_xacct._compat docs/releases.md`); "
            "`tests/test_layers.py` fails when this page and the code disagree. Every LiteLLM import of the "
            "package is in `_compat/` (the test fails on one anywhere else), and every difference below is "
            "found by feature detection, never by comparing version strings. See "
            "[architecture.md](architecture.md) for where `_compat` sits.\n\n"
            f"Tested releases: {', '.join(RELEASES)}.\n\n"
            "## Absorbed in code\n\n")
    columns = " | ".join(RELEASES)
    table_head = f"| what differs | {columns} | how it is found | where |\n|{'---|' * (len(RELEASES) + 3)}\n"

    def rows(entries: list[Difference]) -> str:
        out = ""
        for d in entries:
            cells = [_cell(d.what), *(_cell(d.on.get(r, "same")) for r in RELEASES), _cell(d.detected),
                     f"`{d.where}`" if d.where.startswith("_compat.") else _cell(d.where)]
            out += "| " + " | ".join(cells) + " |\n"
        return out

    entries = differences()
    coded = [d for d in entries if d.where.startswith("_compat.")]
    facts = [d for d in entries if not d.where.startswith("_compat.")]
    same = [name for name, function in public_functions()
            if not name.startswith("facts.") and getattr(function, _MARK, None) is None]
    return (head + table_head + rows(coded)
            + "\n## Relied on, not absorbed in code\n\nCited by key (`facts: <key>`) from the modules that depend "
            "on them.\n\n" + table_head + rows(facts)
            + "\n## The same on every tested release\n\nThe rest of the door: LiteLLM names used through "
            "`_compat` only, so that a release that changes them changes one module.\n\n"
            + "".join(f"- `_compat.{name}`\n" for name in same))


def write(path: str | Path) -> bool:
    """Rewrite ``path`` (docs/releases.md) from the register; True if it changed."""
    target = Path(path)
    text = render()
    old = target.read_text(encoding="utf-8") if target.exists() else None
    if old == text:
        return False
    target.write_text(text, encoding="utf-8")
    return True

