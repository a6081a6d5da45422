"""Run a :class:`~litellm_xacct.testing.LocalAWS` from the shell.

    python -m litellm_xacct.testing [--role ARN[=EXTERNAL_ID]]... [--roles-from-config CONFIG.yaml]
                                    [--deny-model ACCOUNT[=MODEL_ID]]... [--region REGION] [--json]

Prints one JSON line to stdout -- ``{"sts_endpoint", "bedrock_endpoint", "region", "central":
{"aws_access_key_id", "aws_secret_access_key", "account"}}`` -- then serves until SIGTERM/SIGINT.
Without ``--json`` a short human-readable summary also goes to stderr.

``--role`` splits at the first ``=``: the ARN before it, the external id after it.
``--roles-from-config`` registers every ``aws_role_name`` (with ``aws_external_id``) and every
``xacct_role_chain`` hop found in a LiteLLM proxy config's ``model_list[*].litellm_params``;
``os.environ/NAME`` values are read from the environment (unset ones are skipped with a warning).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from .._env import env_var, resolve_env
from . import LocalAWS, Role


def parse_role(text: str) -> Role:
    """``ARN`` or ``ARN=EXTERNAL_ID``."""
    arn, sep, external_id = text.partition("=")
    if not arn.startswith("arn:") or arn.count(":") < 5:
        raise argparse.ArgumentTypeError(f"not a role ARN: {arn!r}")
    return Role(arn, external_id if sep else None)


def roles_from_config(path: str) -> list[Role]:
    """Every role a LiteLLM proxy config's deployments would assume (chain hops included)."""
    import yaml

    with open(path, encoding="utf-8") as f:
        config = yaml.safe_load(f) or {}
    roles: dict[str, Role] = {}

    def add(arn: Any, external_id: Any) -> None:
        arn, external_id = _resolve(arn), _resolve(external_id)
        if isinstance(arn, str) and arn:
            roles[arn] = Role(arn, str(external_id) if external_id is not None else None)

    for deployment in config.get("model_list") or []:
        params = (deployment or {}).get("litellm_params") or {}
        for hop in params.get("xacct_role_chain") or []:
            if isinstance(hop, dict):
                add(hop.get("role_arn"), hop.get("external_id"))
            else:
                add(hop, None)
        if params.get("aws_role_name"):
            add(params["aws_role_name"], params.get("aws_external_id"))
    return list(roles.values())


def _resolve(value: Any) -> Any:
    """LiteLLM's ``os.environ/NAME`` indirection; None (with a warning) when the variable is unset."""
    resolved = resolve_env(value, unset="none")
    if resolved is None and value is not None:
        print(f"warning: {env_var(value)} is not set; skipping {value}", file=sys.stderr)
    return resolved


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m litellm_xacct.testing",
                                     description="Local STS + Bedrock runtime stand-in on 127.0.0.1.")
    parser.add_argument("--role", action="append", type=parse_role, default=[], metavar="ARN[=EXTERNAL_ID]",
                        help="register a role callers may assume (repeatable)")
    parser.add_argument("--roles-from-config", metavar="CONFIG.yaml",
                        help="register every role a LiteLLM proxy config assumes")
    parser.add_argument("--deny-model", action="append", default=[], metavar="ACCOUNT[=MODEL_ID]",
                        help="refuse ACCOUNT's Bedrock calls for MODEL_ID (default: every model) with "
                             "AccessDeniedException, as for an account without model access (repeatable)")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--json", action="store_true", help="print only the JSON line (no stderr summary)")
    args = parser.parse_args(argv)

    roles: list[Role] = list(args.role)
    if args.roles_from_config:
        roles += roles_from_config(args.roles_from_config)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    with LocalAWS(roles=roles, region=args.region) as aws:
        for denial in args.deny_model:
            account, _, model_id = denial.partition("=")
            aws.deny_model(account, model_id or "*")
        info = {
            "sts_endpoint": aws.sts_endpoint,
            "bedrock_endpoint": aws.bedrock_endpoint,
            "region": aws.region,
            "central": {
                "aws_access_key_id": aws.central.access_key_id,
                "aws_secret_access_key": aws.central.secret_access_key,
                "account": aws.central.account,
            },
        }
        print(json.dumps(info), flush=True)
        if not args.json:
            print(f"STS {aws.sts_endpoint}, Bedrock {aws.bedrock_endpoint}, {len(aws.roles)} role(s): "
                  + ", ".join(r.arn for r in aws.roles) + ". Ctrl-C to stop.", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
