"""The documented extras are enough, and a command without its extra says which one to install.

A fresh virtualenv (no system site-packages) gets the package's wheel and nothing else but what pip itself
resolves for ``litellm-xacct``, then ``litellm-xacct[testing]``, then ``litellm-xacct[demo]``, from a
wheelhouse holding exactly the hash-checked files of ``requirements/lock-newest.txt`` (``--no-index``: pip
can only pick what the extras ask for, at the locked versions). After each step the documented command runs
for real. Slow (the wheelhouse is downloaded once into build/, then reused; installing litellm[proxy] takes
minutes), so it runs once per CI run: ``make test-newest`` sets XACCT_FRESH_VENV=1 (not per LiteLLM release).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "requirements" / "lock-newest.txt"
WHEELHOUSE = REPO / "build" / "wheelhouse-newest"

fresh_venv = pytest.mark.skipif(os.environ.get("XACCT_FRESH_VENV") != "1",
                                reason="fresh-virtualenv install test: runs once per CI run (make test-newest sets "
                                       "XACCT_FRESH_VENV=1)")

# What the stand-in needs from [testing]: moto's STS server answers AssumeRole for a registered role.
LOCAL_AWS_SCRIPT = """
import boto3
from litellm_xacct.testing import LocalAWS, Role
role = "arn:aws:iam::111111111111:role/dept-a"
with LocalAWS(roles=[Role(role)]) as aws:
    sts = boto3.client("sts", endpoint_url=aws.sts_endpoint, region_name=aws.region,
                       aws_access_key_id=aws.central.access_key_id,
                       aws_secret_access_key=aws.central.secret_access_key)
    creds = sts.assume_role(RoleArn=role, RoleSessionName="extras")["Credentials"]
    who = boto3.client("sts", endpoint_url=aws.sts_endpoint, region_name=aws.region,
                       aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                       aws_session_token=creds["SessionToken"]).get_caller_identity()
    print("ACCOUNT", who["Account"], [c.action for c in aws.sts_calls()])
"""


def _run(*cmd: str | Path, timeout: float = 1200,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, check=False,
                          env=env, cwd=REPO)


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}\nstdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    return result.stdout


def test_missing_follows_nested_extras_and_names_the_pip_command() -> None:
    from litellm_xacct._extras import MissingExtra, missing, require

    # this environment is built from the full lock: both documented extras are complete
    assert missing("demo") == [] and missing("testing") == []
    require("demo", "litellm-xacct demo")
    # a real extra of an installed package whose requirements the lock leaves out (LiteLLM's extra-proxy)
    absent = missing("extra-proxy", dist="litellm")
    assert "prisma" in absent, absent
    error = MissingExtra("litellm-xacct demo", "demo", absent)
    assert isinstance(error, ImportError)
    assert str(error).startswith("litellm-xacct demo needs ") and "prisma" in str(error)
    assert str(error).endswith('Install them with: pip install "litellm-xacct[demo]"')


@pytest.mark.proxy
@fresh_venv
def test_each_extra_installs_what_its_command_needs(tmp_path: Path) -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    # --require-hashes: every file in the wheelhouse is the locked one (already-present files are reused)
    _ok(_run(sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
             "--require-hashes", "-r", LOCK, "-d", WHEELHOUSE))
    dist = tmp_path / "dist"
    _ok(_run(sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "--no-deps",
             "--no-build-isolation", "-w", dist, REPO))
    timings["wheelhouse + wheel"] = time.monotonic() - started

    venv = tmp_path / "venv"
    _ok(_run(sys.executable, "-m", "venv", venv))
    python, cli = venv / "bin" / "python", venv / "bin" / "litellm-xacct"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VIRTUAL_ENV", "PYTHON"))}
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

    def install(requirement: str) -> None:
        step = time.monotonic()
        _ok(_run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-index",
                 "--find-links", WHEELHOUSE, "--find-links", dist, requirement))
        timings[f"install {requirement}"] = time.monotonic() - step

    # 1. the package alone: the CLI runs; the demo and the stand-in name the extra to install
    install("litellm-xacct")
    assert "litellm-xacct" in _ok(_run(cli, "--version", env=env))
    demo = _run(cli, "demo", env=env, timeout=600)
    assert demo.returncode == 2 and 'pip install "litellm-xacct[demo]"' in demo.stderr, demo
    standin = _run(python, "-c", LOCAL_AWS_SCRIPT, env=env, timeout=600)
    assert standin.returncode != 0 and 'pip install "litellm-xacct[testing]"' in standin.stderr, standin

    # 2. [testing]: the stand-in works for one's own offline tests; the demo still lacks the proxy
    install("litellm-xacct[testing]")
    assert "ACCOUNT 111111111111 ['AssumeRole', 'GetCallerIdentity']" in _ok(
        _run(python, "-c", LOCAL_AWS_SCRIPT, env=env, timeout=600))
    demo = _run(cli, "demo", env=env, timeout=600)
    assert demo.returncode == 2 and 'pip install "litellm-xacct[demo]"' in demo.stderr, demo

    # 3. [demo]: consistent install, and the demo runs end to end (a real proxy, every request signed right)
    install("litellm-xacct[demo]")
    _ok(_run(python, "-m", "pip", "check", env=env))
    step = time.monotonic()
    out = _ok(_run(cli, "demo", env=env, timeout=900))
    timings["litellm-xacct demo"] = time.monotonic() - step
    assert "10/10 requests signed by the account, role and session their department's deployment names" in out, out
    # only what the extras resolve to was installed: none of the lock's developer tools
    frozen = _ok(_run(python, "-m", "pip", "freeze", env=env)).lower()
    for dev_only in ("pytest", "ruff", "mypy", "hypothesis"):
        assert f"\n{dev_only}==" not in "\n" + frozen, dev_only
    print("fresh-venv timings (s):", {k: round(v, 1) for k, v in timings.items()})
