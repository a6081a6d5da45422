"""The ``litellm-xacct migrate`` command: arguments, :func:`run` (read, migrate, write the output and the
shim, print the diff and the notes, run ``check`` on the result) and :func:`write_shim`."""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._names import SHIM_LINE, SHIM_MODULE, SHIM_SOURCE
from .plan import migrate_text
from .result import MigrateError, Migration

#: Shims this package wrote before the guard existed: upgrading one of them loses nothing.
_OLD_SHIM_LINES = ("from litellm_xacct import handler  # noqa: F401", "from litellm_xacct import handler")


# -- the shim beside the config --------------------------------------------------------------------


def write_shim(directory: Path, module: str) -> str:
    """Write ``<module>.py`` (the one-line shim) in ``directory`` unless an equivalent one is there.
    Returns what happened, for the report. Never overwrites a file it did not write."""
    path = directory / f"{module}.py"
    if not path.exists():
        path.write_text(SHIM_SOURCE, encoding="utf-8")
        return f"wrote {path}"
    code = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()
            if ln.strip() and not ln.strip().startswith("#")]
    if code == [SHIM_LINE] or (code and all("import" in c and "guard" in c for c in code[:1])):
        return f"{path} already exports guard and handler"
    if len(code) == 1 and code[0] in _OLD_SHIM_LINES:
        path.write_text(SHIM_SOURCE, encoding="utf-8")
        return f"updated {path} (this package's earlier shim) to also export the guard"
    return (f"left {path} as it is: it is not this package's shim. It must provide `guard` and `handler`, "
            f"e.g. `{SHIM_LINE}`")


# -- the command -----------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG.yaml", help="the LiteLLM proxy config to migrate (never changed "
                                                              "unless --in-place)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", metavar="OUT.yaml",
                       help="where to write the migrated config (default: CONFIG.xacct.yaml beside CONFIG)")
    where.add_argument("--in-place", action="store_true", help="rewrite CONFIG itself")
    parser.add_argument("--default-deployment", metavar="N|none", action="append", default=[],
                        help="make model_list[N] its group's `default` deployment (the one requests without a "
                             "department tag reach); repeat for several groups. `none`: leave groups without one "
                             "and say so. Without it, migrate only proposes one")
    parser.add_argument("--shim-dir", metavar="DIR",
                        help=f"where to write {SHIM_MODULE}.py (default: beside the output; LiteLLM loads it from "
                             "beside the config the proxy runs)")


def _output_path(args: argparse.Namespace, source: Path) -> Path:
    if args.in_place:
        return source
    if args.output:
        return Path(args.output)
    return source.with_name(source.stem + ".xacct" + (source.suffix or ".yaml"))


def _parse_defaults(values: Sequence[str]) -> tuple[list[int], bool]:
    chosen, none = [], False
    for value in values:
        if value.strip().lower() == "none":
            none = True
        elif value.strip().isdigit():
            chosen.append(int(value))
        else:
            raise MigrateError(f"--default-deployment {value!r}: expected a model_list index (0, 1, ...) or none")
    if none and chosen:
        raise MigrateError("--default-deployment none cannot be combined with an index")
    return chosen, none


def run(args: argparse.Namespace, out: Any = None) -> int:
    out = out or sys.stdout
    prog = "litellm-xacct migrate"
    source = Path(args.config)
    target = _output_path(args, source)
    try:
        text = source.read_text(encoding="utf-8")
        if not args.in_place and target.exists() and target.resolve() == source.resolve():
            raise MigrateError(f"{target} is the input: pass --in-place to rewrite it")
        chosen, none = _parse_defaults(args.default_deployment)
        result = migrate_text(text, default_deployments=chosen)
    except OSError as exc:
        print(f"{prog}: error: {source}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except MigrateError as exc:
        print(f"{prog}: error: {source}: {exc}", file=sys.stderr)
        return 2
    diff = difflib.unified_diff(text.splitlines(keepends=True), result.text.splitlines(keepends=True),
                                fromfile=str(source), tofile=str(target))
    diff_text = "".join(diff)
    print(diff_text if diff_text else f"no changes: {source} needs nothing migrate does", file=out)
    print(render_notes(result, none), file=out)
    if "\ninclude:" in "\n" + result.text and target.resolve().parent != source.resolve().parent:
        print(f"note: {target} is not in {source}'s directory: its include: paths are relative to the config's own "
              "directory, so copy the included files beside it", file=out)
    try:
        if not args.in_place or result.changed:
            target.write_text(result.text, encoding="utf-8")
        if result.shim_module:
            print(write_shim(Path(args.shim_dir) if args.shim_dir else target.parent, result.shim_module), file=out)
    except OSError as exc:
        print(f"{prog}: error: cannot write {exc.filename or target}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"wrote {target}" if (not args.in_place or result.changed) else f"{target} unchanged", file=out)
    return _check_output(target, out)


def render_notes(result: Migration, keep_without_default: bool = False) -> str:
    lines = []
    if result.changes:
        lines += ["", "changed:"] + [f"  {n}" for n in result.changes]
    if result.skipped:
        lines += ["", "left for you (not converted, or converted but incomplete):"] + [f"  {n}" for n in result.skipped]
    pending = [p for p in result.defaults if not p.applied]
    if pending:
        lines += ["", "default deployment (requests without a department tag):"]
        for p in pending:
            if keep_without_default:
                lines.append(f"  {p.model_name!r}: left without a default (--default-deployment none): requests "
                             "without a department tag are refused or spread over the group's deployments")
            elif p.candidate is not None:
                lines.append(f"  {p.model_name!r}: proposed model_list[{p.candidate}]: {p.reason}. Not applied: "
                             f"pass --default-deployment {p.candidate} to apply it, or --default-deployment none")
            else:
                lines.append(f"  {p.model_name!r}: no proposal: {p.reason}")
    return "\n".join(lines)


def _check_output(target: Path, out: Any) -> int:
    import logging

    from .._check import UnusableConfig, check, render_text

    logging.getLogger("litellm_xacct").addHandler(logging.NullHandler())
    try:
        report = check(str(target))
    except UnusableConfig as exc:
        print(f"\nlitellm-xacct check: {exc}", file=out)
        return 1
    print("", file=out)
    out.write(render_text(report))
    return 1 if report.summary()["errors"] else 0
