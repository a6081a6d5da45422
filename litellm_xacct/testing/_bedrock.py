"""Bedrock runtime on loopback: verifies SigV4 like AWS does and answers with who signed the request.

Routes (POST): ``/model/{modelId}/converse``, ``/converse-stream``, ``/invoke``,
``/invoke-with-response-stream``; plus ``GET /_xacct/calls`` (the call log as JSON, for other
processes) and ``GET /_xacct/health``.

Every model call is verified (key known, session token present and signed, unexpired, clock skew within
5 minutes, signature recomputed with botocore over the headers the client signed), then recorded as a
:class:`BedrockCall`. The central (gateway) identity is refused with the ``AccessDeniedException`` of
the motivating bug report. Answers are deterministic and name the signer in the reply text; they are
synthesized in ``_answers``.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from ._answers import _Answer, model_answer
from ._fault_plans import Fault, FaultPlan
from ._faults import Countdown, send_cut_stream
from ._identities import CENTRAL_ACCOUNT, Identities, Identity, IssuedCredential, StaticIdentity
from ._loopback import LoopbackServerMixin, serve_in_thread, stop_server
from ._models import StreamFaults, shape

CENTRAL_REFUSAL = (
    "Model use case details have not been submitted for this account. Fill out the Anthropic use case "
    "details form before using the model. If you have already filled out the form, try again in 15 minutes."
)
_INVALID_TOKEN = "The security token included in the request is invalid."
_EXPIRED_TOKEN = "The security token included in the request is expired"
_BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)
_ERROR_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
_MAX_SKEW = datetime.timedelta(minutes=5)
_OPERATIONS = {
    "converse": "Converse",
    "converse-stream": "ConverseStream",
    "invoke": "InvokeModel",
    "invoke-with-response-stream": "InvokeModelWithResponseStream",
}
# greedy model group: tolerates clients that leave the "/" of an inference-profile ARN unencoded
_ROUTE = re.compile(r"^/model/(?P<model>.+)/(?P<op>" + "|".join(map(re.escape, _OPERATIONS)) + r")$")
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/"
    r"(?P<service>[^/,\s]+)/aws4_request,\s*SignedHeaders=(?P<signed>[a-z0-9;\-]+),\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})\s*$"
)
_BEDROCK_DEFAULT_MESSAGES = {
    "ExpiredTokenException": _EXPIRED_TOKEN,
    "ThrottlingException": "Too many requests, please wait before trying again.",
    "ServiceUnavailableException": "Bedrock is unable to process your request.",
    "ModelNotReadyException": "Model is not ready for inference. Wait and try your request again.",
    "InternalServerException": "The server encountered an internal error.",
    "AccessDeniedException": "You don't have access to the model with the specified model ID.",
    "ValidationException": "The provided model identifier is invalid.",
    "ResourceNotFoundException": "Model not found.",
}
#: HTTP status Bedrock answers each model-access refusal with (deny_model's default)
DENIAL_STATUS = {"AccessDeniedException": 403, "ValidationException": 400, "ResourceNotFoundException": 404}


def default_bedrock_message(code: str) -> str:
    return _BEDROCK_DEFAULT_MESSAGES.get(code, f"Injected {code} fault")


@dataclass(frozen=True)
class BedrockCall:
    """One model call the Bedrock stand-in received, refused ones included.

    ``account`` / ``principal_arn`` / ``role_arn`` / ``session_name`` describe the owner of the signing
    key whenever the key is known (even if the call was then refused); the central identity has
    ``account == CENTRAL_ACCOUNT`` and no role. ``region`` comes from the credential scope, ``model_id``
    is URL-decoded, ``body`` is the parsed JSON request body (None if absent or not JSON). ``headers``
    are the received headers, left out of the repr and of :meth:`to_dict` (they carry the session token).
    ``peer`` is the caller's ``host:port`` (which process sent the call can be found from its port).
    """

    operation: str
    model_id: str
    access_key_id: str | None
    account: str | None
    principal_arn: str | None
    role_arn: str | None
    session_name: str | None
    region: str | None
    status: int
    error_code: str | None
    body: dict[str, Any] | None
    headers: dict[str, str] = field(repr=False)
    at: float
    peer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, without ``headers`` (what ``GET /_xacct/calls`` serves)."""
        data = asdict(self)
        del data["headers"]
        return data


# ---------------------------------------------------------------------------------------------------
# SigV4 verification
# ---------------------------------------------------------------------------------------------------


@dataclass
class _Auth:
    """Outcome of verifying one request; ``error`` is None when the signature holds."""

    access_key_id: str | None = None
    region: str | None = None
    identity: Identity | None = None
    error: Fault | None = None


class _SignedHeadersSigV4(SigV4Auth):  # botocore ships no type hints
    """botocore's SigV4 over exactly the headers the client listed in SignedHeaders, as AWS computes it."""

    def __init__(self, credentials: Credentials, region: str, signed: list[tuple[str, str]]) -> None:
        super().__init__(credentials, "bedrock", region)
        self._signed = signed

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        headers = HTTPHeaders()
        for name, value in self._signed:
            headers[name] = value  # Message.__setitem__ appends: repeated headers keep their order
        return headers


def _denied(auth: _Auth, code: str, message: str, status: int = 403) -> _Auth:
    auth.error = Fault(code, status, message)
    return auth


def verify_sigv4(identities: Identities, method: str, path: str, headers: Message, body: bytes,
                 now: datetime.datetime | None = None) -> _Auth:
    """Check a request's SigV4 ``Authorization`` the way AWS does.

    ``path`` is the request target exactly as received (still URL-encoded, query included). Checks, in
    order: header present and well-formed, scoped to ``bedrock``, ``X-Amz-Date`` present, key known,
    session token present/signed/matching and unexpired (temporary keys), clock skew <= 5 minutes,
    ``X-Amz-Content-SHA256`` (if sent) matches the body, signature matches. The result names the
    signer whenever the key is known, even when ``error`` is set.
    """
    auth = _Auth()
    header = headers.get("Authorization")
    if not header:
        return _denied(auth, "MissingAuthenticationTokenException", "Missing Authentication Token")
    key_match = re.search(r"Credential=([^/,\s]+)/", header)
    auth.access_key_id = key_match.group(1) if key_match else None
    parsed = _AUTH.match(header)
    if parsed is None:
        return _denied(auth, "IncompleteSignatureException",
                       "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
                       f"parameters of the AWS4-HMAC-SHA256 scheme. Authorization={header.split(' ')[0]}")
    auth.region = parsed["region"]
    if parsed["service"] != "bedrock":
        return _denied(auth, "InvalidSignatureException", "Credential should be scoped to correct service: "
                       "'bedrock'. ")
    amz_date = headers.get("X-Amz-Date")
    if not amz_date:
        return _denied(auth, "IncompleteSignatureException",
                       "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    auth.identity = identity = identities.lookup(auth.access_key_id)
    if identity is None:
        return _denied(auth, "UnrecognizedClientException", _INVALID_TOKEN)
    signed_names = parsed["signed"].split(";")
    token: str | None = None
    if isinstance(identity, IssuedCredential):
        token = headers.get("X-Amz-Security-Token")
        if (token is None or "x-amz-security-token" not in signed_names
                or not hmac.compare_digest(token.encode(), identity.session_token.encode())):
            return _denied(auth, "UnrecognizedClientException", _INVALID_TOKEN)
        if identity.expired():
            return _denied(auth, "ExpiredTokenException", _EXPIRED_TOKEN)
    skew = _clock_skew_error(amz_date, now or datetime.datetime.now(datetime.timezone.utc))
    if skew is not None:
        return _denied(auth, "InvalidSignatureException", skew)
    sent_hash = headers.get("X-Amz-Content-SHA256")
    if sent_hash and sent_hash != "UNSIGNED-PAYLOAD" and sent_hash != hashlib.sha256(body).hexdigest():
        return _denied(auth, "InvalidSignatureException",
                       "The provided 'x-amz-content-sha256' header does not match what was computed.")
    expected = _expected_signature(identity, token, parsed["region"], method, path, headers,
                                   signed_names, amz_date, body)
    if not hmac.compare_digest(expected, parsed["signature"]):
        return _denied(auth, "InvalidSignatureException", _BAD_SIGNATURE)
    return auth


def _expected_signature(identity: Identity, token: str | None, region: str, method: str, path: str,
                        headers: Message, signed_names: list[str], amz_date: str, body: bytes) -> str:
    signed = [(name, value) for name in signed_names for value in (headers.get_all(name) or [])]
    host = headers.get("Host", "")
    # botocore quotes the path again when signing (non-S3), so the raw received path is the right input
    request = AWSRequest(method=method, url=f"http://{host}{path}", data=body, headers=dict(signed))
    request.context["timestamp"] = amz_date
    signer = _SignedHeadersSigV4(Credentials(identity.access_key_id, identity.secret_access_key, token),
                                 region, signed)
    canonical = signer.canonical_request(request)
    return str(signer.signature(signer.string_to_sign(request, canonical), request))


def _clock_skew_error(amz_date: str, now: datetime.datetime) -> str | None:
    fmt = "%Y%m%dT%H%M%SZ"
    try:
        signed_at = datetime.datetime.strptime(amz_date, fmt).replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'."
    if signed_at < now - _MAX_SKEW:
        return (f"Signature expired: {amz_date} is now earlier than {(now - _MAX_SKEW).strftime(fmt)} "
                f"({now.strftime(fmt)} - 5 min.)")
    if signed_at > now + _MAX_SKEW:
        return (f"Signature expired: {amz_date} is now later than {(now + _MAX_SKEW).strftime(fmt)} "
                f"({now.strftime(fmt)} + 5 min.)")
    return None


# ---------------------------------------------------------------------------------------------------
# HTTP server
# ---------------------------------------------------------------------------------------------------


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


class BedrockService:
    """The Bedrock runtime fake: call log, faults, delay, and the HTTP server's lifecycle."""

    def __init__(self, identities: Identities, port: int = 0) -> None:
        self.identities = identities
        self.delay = 0.0
        self.faults = FaultPlan()
        self.stream_faults = StreamFaults()  # cut / truncate streamed answers (testing/_models)
        self.stream_cuts = Countdown()  # streams cut mid-way (testing/_faults.py)
        self._port = port
        self._calls: list[BedrockCall] = []
        self._lock = threading.Lock()
        self.denials: dict[tuple[str, str], Fault] = {}  # (account, model id or "*") -> refusal
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError("LocalAWS is not started: call start() or use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._server = _Server(("127.0.0.1", self._port), _Handler)
        self._server.service = self
        self._thread = serve_in_thread(self._server, "xacct-bedrock")

    def stop(self) -> None:
        if self._server is not None:
            stop_server(self._server, self._thread)
        self._server, self._thread = None, None

    def calls(self) -> list[BedrockCall]:
        with self._lock:
            return list(self._calls)

    def clear_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    # -- one model call ------------------------------------------------------------------------------

    def handle(self, handler: _Handler, operation: str, model_id: str, raw_body: bytes) -> None:
        """Verify, record and answer one model call (called on the connection's handler thread)."""
        arrived = time.time()
        auth = verify_sigv4(self.identities, handler.command, handler.path, handler.headers, raw_body)
        identity = auth.identity
        error = auth.error
        if error is None and isinstance(identity, StaticIdentity):
            error = Fault("AccessDeniedException", 403, CENTRAL_REFUSAL)  # the gateway's own account
        if error is None:
            error = self.model_denial(identity, model_id)
        if error is None:
            error = self.faults.take()  # after verification, so the log still names the signer
        if self.delay:
            time.sleep(self.delay)
        body = _parse_json(raw_body)
        answer: _Answer | Fault = error or model_answer(operation, model_id, body, identity)
        issued = identity if isinstance(identity, IssuedCredential) else None
        self._record(BedrockCall(
            operation=operation,
            model_id=model_id,
            access_key_id=auth.access_key_id,
            account=identity.account if identity else None,
            principal_arn=_principal(identity),
            role_arn=issued.role_arn if issued else None,
            session_name=issued.session_name if issued else None,
            region=auth.region,
            status=answer.status if isinstance(answer, Fault) else 200,
            error_code=answer.code if isinstance(answer, Fault) else None,
            body=body,
            headers=dict(handler.headers.items()),
            at=arrived,
            peer=f"{handler.client_address[0]}:{handler.client_address[1]}",
        ))  # recorded before answering, so a client that has its reply also sees the log entry
        if isinstance(answer, Fault):
            handler._send_error(answer.status, answer.code, answer.message)
            return
        extra = {"x-xacct-account": identity.account if identity else "",
                 "x-xacct-principal": _principal(identity) or ""}
        if isinstance(answer, list) and self.stream_cuts.take():
            send_cut_stream(handler, answer, extra, self.stream_cuts.after_frames)
        elif isinstance(answer, list):
            frames, cut = shape(answer, self.stream_faults.take())
            handler._send_stream(frames, extra, cut=cut)
        else:
            payload, more = answer
            handler._send_json(200, payload, {**extra, **more})

    def model_denial(self, identity: Identity | None, model_id: str) -> Fault | None:
        """The refusal configured for this signer's account and model (``LocalAWS.deny_model``), if any."""
        if identity is None:
            return None
        with self._lock:
            return self.denials.get((identity.account, model_id)) or self.denials.get((identity.account, "*"))

    def _record(self, call: BedrockCall) -> None:
        with self._lock:
            self._calls.append(call)


def _principal(identity: Identity | None) -> str | None:
    if isinstance(identity, IssuedCredential):
        return identity.principal_arn
    return identity.arn if identity else None


def _parse_json(raw: bytes) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


__all__ = ["CENTRAL_ACCOUNT", "CENTRAL_REFUSAL", "BedrockCall", "BedrockService", "verify_sigv4"]
