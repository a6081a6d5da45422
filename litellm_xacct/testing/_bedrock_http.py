"""The Bedrock stand-in's HTTP server: the loopback :class:`_Server` and the :class:`_Handler` that routes
``POST /model/{modelId}/<operation>`` to :meth:`BedrockService.handle <._bedrock.BedrockService.handle>`,
serves ``GET /_xacct/calls`` and ``/_xacct/health``, and writes JSON, errors and event streams."""

from __future__ import annotations

import json
import re
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ._loopback import LoopbackServerMixin

if TYPE_CHECKING:
    from ._bedrock import BedrockService

_ERROR_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
_OPERATIONS = {
    "converse": "Converse",
    "converse-stream": "ConverseStream",
    "invoke": "InvokeModel",
    "invoke-with-response-stream": "InvokeModelWithResponseStream",
}
# greedy model group: tolerates clients that leave the "/" of an inference-profile ARN unencoded
_ROUTE = re.compile(r"^/model/(?P<model>.+)/(?P<op>" + "|".join(map(re.escape, _OPERATIONS)) + r")$")


class _Server(LoopbackServerMixin, ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    allow_reuse_address = True
    service: BedrockService


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a fresh TCP connection per call would dominate timings
    timeout = 120  # idle keep-alive connections close eventually
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # silence the per-request stderr line

    # -- dispatch ------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/_xacct/health":
            self._send_json(200, {"status": "ok"})
        elif path == "/_xacct/calls":
            self._send_json(200, [c.to_dict() for c in self.server.service.calls()])
        else:
            self._send_error(404, "UnknownOperationException", "Unknown operation")

    def do_POST(self) -> None:
        body = self._read_body()
        if body is None:
            return
        raw_path = self.path.split("?", 1)[0]
        route = _ROUTE.match(raw_path)
        if route is None:
            self._send_error(404, "UnknownOperationException", "Unknown operation")
            return
        self.server.service.handle(self, _OPERATIONS[route["op"]], unquote(route["model"]), body)

    # -- wire helpers --------------------------------------------------------------------------------

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            self._send_error(400, "ValidationException", "Invalid Content-Length")
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _send_head(self, status: int, content_type: str, extra: dict[str, str], length: int | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in extra.items():
            self.send_header(name, value)
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _send_json(self, status: int, payload: Any, extra: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self._send_head(status, "application/json", extra or {}, len(data))
        self.wfile.write(data)

    def _send_error(self, status: int, code: str, message: str) -> None:
        self._send_json(status, {"message": message}, {"x-amzn-ErrorType": code + _ERROR_TYPE_SUFFIX})

    def _send_stream(self, frames: list[bytes], extra: dict[str, str], cut: bool = False) -> None:
        self._send_head(200, "application/vnd.amazon.eventstream", extra, None)
        try:
            for frame in frames:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))  # one chunk per frame
                self.wfile.flush()
            if cut:  # a dropped connection: no terminating chunk
                self.close_connection = True
                return
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # client went away mid-stream
