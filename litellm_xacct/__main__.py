"""The ``litellm-xacct`` command (also ``python -m litellm_xacct``).

Subcommands live in :data:`SUBCOMMANDS`. To add one, write ``add_arguments(parser)`` and
``run(args) -> exit code`` functions (import heavy modules inside ``run``) and add one entry.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

PROG = "litellm-xacct"


@dataclass(frozen=True)
class Subcommand:
    """One ``litellm-xacct <name>``: a one-line help, its arguments, and the function that runs it."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str = ""


# -- check -----------------------------------------------------------------------------------------


def _check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG.yaml", help="the LiteLLM proxy config to check")
    parser.add_argument("--live", action="store_true",
                        help="also obtain each bedrock-xacct deployment's credentials as a request would "
                             "(AssumeRole with this process's AWS identity) and ask STS GetCallerIdentity who "
                             "they are")
    parser.add_argument("--probe", action="store_true",
                        help="with --live: send each deployment ONE request with max_tokens=1, signed the way its "
                             "real traffic is, and report whether that account may invoke that model (Bedrock's "
                             "own error when not). COSTS MONEY: per deployment about a dozen input tokens plus "
                             "one output token, billed to the account that signs it")
    parser.add_argument("--sts-endpoint", metavar="URL",
                        help="with --live: send every STS call to URL instead of each deployment's "
                             "aws_sts_endpoint (for testing against a local stand-in such as "
                             "`python -m litellm_xacct.testing`)")
    parser.add_argument("--bedrock-endpoint", metavar="URL",
                        help="with --probe: send every Bedrock call to URL instead of each deployment's "
                             "endpoint (for a local stand-in)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the table")


def _run_check(args: argparse.Namespace) -> int:
    import logging

    from ._check import UnusableConfig, check, render_json, render_text

    # The report states every credential failure; the engine's own log lines would repeat them on stderr.
    logging.getLogger("litellm_xacct").addHandler(logging.NullHandler())
    for flag, needs, ok in (("--sts-endpoint", "--live", not args.sts_endpoint or args.live),
                            ("--probe", "--live", not args.probe or args.live),
                            ("--bedrock-endpoint", "--probe", not args.bedrock_endpoint or args.probe)):
        if not ok:
            print(f"{PROG} check: error: {flag} only applies with {needs}", file=sys.stderr)
            return 2
    try:
        report = check(args.config, live=args.live, sts_endpoint=args.sts_endpoint, probe=args.probe,
                       bedrock_endpoint=args.bedrock_endpoint)
    except UnusableConfig as exc:
        print(f"{PROG} check: error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(render_json(report) if args.json else render_text(report))
    return report.exit_code()


_CHECK_DESCRIPTION = """\
Lint every deployment of a LiteLLM proxy config that reaches Amazon Bedrock (bedrock-xacct/ and native
bedrock/, bedrock/converse/, bedrock/invoke/, wildcards; include: files followed): every aws_*/xacct_*
field validated as a request validates it (all errors of a deployment, not only the first), fields
LiteLLM would drop, routing mistakes that spread one model_name over several signing identities (the
gateway's own included), settings that let callers supply credentials, the provider registration and
the proxy guard; a note on each native deployment that assumes a role, saying what moving it to
bedrock-xacct/ changes.

--live resolves each bedrock-xacct identity through STS (no model call). --live --probe sends each
deployment one request with max_tokens=1 and reports whether its account may invoke its model.
Probe cost: one request per deployment, about a dozen input tokens plus one output token, billed to the
account that signs that deployment.

Exit status: 0 nothing wrong (notes about models this check cannot see, or a config without Bedrock,
do not fail), 1 errors or warnings, 2 the config could not be read."""

def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    from ._demo import add_arguments

    add_arguments(parser)


def _run_demo(args: argparse.Namespace) -> int:
    from ._extras import install_hint, require

    try:
        require("demo", f"{PROG} demo")
        from ._demo import run_args

        return run_args(args)
    except ImportError as exc:  # a missing optional dependency: say which extra brings it
        print(f"{PROG} demo: error: {exc}" + ("" if install_hint("demo") in str(exc) else
                                              f". Install what the demo needs with: {install_hint('demo')}"),
              file=sys.stderr)
        return 2


# -- migrate ---------------------------------------------------------------------------------------


def _migrate_arguments(parser: argparse.ArgumentParser) -> None:
    from ._migrate import add_arguments

    add_arguments(parser)


def _run_migrate(args: argparse.Namespace) -> int:
    from ._migrate import run

    return run(args)


_MIGRATE_DESCRIPTION = """\
Write a corrected copy of a LiteLLM proxy config: native bedrock/ deployments that assume a role
(aws_role_name) move to bedrock-xacct/, model_info.tags move to litellm_params.tags, enable_tag_filtering
moves to router_settings, the handler and the proxy guard are wired through xacct_handler.py (written beside
the output), model_info.base_model is set for cost tracking, and a `default` deployment is proposed for
each model group with department tags (applied only with --default-deployment). Comments, key order,
quoting and os.environ/ references are kept. Prints a unified diff and what it could not convert, then runs
`litellm-xacct check` on the result. The input is never changed unless --in-place.
Exit status: 0 the result passes check, 1 check found errors, 2 the config could not be migrated."""

#: name -> subcommand. Add new subcommands here.
SUBCOMMANDS: dict[str, Subcommand] = {
    "check": Subcommand("check a LiteLLM proxy config for bedrock-xacct mistakes", _check_arguments, _run_check,
                        _CHECK_DESCRIPTION),
    "demo": Subcommand("offline demo: local AWS stand-in + a real litellm proxy + the openai client",
                       _demo_arguments, _run_demo),
    "migrate": Subcommand("rewrite a native bedrock/ gateway config into the bedrock-xacct form, then check it",
                          _migrate_arguments, _run_migrate, _MIGRATE_DESCRIPTION),
}


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog=PROG, description="Cross-account Amazon Bedrock for LiteLLM.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, sub in SUBCOMMANDS.items():
        child = commands.add_parser(name, help=sub.help, description=sub.description or sub.help,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.add_arguments(child)
        child.set_defaults(run=sub.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``litellm-xacct``; returns the exit status (argparse usage errors exit 2 via SystemExit)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
