"""``check`` rules about who may use each department's account (see docs/callers.md): the caller mode, each
department's ``model_info.xacct_callers`` binding, and fallback chains that could move department traffic to
another account. Same signature as every rule: ``rule(ctx) -> list[Finding]``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._authority import STRICT_SETTING
from .._errors import ConfigError
from .._index import BINDING_FIELD, parse_binding
from .._names import PROVIDER
from .findings import Deployment, Finding, Severity, _mapping, role_account, signing_identity

if TYPE_CHECKING:
    from .rules_base import Context

_DEFAULT = "default"


def strict(doc: Mapping[str, Any]) -> bool:
    return _mapping(doc.get("general_settings")).get(STRICT_SETTING) is True


def _departments(ctx: Context) -> dict[str, list[Deployment]]:
    """Department tag -> its bedrock-xacct deployments (gateway-wide, like the provider's index)."""
    found: dict[str, list[Deployment]] = defaultdict(list)
    for dep in ctx.of(PROVIDER):
        for tag in dep.tags:
            if tag != _DEFAULT:
                found[tag].append(dep)
    return found


def binding_summary(dep: Deployment) -> str:
    """The identity table's ``callers`` cell: who the deployment's binding admits."""
    value = dep.model_info.get(BINDING_FIELD)
    if not isinstance(value, Mapping):
        return "-"
    parts = [f"{k}:{','.join(map(str, v))}" for k, v in value.items() if isinstance(v, list) and v]
    return " ".join(parts) or "-"


def caller_mode(ctx: Context) -> str | None:
    """The line ``check`` prints about the caller mode (open or strict); None when no department exists."""
    if not _departments(ctx):
        return None
    if strict(ctx.doc):
        return (f"strict (general_settings.{STRICT_SETTING}: true): a department tag is honoured only from a "
                "caller bound to that department; an unbound caller's department tag is refused (403) and its "
                "untagged requests go to `default` only")
    return (f"open (general_settings.{STRICT_SETTING} is not true): bound callers reach only their departments; "
            "a caller bound to none may pick any department with a tag")


def bindings(ctx: Context) -> list[Finding]:
    """Each department's binding: invalid -> error; on a deployment with no department -> error; a
    department nobody is bound to (by xacct_callers) -> warning in open mode; a caller bound to several."""
    found: list[Finding] = []
    departments = _departments(ctx)
    for dep in ctx.of(PROVIDER):
        value = dep.model_info.get(BINDING_FIELD)
        if value is None:
            continue
        try:
            binding = parse_binding(dep.model_name, value)
        except ConfigError as exc:
            found.append(Finding("caller-binding-invalid", "error", exc.field, str(exc).split(": ", 1)[-1],
                                 dep.index, dep.model_name))
            continue
        if not [t for t in dep.tags if t != _DEFAULT]:
            found.append(Finding("caller-binding-no-department", "error", f"model_info.{BINDING_FIELD}", (
                f"model_info.{BINDING_FIELD} is set but this deployment has no department tag in "
                "litellm_params.tags, so the binding binds no one to anything (the gateway refuses every request "
                "while it is there). Fix: put it on the department's deployment, or add the department's tag."),
                dep.index, dep.model_name))
        named = sorted(binding.tags & set(departments))
        if named:
            found.append(Finding("caller-binding-department-tag", "error", f"model_info.{BINDING_FIELD}.tags", (
                f"model_info.{BINDING_FIELD}.tags names department tag(s) {named}: a key or team carrying them "
                f"is already bound to {named} by that tag, and this binds it to {sorted(set(dep.tags) - {_DEFAULT})}"
                " as well. Fix: bind by a tag no deployment uses (e.g. a cost-centre tag from custom_auth), "
                "or by team / key alias."), dep.index, dep.model_name))
    for department, members in sorted(departments.items()):
        if any(BINDING_FIELD in d.model_info for d in members):
            continue
        severity: Severity = "info" if strict(ctx.doc) else "warning"
        found.append(Finding("caller-binding-missing", severity, f"model_info.{BINDING_FIELD}", (
            f"department {department!r} has no model_info.{BINDING_FIELD}: unless keys or teams carry the tag "
            f"{department!r} (LiteLLM's key/team metadata tags, or custom_auth), "
            + ("no caller can reach it in strict mode" if strict(ctx.doc) else
               "any key holder can pick this account by sending the tag")
            + f". Fix: add model_info.{BINDING_FIELD}: {{teams: [...], key_aliases: [...]}} to its deployment(s)"
            + ("" if strict(ctx.doc) else f" and set general_settings.{STRICT_SETTING}: true") + "."),
            None, members[0].model_name, tuple(d.index for d in members)))
    found += _callers_in_several(ctx)
    return found


def _callers_in_several(ctx: Context) -> list[Finding]:
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for dep in ctx.of(PROVIDER):
        value = dep.model_info.get(BINDING_FIELD)
        try:
            binding = parse_binding(dep.model_name, value) if value is not None else None
        except ConfigError:
            continue
        if binding is None:
            continue
        for kind, names in (("team", binding.teams), ("key alias", binding.key_aliases), ("tag", binding.tags)):
            for name in names:
                seen[(kind, name)] |= set(dep.tags) - {_DEFAULT}
    return [Finding("caller-in-several-departments", "warning", f"model_info.{BINDING_FIELD}", (
        f"{kind} {name!r} is bound to departments {sorted(depts)}: its untagged requests are refused (403) "
        "until it names one of them with a tag. Fix: bind each caller to one department."))
        for (kind, name), depts in sorted(seen.items()) if len(depts) > 1]


def _fallback_chains(doc: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(setting, from group, to group) for every fallback LiteLLM may take."""
    chains = []
    for section in ("router_settings", "litellm_settings"):
        settings = _mapping(doc.get(section))
        for name in ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks"):
            for item in settings.get(name) or []:
                for source, targets in _mapping(item).items():
                    for target in targets if isinstance(targets, list) else [targets]:
                        chains.append((f"{section}.{name}", str(source), str(target)))
    return chains


def fallback_accounts(ctx: Context) -> list[Finding]:
    """A fallback from a group serving department D in account X to a group whose D deployment signs in
    another account (or as another identity) -> warning naming both; to a group with no D deployment ->
    info (the gateway refuses those requests rather than move them)."""
    found: list[Finding] = []
    by_group: dict[str, list[Deployment]] = defaultdict(list)
    for dep in ctx.of(PROVIDER):
        by_group[dep.model_name].append(dep)

    def signer(dep: Deployment) -> str:
        return role_account(dep.role_arn) or signing_identity(dep.params)

    for setting, source, target in _fallback_chains(ctx.doc):
        for department in sorted({t for d in by_group.get(source, []) for t in d.tags} - {_DEFAULT}):
            mine = {signer(d) for d in by_group[source] if department in d.tags}
            theirs = {signer(d) for d in by_group.get(target, []) if department in d.tags}
            if not theirs:
                found.append(Finding("fallback-drops-department", "info", setting, (
                    f"{setting}: {source!r} -> {target!r}: {target!r} has no {department!r} deployment, so "
                    f"{department!r} requests that fall back are refused (403), never served by another "
                    "account."), None, source))
            elif theirs - mine:
                found.append(Finding("fallback-crosses-accounts", "warning", setting, (
                    f"{setting}: {source!r} -> {target!r} moves {department!r} traffic from "
                    f"{sorted(mine)} to {sorted(theirs - mine)}: its {department!r} deployment signs in another "
                    f"account. Fix: use the department's own role in {target!r}, or remove the fallback."),
                    None, source))
    return found


CALLER_RULES = (bindings, fallback_accounts)
