"""A real ``litellm --config`` proxy subprocess pointed at a :class:`~litellm_xacct.testing.LocalAWS`.

Example::

    with LocalAWS(roles=roles_from_config("example_config.yaml")) as aws, \\
            ProxyProcess("example_config.yaml", aws, env={"DEPT_B_EXTERNAL_ID": "ext-b"}) as proxy:
        client = proxy.openai_client()
        client.chat.completions.create(model="claude-sonnet", messages=[...], extra_body={"tags": ["dept-a"]})
        print(aws.bedrock_calls()[-1].account)

What it does, in order:

* writes a *derived* config into a fresh temporary directory: the given YAML (path, text or mapping)
  with every ``bedrock-xacct/`` deployment's ``aws_sts_endpoint`` and ``aws_bedrock_runtime_endpoint``
  pointed at the stand-in, every ``bedrock-xacct`` ``custom_handler`` pointed at the shim, and the
  guard armed (``callbacks: ["xacct_handler.guard"]``) unless ``arm_guard=False``;
* writes the one-line shim ``xacct_handler.py`` beside it (LiteLLM 1.82.3 loads custom handlers and
  callbacks only from a file beside the config; it exports ``handler`` and ``guard``), plus any
  ``files`` the caller adds (e.g. a logging callback);
* starts ``litellm --config <file> --host 127.0.0.1 --port <free port>`` (the ``litellm`` script next to
  ``sys.executable``) with ``LITELLM_LOCAL_MODEL_COST_MAP=True``, a fresh ``LITELLM_MASTER_KEY``, the
  stand-in's central identity, and the caller's ``env`` (used for ``os.environ/NAME`` references);
  stdout and stderr go to ``proxy.log`` in that directory;
* waits until ``/health/liveliness`` answers (``startup_timeout`` seconds, default 90), else raises
  :class:`ProxyStartError` with the log's tail;
* on exit: SIGTERM to the process group it started, then SIGKILL after ``stop_timeout`` seconds, and
  the directory is removed (``keep_dir=True`` keeps it).
"""

from __future__ import annotations

import contextlib
import copy
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._env import env_refs
from .._names import PROVIDER, SHIM_MODULE, SHIM_SOURCE

if TYPE_CHECKING:
    import openai

    from . import LocalAWS

#: Process env that could give the proxy an identity other than the stand-in's central keys.
_AMBIENT_AWS = (
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_REGION_NAME", "AWS_SESSION_NAME", "AWS_STS_ENDPOINT",
    "AWS_EXTERNAL_ID", "AWS_BEDROCK_RUNTIME_ENDPOINT",
)
#: Process env that would make the proxy need a database or other outside services.
_AMBIENT_PROXY = ("DATABASE_URL", "DIRECT_URL", "REDIS_HOST", "REDIS_URL", "LITELLM_LICENSE",
                  "LITELLM_CONFIG_BUCKET_NAME", "CONFIG_FILE_PATH")


class ProxyStartError(RuntimeError):
    """The proxy exited or did not become ready in time; the message ends with the log's tail."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _load(config: str | os.PathLike[str] | Mapping[str, Any]) -> tuple[dict[str, Any], Path | None]:
    import yaml

    if isinstance(config, Mapping):
        return copy.deepcopy(dict(config)), None
    text = str(config)
    if "\n" not in text and Path(text).is_file():
        path = Path(text).resolve()
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}, path.parent
    if isinstance(config, os.PathLike):
        raise FileNotFoundError(text)
    loaded = yaml.safe_load(text)
    if not isinstance(loaded, dict):
        raise ValueError(f"not a LiteLLM config file or YAML mapping: {text[:80]!r}")
    return loaded, None


def derive_config(config: Mapping[str, Any], sts_endpoint: str, bedrock_endpoint: str, *,
                  arm_guard: bool = True) -> dict[str, Any]:
    """``config`` with every bedrock-xacct deployment pointed at the given endpoints, every bedrock-xacct
    custom handler pointed at the shim (``xacct_handler.handler``) and, with ``arm_guard``, the guard
    (``xacct_handler.guard``) added to ``litellm_settings.callbacks`` unless a ``*.guard`` entry is there:
    the provider refuses proxied requests the guard did not check."""
    derived = copy.deepcopy(dict(config))
    for deployment in derived.get("model_list") or []:
        params = (deployment or {}).get("litellm_params") or {}
        if str(params.get("model", "")).startswith(PROVIDER + "/"):
            params["aws_sts_endpoint"] = sts_endpoint
            params["aws_bedrock_runtime_endpoint"] = bedrock_endpoint
    settings = derived.setdefault("litellm_settings", {}) or {}
    derived["litellm_settings"] = settings
    entries = [e for e in settings.get("custom_provider_map") or [] if (e or {}).get("provider") != PROVIDER]
    entries.append({"provider": PROVIDER, "custom_handler": f"{SHIM_MODULE}.handler"})
    settings["custom_provider_map"] = entries
    callbacks = settings.get("callbacks") or []
    callbacks = [callbacks] if isinstance(callbacks, str) else list(callbacks)
    if arm_guard and not any(isinstance(c, str) and c.endswith(".guard") for c in callbacks):
        callbacks.insert(0, f"{SHIM_MODULE}.guard")
    if callbacks:
        settings["callbacks"] = callbacks
    return derived


class ProxyProcess:
    """A LiteLLM proxy subprocess serving ``config`` against ``aws``. Use as a context manager.

    ``config``: a config file path, YAML text or a mapping. ``env``: extra environment for the proxy
    (wins over everything else except the master key). ``files``: ``{name: text}`` written beside the
    derived config (e.g. a callback module the config names). ``litellm``: the ``litellm`` script to
    run (default: the one next to ``sys.executable``). ``num_workers``: passed as ``--num_workers`` (each
    worker is its own process with its own credential cache; uvicorn's worker health-check timeout is raised
    to ``startup_timeout`` through ``TIMEOUT_WORKER_HEALTHCHECK``); ``extra_args``: more ``litellm`` CLI
    arguments (e.g. ``["--detailed_debug"]``). ``arm_guard=False`` leaves a config without the guard as it
    is (to test that the provider then refuses proxied requests).
    """

    def __init__(self, config: str | os.PathLike[str] | Mapping[str, Any], aws: LocalAWS, *,
                 env: Mapping[str, str] | None = None, files: Mapping[str, str] | None = None,
                 host: str = "127.0.0.1", port: int | None = None, startup_timeout: float = 90.0,
                 stop_timeout: float = 10.0, litellm: str | os.PathLike[str] | None = None,
                 keep_dir: bool = False, num_workers: int | None = None,
                 extra_args: Sequence[str] = (), arm_guard: bool = True) -> None:
        self._source, self._source_dir = _load(config)
        self._aws = aws
        self._env = dict(env or {})
        self._files = dict(files or {})
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._litellm = Path(litellm) if litellm else Path(sys.executable).parent / "litellm"
        self._keep_dir = keep_dir
        self._workers = num_workers or 1
        self._cli = [*(["--num_workers", str(num_workers)] if num_workers is not None else []), *extra_args]
        self._arm_guard = arm_guard
        self.master_key = "sk-" + secrets.token_hex(32)
        self.workdir: Path | None = None
        self.config_path: Path | None = None
        self.log_path: Path | None = None
        self.config: dict[str, Any] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def __repr__(self) -> str:
        state = f"pid={self._proc.pid}, {self.base_url}" if self._proc else "stopped"
        return f"ProxyProcess({state})"

    # -- where -----------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (the OpenAI-compatible API is under ``/v1`` too)."""
        if self.port is None:
            raise RuntimeError("ProxyProcess is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def openai_client(self, **kwargs: Any) -> openai.OpenAI:
        """The official client, authenticated with the master key; no retries unless asked."""
        import openai

        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 60.0)
        return openai.OpenAI(base_url=self.base_url + "/v1", api_key=self.master_key, **kwargs)

    def async_openai_client(self, **kwargs: Any) -> openai.AsyncOpenAI:
        import openai

        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 60.0)
        return openai.AsyncOpenAI(base_url=self.base_url + "/v1", api_key=self.master_key, **kwargs)

    def log_tail(self, lines: int = 60) -> str:
        """The last ``lines`` lines of the proxy's combined stdout/stderr."""
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    # -- lifecycle -------------------------------------------------------------------------------

    def _write(self) -> None:
        import yaml

        self.workdir = Path(tempfile.mkdtemp(prefix="litellm-xacct-proxy-"))
        self.config = derive_config(self._source, self._aws.sts_endpoint, self._aws.bedrock_endpoint,
                                    arm_guard=self._arm_guard)
        self.config_path = self.workdir / "config.yaml"
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False), encoding="utf-8")
        (self.workdir / f"{SHIM_MODULE}.py").write_text(SHIM_SOURCE, encoding="utf-8")
        for name, text in self._files.items():
            target = self.workdir / name
            if target.resolve().parent != self.workdir.resolve():
                raise ValueError(f"files: {name!r} must be a plain file name")
            target.write_text(text, encoding="utf-8")
        self.log_path = self.workdir / "proxy.log"

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _AMBIENT_AWS and k not in _AMBIENT_PROXY}
        env.update(self._aws.central_env())
        env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
        env["PYTHONUNBUFFERED"] = "1"
        env.setdefault("LITELLM_LOG", "WARNING")
        if self._workers > 1:  # uvicorn kills a worker silent for 5 s; importing litellm takes longer on a busy box
            env.setdefault("TIMEOUT_WORKER_HEALTHCHECK", str(int(self.startup_timeout)))
        no_proxy = ",".join(filter(None, [env.get("NO_PROXY"), "127.0.0.1", "localhost"]))
        env["NO_PROXY"] = env["no_proxy"] = no_proxy
        env.update(self._env)
        env["LITELLM_MASTER_KEY"] = self.master_key
        missing = sorted(n for n in env_refs(self.config) if n not in env)
        if missing:
            raise ProxyStartError(f"the config refers to unset environment variable(s) {missing}: "
                                  "pass them in env={...}")
        return env

    def start(self) -> ProxyProcess:
        """Write the config, start the proxy and wait until it is ready (returns self)."""
        if self._proc is not None:
            raise RuntimeError("ProxyProcess is already started")
        if not self._litellm.exists():
            raise ProxyStartError(f"no litellm script at {self._litellm}: install the proxy with "
                                  'pip install "litellm-xacct[testing,proxy]"')
        self._write()
        assert self.workdir and self.config_path and self.log_path
        try:
            env = self._environment()
            if self.port is None:
                self.port = free_port(self.host)
            self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
            self._proc = subprocess.Popen(
                [str(self._litellm), "--config", str(self.config_path), "--host", self.host,
                 "--port", str(self.port), *self._cli],
                cwd=self.workdir, env=env, stdin=subprocess.DEVNULL, stdout=self._log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout
        url = self.base_url + "/health/liveliness"
        while True:
            code = self._proc.poll()
            if code is not None:
                raise ProxyStartError(f"the proxy exited with code {code} before it was ready; "
                                      f"log {self.log_path}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise ProxyStartError(f"the proxy was not ready after {self.startup_timeout:.0f} s; "
                                      f"log {self.log_path}:\n{self.log_tail()}")
            time.sleep(0.25)

    def stop(self) -> None:
        """Stop the proxy (SIGTERM, then SIGKILL) and remove its directory. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            self._signal(proc, signal.SIGTERM)
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._signal(proc, signal.SIGKILL)
                proc.wait(self.stop_timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.workdir is not None and not self._keep_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], signum: int) -> None:
        # The proxy was started in its own session: its process group id is its pid.
        try:
            os.killpg(proc.pid, signum)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signum)

    def __enter__(self) -> ProxyProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
