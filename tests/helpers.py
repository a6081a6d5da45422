"""Helpers shared by the tests."""

from __future__ import annotations

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from litellm_xacct._names import SHIM_SOURCE

REPO = Path(__file__).resolve().parent.parent
GUARD_SHIM = SHIM_SOURCE


def hide_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drop this checkout from PYTHONPATH: `check`'s import probe inherits it, and would otherwise find the
    repository's own xacct_handler.py where the proxy would find none."""
    kept = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
            if p and os.path.realpath(p) != os.path.realpath(REPO)]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(kept))


def armed_example(directory: Path, source: Path = REPO / "example_config.yaml") -> Path:
    """A copy of example_config.yaml with the proxy guard armed (``litellm_settings.callbacks`` and the shim
    importing ``guard``), whether or not the repository's copy arms it yet. Returns the config's path."""
    doc: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    settings = doc.setdefault("litellm_settings", {})
    callbacks = [c for c in settings.get("callbacks") or [] if c != "xacct_handler.guard"]
    settings["callbacks"] = [*callbacks, "xacct_handler.guard"]
    path = directory / "example_config.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    (directory / "xacct_handler.py").write_text(GUARD_SHIM, encoding="utf-8")
    return path


class Listener:
    """An attacker's host on another 127.0.0.1 port: records every request it receives (and answers 500)."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                hits.append(f"{self.command} {self.path}")
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = _record

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
