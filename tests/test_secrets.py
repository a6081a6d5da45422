"""No secret leaves through this package: a gateway scenario at LiteLLM's most verbose logging, then a scan.

The proxy runs the example config's departments plus a role that cannot be assumed, a web-identity
deployment, a deployment whose source keys are written inline in the config, and a cold deployment that
meets an STS outage; requests stream and don't. LiteLLM logs at its most verbose (``--detailed_debug``,
``LITELLM_LOG=DEBUG``, ``set_verbose``) and this package's logger at DEBUG (a module beside the config
gives it its own line prefix, so every line says whose it is). Then every log line, error body, response
header and spend-log payload is searched for every secret in play: the gateway's source secret key, every
secret key and session token the stand-in's STS issued, and the web identity token.

Asserted: 0 occurrences attributable to this package (its log lines, its error messages, its headers, its
audit record). LiteLLM's own occurrences are collected and printed (docs/security.md "Secrets in logs" lists them
with the way to avoid each); they are asserted to come only from the inline-keys deployment, the one
configuration docs/security.md tells operators not to use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from litellm_xacct.testing import LocalAWS, ProxyProcess

from .conftest import DEPT_B_EXTERNAL_ID, HOPS, MODEL

pytestmark = pytest.mark.proxy

REPO = Path(__file__).resolve().parent.parent
MODEL_NAME = "claude-sonnet"
BROKEN = "arn:aws:iam::333333333333:role/litellm-bedrock-dept-c"  # not registered in the stand-in
WEB_ROLE = HOPS[1]
WEB_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzZWNyZXQtc2Nhbi13ZWItaWRlbnRpdHkifQ.c2lnbmF0dXJlLXNjYW4tdG9rZW4"
FILE_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0b2tlbi1pbi1hLWZpbGUifQ.ZmlsZS10b2tlbi1zaWduYXR1cmU"  # via a file path
MESSAGES = [{"role": "user", "content": "who signed this request?"}]
OURS = "XACCT-LOG "

# Beside the config: give litellm_xacct's logger its own prefix at DEBUG, and write each spend-log payload.
CAPTURE = f'''
import json, logging, os, sys
from litellm.integrations.custom_logger import CustomLogger

_handler = logging.StreamHandler(sys.stderr)
_handler.setFormatter(logging.Formatter("{OURS}%(name)s:%(levelname)s: %(filename)s:%(lineno)d - %(message)s"))
_ours = logging.getLogger("litellm_xacct")
_ours.addHandler(_handler)
_ours.setLevel(logging.DEBUG)
_ours.propagate = False


class Capture(CustomLogger):
    def _write(self, kwargs, outcome):
        with open(os.environ["XACCT_PAYLOADS"], "a", encoding="utf-8") as f:
            f.write(json.dumps({{"outcome": outcome, "payload": kwargs.get("standard_logging_object")}},
                               default=str) + "\\n")

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._write(kwargs, "success")

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._write(kwargs, "failure")


capture = Capture()
'''


def _deployment(tag: str, **params: Any) -> dict[str, Any]:
    return {"model_name": MODEL_NAME,
            "litellm_params": {"model": f"bedrock-xacct/{MODEL}", "aws_region_name": "us-east-1",
                               "tags": [tag], **params},
            "model_info": {"base_model": MODEL}}


def scan_config(aws: LocalAWS, token_file: Path) -> dict[str, Any]:
    config = yaml.safe_load((REPO / "example_config.yaml").read_text(encoding="utf-8"))
    config["model_list"] += [
        _deployment("dept-c", aws_role_name=BROKEN, aws_session_name="gateway-dept-c"),
        _deployment("web", aws_role_name=WEB_ROLE, aws_session_name="gateway-web",
                    aws_web_identity_token="os.environ/XACCT_WEB_TOKEN"),
        _deployment("web-file", aws_role_name=WEB_ROLE, aws_session_name="gateway-web-file",
                    aws_web_identity_token=str(token_file)),
        _deployment("cold", aws_role_name=HOPS[2], aws_session_name="gateway-cold"),
        _deployment("region-off", aws_role_name=HOPS[2], aws_session_name="gateway-region-off"),
        # What docs/security.md says not to do: source keys inline. LiteLLM itself prints them (listed there).
        _deployment("inline", aws_role_name=HOPS[0], aws_session_name="gateway-inline",
                    aws_access_key_id=aws.central.access_key_id,
                    aws_secret_access_key=aws.central.secret_access_key),
    ]
    settings = config["litellm_settings"]
    settings["callbacks"] = [*(settings.get("callbacks") or []), "xacct_capture.capture"]  # after the guard
    settings["set_verbose"] = True
    return config


class Seen:
    """Everything the scenario produced that a secret could hide in."""

    def __init__(self) -> None:
        self.error_bodies: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.texts: list[str] = []


def run_scenario(proxy: ProxyProcess, aws: LocalAWS) -> Seen:
    seen = Seen()
    client = proxy.openai_client(timeout=120.0)

    def ask(tag: str | None, stream: bool) -> None:
        body: dict[str, Any] = {"tags": [tag]} if tag else {}
        try:
            if stream:
                raw = client.chat.completions.with_raw_response.create(
                    model=MODEL_NAME, messages=MESSAGES, extra_body=body, stream=True,
                    stream_options={"include_usage": True})
                seen.headers.append(dict(raw.headers))
                seen.texts.append("".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices))
            else:
                raw = client.chat.completions.with_raw_response.create(model=MODEL_NAME, messages=MESSAGES,
                                                                       extra_body=body)
                seen.headers.append(dict(raw.headers))
                seen.texts.append(raw.parse().choices[0].message.content or "")
        except openai.APIStatusError as exc:
            seen.headers.append(dict(exc.response.headers))
            seen.error_bodies.append(exc.response.text)
        except openai.APIError as exc:  # an error event inside a stream
            seen.error_bodies.append(json.dumps({"message": str(exc.message), "body": exc.body}, default=str))

    try:
        for stream in (False, True):
            for tag in ("dept-a", "dept-b", None, "web", "web-file", "inline", "dept-c"):
                ask(tag, stream)
        aws.fail_sts(code="ServiceUnavailable", status=503, count=3)  # a cold fetch meets an STS outage
        ask("cold", True)
        aws.fail_sts(code="RegionDisabledException", status=403, count=None)  # an STS refusal: an error
        ask("region-off", False)
    finally:
        aws.clear_faults()
        client.close()
    return seen


@pytest.fixture(scope="module")
def scan(aws: LocalAWS, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    aws.reset()
    issued_before = len(aws.issued_secrets())
    payloads = tmp_path_factory.mktemp("secrets") / "payloads.jsonl"
    token_file = payloads.parent / "web-identity-token"
    token_file.write_text(FILE_TOKEN, encoding="utf-8")
    env = {"DEPT_B_EXTERNAL_ID": DEPT_B_EXTERNAL_ID, "XACCT_PAYLOADS": str(payloads),
           "XACCT_WEB_TOKEN": WEB_TOKEN, "LITELLM_LOG": "DEBUG"}
    with ProxyProcess(scan_config(aws, token_file), aws, env=env, files={"xacct_capture.py": CAPTURE},
                      extra_args=["--detailed_debug"], keep_dir=True) as proxy:
        seen = run_scenario(proxy, aws)
        assert proxy.log_path is not None and proxy.workdir is not None
        workdir = proxy.workdir
    log = (workdir / "proxy.log").read_text(encoding="utf-8", errors="replace")
    issued = aws.issued_secrets()[issued_before:]
    secrets = {"source secret key": [aws.central.secret_access_key], "web identity token": [WEB_TOKEN],
               "web identity token (file)": [FILE_TOKEN], "issued secret key / session token": issued}
    yield {"seen": seen, "log": log, "payloads": payloads.read_text(encoding="utf-8") if payloads.exists() else "",
           "secrets": secrets}
    import shutil

    shutil.rmtree(workdir, ignore_errors=True)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_HEADER = re.compile(r"^(?:(?P<ours>XACCT-LOG )(?P<logger>[\w.]+):(?P<level>\w+): (?P<where>\S+)"
                     r"|[\d:]+ - (?P<lname>[^:]+):(?P<llevel>\w+): (?P<lwhere>[\w.]+:\d+))")


def log_occurrences(log: str, secrets: dict[str, list[str]]) -> list[tuple[str, str, str]]:
    """(whose logger, where it logs from, which secret) for every log line holding a secret; a line
    without a header (a multi-line message, a traceback) belongs to the last header line above it."""
    found = []
    owner = ("(no logger: raw output)", "-")
    for line in log.splitlines():
        match = _HEADER.match(_ANSI.sub("", line))  # LiteLLM colours its level names
        if match:
            owner = ((match["logger"], match["where"]) if match["ours"] else (match["lname"], match["lwhere"]))
        for kind, values in secrets.items():
            if any(v and v in line for v in values):
                found.append((owner[0], owner[1], kind))
    return found


def json_paths(value: Any, secrets: dict[str, list[str]], path: str = "$") -> list[tuple[str, str]]:
    """(JSON path, which secret) for every string in ``value`` holding a secret."""
    if isinstance(value, dict):
        return [hit for k, v in value.items() for hit in json_paths(v, secrets, f"{path}.{k}")]
    if isinstance(value, list):
        return [hit for i, v in enumerate(value) for hit in json_paths(v, secrets, f"{path}[{i}]")]
    if isinstance(value, str):
        return [(path, kind) for kind, values in secrets.items() if any(s and s in value for s in values)]
    return []


def test_the_scenario_exercised_every_secret(scan: dict[str, Any]) -> None:
    seen, secrets = scan["seen"], scan["secrets"]
    assert len(secrets["issued secret key / session token"]) >= 10  # dept-a, dept-b, default, web, inline, cold
    ok = [t for t in seen.texts if t]
    assert len(ok) >= 12 and sum("444444444444" in t for t in ok) >= 4, seen.texts  # both web identities served
    # dept-c (AccessDenied; LiteLLM 1.82.3 may serve its second request from `default` while dept-c cools
    # down) and the RegionDisabledException refusal
    assert len(seen.error_bodies) >= 2, seen.error_bodies
    assert any("RegionDisabledException" in body for body in seen.error_bodies), seen.error_bodies
    assert OURS in scan["log"], "this package's DEBUG logging did not reach the log"
    assert "LiteLLM" in scan["log"] and "DEBUG" in scan["log"]
    assert scan["payloads"].count("\n") >= 12


def test_this_package_prints_no_secret(scan: dict[str, Any]) -> None:
    secrets = scan["secrets"]
    ours = [hit for hit in log_occurrences(scan["log"], secrets) if hit[0].startswith("litellm_xacct")]
    assert ours == []
    for body in scan["seen"].error_bodies:  # our error messages are the error bodies' text
        assert json_paths(body, secrets) == [], body
    for headers in scan["seen"].headers:
        assert json_paths(headers, secrets) == [], headers
    records = [json.loads(line) for line in scan["payloads"].splitlines()]
    audits = [((r["payload"] or {}).get("metadata") or {}).get("spend_logs_metadata") or {} for r in records]
    stamped = [a["xacct"] for a in audits if "xacct" in a]
    assert len(stamped) >= 10
    assert json_paths(stamped, secrets) == []


def test_litellm_side_occurrences_are_only_secrets_written_into_deployment_params(scan: dict[str, Any]) -> None:
    """What LiteLLM itself prints (listed in docs/security.md): on 1.82.3 its DEBUG lines print deployments'
    litellm_params, inline or resolved from os.environ/. Issued credentials and a token kept in a file
    (the package reads it; the config holds only the path) never appear."""
    secrets = scan["secrets"]
    logs = sorted(set(log_occurrences(scan["log"], secrets)))
    payload_hits = sorted({(path, kind) for line in scan["payloads"].splitlines()
                           for path, kind in json_paths(json.loads(line), secrets)})
    all_hits = log_occurrences(scan["log"], secrets)
    print(f"\nscanned {scan['log'].count(chr(10))} log lines, {scan['payloads'].count(chr(10))} spend-log payloads, "
          f"{len(scan['seen'].error_bodies)} error bodies, {len(scan['seen'].headers)} header sets for "
          f"{sum(len(v) for v in secrets.values())} secrets; log lines with a secret: {len(all_hits)}")
    print("LiteLLM-side occurrences (logger, where, secret):")
    for hit in logs:
        print("  log:", *hit)
    for hit in payload_hits:
        print("  spend-log payload:", *hit)
    for logger, where, kind in logs:
        assert not logger.startswith("litellm_xacct"), (logger, where, kind)
    never = ("issued secret key / session token", "web identity token (file)")
    assert not any(kind in never for *_, kind in logs), logs
    assert not any(kind in never for _, kind in payload_hits), payload_hits
    assert FILE_TOKEN not in json.dumps([scan["seen"].error_bodies, scan["seen"].headers])
