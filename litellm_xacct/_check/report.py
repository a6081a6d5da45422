"""The presentation of a check :class:`Report`: :func:`render_text` (a 160-column table with the problems
under each row) and :func:`render_json` (one stable JSON document). Both redact secrets."""

from __future__ import annotations

import json
import textwrap

from .._names import PROVIDER
from .callers import binding_summary
from .findings import GATEWAY_IDENTITY, Deployment, Report, role_account

WIDTH = 160


def render_json(report: Report) -> str:
    """One stable JSON document (sorted keys), secrets redacted."""
    deployments = [{
        "index": d.index, "model_name": d.model_name, "model": d.model, "route": d.route, "source": d.source,
        "identity": d.identity, "tags": d.tags, "callers": d.model_info.get("xacct_callers"),
        "probe": None if d.probe is None else {"status": d.probe.status, "code": d.probe.code,
                                                "message": d.probe.message},
        "role_arn": d.role_arn, "session_name": d.session_name, "expected_account": d.expected_account,
        "resolved_account": d.resolved_account, "resolved_arn": d.resolved_arn, "status": report.status(d),
        "findings": [f.as_json(config_wide=False) for f in d.findings],
    } for d in report.deployments]
    doc = {"config": report.path, "live": report.live, "probed": report.probed, "deployments": deployments,
           "callers": report.callers,
           "findings": [f.as_json(config_wide=True) for f in report.findings], "summary": report.summary()}
    return report.redact(json.dumps(doc, indent=2, sort_keys=True)) + "\n"


#: (header, narrowest it may be squeezed to; 0 = never squeezed)
_COLUMNS = (("#", 0), ("model_name", 12), ("model", 16), ("tags", 8), ("signs as (role)", 12),
            ("expected account", 0), ("resolved account", 0), ("probe", 8), ("status", 0), ("problems", 14))


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 3, 1)] + "..."


def _signer(dep: Deployment) -> str:
    role = dep.role_arn
    if role:  # the account has its own column: show the role's name part
        return role.split(":", 5)[-1].removeprefix("role/") if role_account(role) else role
    return "(gateway identity)" if dep.identity == GATEWAY_IDENTITY else dep.identity


def _row_cells(report: Report, dep: Deployment) -> list[str]:
    related = [f.rule for f in dep.findings] + [f.rule for f in report.findings if dep.index in f.deployments]
    return [str(dep.index), dep.model_name, dep.model, ",".join(dep.tags) or "-", _signer(dep),
            dep.expected_account or "-", dep.resolved_account or "-", dep.probe.status if dep.probe else "-",
            report.status(dep), ", ".join(dict.fromkeys(related))]


def _fit_rules(rules: str, width: int) -> str:
    """As many whole rule ids as fit, then ``+N``."""
    ids = rules.split(", ") if rules else []
    for shown in range(len(ids), 0, -1):
        text = ", ".join(ids[:shown]) + (f" +{len(ids) - shown}" if shown < len(ids) else "")
        if len(text) <= width:
            return text
    return _clip(rules, width) if rules else "-"


def _table(report: Report) -> list[str]:
    columns = [c for c in _COLUMNS if report.probed or c[0] != "probe"]
    keep = [i for i, c in enumerate(_COLUMNS) if c in columns]
    rows = [[name for name, _ in columns]] + [[_row_cells(report, d)[i] for i in keep] for d in report.deployments]
    widths = [max(len(r[c]) for r in rows) for c in range(len(columns))]
    budget = WIDTH - 2 * (len(widths) - 1)
    # the problems column squeezes first (they are spelled out below each row), then the widest other one
    widths[-1] = max(min(widths[-1], budget - sum(widths[:-1])), columns[-1][1])
    while sum(widths) > budget:
        c = max((c for c, (_, least) in enumerate(columns) if least and widths[c] > least),
                key=lambda c: widths[c], default=None)
        if c is None:
            break
        widths[c] -= 1
    for row in rows[1:]:
        row[-1] = _fit_rules(row[-1], widths[-1])
    return ["  ".join(_clip(cell, w).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows]


def _wrap(prefix: str, text: str, indent: int = 0) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=prefix, subsequent_indent=" " * (indent or len(prefix)),
                         break_on_hyphens=False, break_long_words=True)


def _mode(report: Report) -> str:
    if report.probed:
        return "live + probe: credentials resolved through STS, one 1-token request per deployment"
    if report.live:
        return "live: credentials resolved through STS"
    return "static: no AWS calls; add --live to resolve each role, --live --probe to test model access"


def render_text(report: Report) -> str:
    """A table per deployment, the problems under it, then config-wide findings; plain text, 160 columns."""
    lines = [*_wrap("", f"litellm-xacct check {report.path} ({_mode(report)})", 4)]
    if report.callers:
        lines += _wrap("callers: ", report.callers, 4)
    lines += ["", "deployments that reach Amazon Bedrock:"]
    if report.deployments:
        table = _table(report)
        lines += [table[0]]
        for dep, row in zip(report.deployments, table[1:], strict=True):
            lines.append(row)
            if dep.source:
                lines.append(f"   from include {dep.source}")
            if binding_summary(dep) != "-":
                lines += _wrap("   callers (model_info.xacct_callers): ", binding_summary(dep), 12)
            if dep.resolved_arn:
                lines += _wrap("   signs as ", dep.resolved_arn, 12)
            elif report.live and dep.route == PROVIDER and dep.config is None:
                lines.append("   not resolved live: fix the errors below first")
            if dep.probe is not None and dep.probe.status == "skipped":
                lines.append(f"   {dep.probe.message}")
            for finding in dep.findings:
                lines += _wrap(f"   {finding.severity:<7}  {finding.rule}: ", finding.message, 12)
    else:
        lines.append("none")
    if report.findings:
        lines += ["", "config-wide:"]
        for finding in report.findings:
            lines += _wrap(f"   {finding.severity:<7}  {finding.rule}: ", finding.message, 12)
    summary = report.summary()
    notes = f", {summary['info']} note(s)" if summary["info"] else ""
    verdict = f"ok: no problems found{notes}" if not report.failing() else \
        f"{summary['errors']} error(s), {summary['warnings']} warning(s){notes}"
    lines += ["", verdict]
    return report.redact("\n".join(lines)) + "\n"
