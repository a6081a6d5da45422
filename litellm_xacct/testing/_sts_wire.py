"""The STS stand-in's wire: AWS's STS error XML (:func:`sts_error`), the werkzeug server and handler classes
moto's app runs in, and the WSGI / form / XML helpers the middleware in ``_sts`` uses."""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from ._faults import reset_if_planned
from ._loopback import LoopbackServerMixin

_STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
WSGIEnviron = dict[str, Any]
StartResponse = Callable[..., Any]
Answer = tuple[int, list[tuple[str, str]], bytes]


def sts_error(code: str, message: str, status: int) -> Answer:
    """AWS's STS error XML, which botocore parses into ``ClientError.response["Error"]``."""
    kind = "Sender" if status < 500 else "Receiver"
    body = (
        f'<ErrorResponse xmlns="{_STS_NS}"><Error><Type>{kind}</Type><Code>{_xml(code)}</Code>'
        f"<Message>{_xml(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()
    return status, [("Content-Type", "text/xml")], body


_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 500: "Internal Server Error",
            503: "Service Unavailable"}
_CREDENTIAL_RE = re.compile(r"Credential=([^/,\s]+)/")


def _werkzeug_classes() -> tuple[type[Any], type[Any]]:
    """The server/handler classes, built on first use so werkzeug and moto load only when started."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import ThreadedWSGIServer

    class Handler(MotoRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive; set here so werkzeug does not patch the class

        def handle_one_request(self) -> None:
            if not reset_if_planned(self, getattr(self.server, "xacct_resets", None)):
                super().handle_one_request()

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass  # no per-request line on stderr

    class Server(LoopbackServerMixin, ThreadedWSGIServer):
        daemon_threads = True

    return Server, Handler


def _read_input(environ: WSGIEnviron) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ["wsgi.input"]
    return bytes(stream.read(length)) if length > 0 else b""


def _peer(environ: WSGIEnviron) -> str | None:
    addr, port = environ.get("REMOTE_ADDR"), environ.get("REMOTE_PORT")
    return f"{addr}:{port}" if addr and port else None


def _is_form(environ: WSGIEnviron) -> bool:
    return str(environ.get("CONTENT_TYPE", "")).startswith("application/x-www-form-urlencoded")


def _access_key_id(environ: WSGIEnviron, params: dict[str, str]) -> str | None:
    match = _CREDENTIAL_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match:
        return match.group(1)
    credential = params.get("X-Amz-Credential")  # presigned query
    return credential.split("/", 1)[0] if credential else None


def _override_param(environ: WSGIEnviron, body: bytes, form: bool, name: str,
                    value: str) -> tuple[bytes, WSGIEnviron]:
    """Set one parameter wherever the request carries them (form body, else query string)."""

    def rewrite(encoded: str) -> str:
        pairs = [(k, v) for k, v in parse_qsl(encoded, keep_blank_values=True) if k != name]
        return urlencode([*pairs, (name, value)])

    if form and b"Action=" in body:
        return rewrite(body.decode()).encode(), environ
    return body, dict(environ, QUERY_STRING=rewrite(environ.get("QUERY_STRING", "")))


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _xml_values(payload: bytes, tags: Iterable[str]) -> dict[str, str]:
    """The text of the first element with each local name (namespaces ignored)."""
    wanted, found = set(tags), {}
    try:
        root = ET.fromstring(payload)
    except ET.ParseError:
        return {}
    for element in root.iter():
        local = element.tag.rsplit("}", 1)[-1]
        if local in wanted and local not in found and element.text:
            found[local] = element.text
    return found


def _xml_error_code(payload: bytes) -> str | None:
    return _xml_values(payload, ("Code",)).get("Code")
