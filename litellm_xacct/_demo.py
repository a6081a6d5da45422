"""The offline demo: one real LiteLLM proxy, one model name, two departments, two AWS accounts.

    python -m litellm_xacct._demo [--config example_config.yaml] [--requests N]

Starts the local AWS stand-in (moto STS + a SigV4-verifying Bedrock fake) with every role the config
assumes, starts ``litellm --config`` against it (:class:`~litellm_xacct.testing.ProxyProcess`), sends
requests for each department through the official ``openai`` client -- the tag in the body
(``extra_body={"tags": [...]}``) and in ``metadata``, streaming and not -- and prints who signed each one.
Account, role and session come from the stand-in's call log (what actually reached the wire), never from
the reply text. Exit status 0 only if every request was signed exactly as the config says.

Which config: ``--config`` if given; else ``example_config.yaml`` at the root of the source checkout
this package runs from (an editable install / the repo); else a built-in copy of that same file (a wheel
ships no top-level files). ``os.environ/NAME`` values that are unset get a demo value.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ._env import env_refs
from ._names import PROVIDER

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def builtin_config() -> str:
    """The example_config.yaml shipped in the package (a symlink to the repository's top-level file,
    whose content setuptools copies into the wheel), for installs without the source checkout."""
    return (resources.files("litellm_xacct") / "example_config.yaml").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Department:
    tag: str
    model_name: str
    role_arn: str
    session_name: str

    @property
    def account(self) -> str:
        return self.role_arn.split(":")[4]


@dataclass
class Row:
    tag: str
    how: str
    model: str
    account: str = "-"
    role: str = "-"
    session: str = "-"
    tokens: str = "-"
    matched: bool = False
    note: str = ""


def find_config(explicit: str | None) -> tuple[str, str]:
    """(YAML text, where it came from)."""
    if explicit:
        return Path(explicit).read_text(encoding="utf-8"), explicit
    checkout = Path(__file__).resolve().parent.parent / "example_config.yaml"
    if checkout.is_file():
        return checkout.read_text(encoding="utf-8"), str(checkout)
    return builtin_config(), "example_config.yaml shipped with litellm-xacct"


def departments(config: dict[str, Any]) -> list[Department]:
    """One per tagged bedrock-xacct deployment that assumes a role."""
    found = []
    for deployment in config.get("model_list") or []:
        params = (deployment or {}).get("litellm_params") or {}
        if not str(params.get("model", "")).startswith(PROVIDER + "/") or not params.get("aws_role_name"):
            continue
        # Tags under model_info are not routing tags (a known misconfiguration): still demonstrate them,
        # so the table shows where such requests really land.
        tags = params.get("tags") or ((deployment or {}).get("model_info") or {}).get("tags") or []
        for tag in tags:
            found.append(Department(str(tag), str(deployment["model_name"]), str(params["aws_role_name"]),
                                    str(params.get("aws_session_name") or "litellm-xacct")))
    return found


def _ask(client: Any, dept: Department, stream: bool, where: str) -> tuple[str, int | None]:
    body: dict[str, Any] = {"tags": [dept.tag]} if where == "body" else {"metadata": {"tags": [dept.tag]}}
    if where == "none":
        body = {}  # an untagged request: LiteLLM routes it to the `default`-tagged deployment
    kwargs: dict[str, Any] = {"model": dept.model_name, "extra_body": body,
                              "messages": [{"role": "user", "content": "Who signed this request?"}]}
    if not stream:
        response = client.chat.completions.create(**kwargs)
        usage = response.usage
        return response.choices[0].message.content or "", usage.total_tokens if usage else None
    text, tokens = "", None
    for chunk in client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kwargs):
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if getattr(chunk, "usage", None):
            tokens = chunk.usage.total_tokens
    return text, tokens


def run(config_text: str, source: str, per_mode: int, out: Any) -> int:
    import openai
    import yaml

    from .testing import LocalAWS, ProxyProcess
    from .testing.__main__ import roles_from_config

    config = yaml.safe_load(config_text) or {}
    depts = departments(config)
    if not depts:
        print(f"{source}: no tagged {PROVIDER} deployment with aws_role_name to demonstrate", file=sys.stderr)
        return 2
    env = {name: os.environ.get(name) or f"demo-{name.lower().replace('_', '-')}-{secrets.token_hex(4)}"
           for name in sorted(env_refs(config))}
    os.environ.update(env)  # so the stand-in registers the same external ids the proxy will send

    with tempfile.TemporaryDirectory(prefix="litellm-xacct-demo-") as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(config_text, encoding="utf-8")
        roles = roles_from_config(str(path))
        rows: list[Row] = []
        print(f"config: {source}", file=out)
        print(f"starting the local AWS stand-in ({len(roles)} role(s)) and `litellm --config` ...", file=out,
              flush=True)
        started = time.monotonic()
        with LocalAWS(roles=roles, region="us-east-1") as aws, ProxyProcess(config, aws, env=env) as proxy:
            import litellm_xacct

            version = _litellm_version()
            print(f"proxy ready at {proxy.base_url} (LiteLLM {version}, litellm-xacct "
                  f"{litellm_xacct.__version__}) in {time.monotonic() - started:.1f} s\n", file=out)
            client = proxy.openai_client()
            for dept in depts:
                for stream in (False, True):
                    # The `default` deployment is what untagged requests reach: demonstrate exactly that.
                    for where in (("none",) if dept.tag == "default" else ("body", "metadata")):
                        for _ in range(per_mode):
                            rows.append(_one(client, aws, dept, stream, where, openai))
        _print_table(rows, out)
    bad = [r for r in rows if not r.matched]
    print(f"\n{len(rows) - len(bad)}/{len(rows)} requests signed by the account, role and session their "
          f"department's deployment names.", file=out)
    for row in bad:
        print(f"MISMATCH {row.tag} ({row.how}): {row.note}", file=out)
    return 1 if bad else 0


def _one(client: Any, aws: Any, dept: Department, stream: bool, where: str, openai: Any) -> Row:
    how = f"{'stream' if stream else 'plain'}, " + ("no tag" if where == "none" else f"tag in {where}")
    row = Row(dept.tag, how, dept.model_name)
    before = len(aws.bedrock_calls())
    try:
        _, tokens = _ask(client, dept, stream, where)
        row.tokens = str(tokens) if tokens is not None else "-"
    except openai.APIError as exc:
        row.note = f"error: {getattr(exc, 'status_code', '')} {str(exc)[:200]}"
    calls = aws.bedrock_calls()[before:]
    if len(calls) != 1:
        row.note = row.note or f"{len(calls)} Bedrock calls reached the wire (expected 1)"
        return row
    call = calls[0]
    row.account, row.role, row.session = call.account or "-", call.role_arn or "-", call.session_name or "-"
    row.matched = (not row.note and call.status == 200 and call.account == dept.account
                   and call.role_arn == dept.role_arn and call.session_name == dept.session_name)
    if not row.matched and not row.note:
        row.note = (f"expected {dept.account} {dept.role_arn} {dept.session_name}, got {call.account} "
                    f"{call.role_arn} {call.session_name} (HTTP {call.status})")
    return row


def _litellm_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("litellm")
    except PackageNotFoundError:
        return "?"


def _print_table(rows: list[Row], out: Any) -> None:
    header = ("department tag", "request", "model", "account", "role", "session", "tokens", "matched config")
    cells = [header] + [(r.tag, r.how, r.model, r.account, r.role, r.session, r.tokens,
                         "yes" if r.matched else "NO") for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    for n, line in enumerate(cells):
        print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip(), file=out)
        if n == 0:
            print("  ".join("-" * w for w in widths), file=out)


DESCRIPTION = ("Offline: a real LiteLLM proxy routes each department's requests to its own AWS account "
               "(local STS + Bedrock stand-in), shown from what reached the wire.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="a LiteLLM proxy config (default: example_config.yaml)")
    parser.add_argument("--requests", type=int, default=1, metavar="N",
                        help="requests per department and mode (4 modes: plain/stream x tag in body/metadata)")


def run_args(args: argparse.Namespace) -> int:
    if args.requests < 1:
        print("demo: --requests must be at least 1", file=sys.stderr)
        return 2
    try:
        text, source = find_config(args.config)
    except OSError as exc:
        print(f"cannot read the config: {exc}", file=sys.stderr)
        return 2
    try:
        return run(text, source, args.requests, sys.stdout)
    except ImportError:  # a missing optional dependency: the command boundary names the extra to install
        raise
    except Exception as exc:  # the proxy did not start, the stand-in failed ...: say so, exit non-zero
        print(f"demo failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="litellm-xacct demo", description=DESCRIPTION)
    add_arguments(parser)
    return run_args(parser.parse_args(list(argv) if argv is not None else None))


if __name__ == "__main__":
    sys.exit(main())
