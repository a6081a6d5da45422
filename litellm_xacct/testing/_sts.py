"""STS on loopback: moto's real STS server behind a middleware that records, faults and enforces trust.

moto issues the temporary credentials (so ``AssumeRole`` chains and ``GetCallerIdentity`` behave like
AWS); the middleware in front of it adds what moto leaves out and tests need:

* trust: only registered :class:`Role` ARNs may be assumed, and a role's external id is enforced;
* recording: every request becomes a :class:`StsCall` with its original form parameters;
* faults: injected AWS error responses, an added delay, and a forced credential lifetime;
* the credentials each ``AssumeRole*`` answer hands out are remembered in :class:`Identities`, which
  the Bedrock stand-in uses to verify signatures (so it accepts only keys *this* stand-in issued).

This module also holds the identity and fault types both servers share.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import re
import secrets
import socket
import string
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from ._faults import Countdown, reset_if_planned

CENTRAL_ACCOUNT = "123456789012"
"""The gateway's own account; moto's default account, so moto treats the central keys as its own."""

_STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
_MASKED_PARAMS = frozenset({"WebIdentityToken", "SAMLAssertion"})  # bearer secrets: never in a repr
_ASSUME_ACTIONS = frozenset({"AssumeRole", "AssumeRoleWithWebIdentity"})

WSGIEnviron = dict[str, Any]
StartResponse = Callable[..., Any]
Answer = tuple[int, list[tuple[str, str]], bytes]


# ---------------------------------------------------------------------------------------------------
# Identities
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Role:
    """An IAM role the stand-in lets callers assume; ``external_id`` (if set) must match exactly."""

    arn: str
    external_id: str | None = None

    @property
    def account(self) -> str:
        """The 12-digit account in the ARN."""
        return self.arn.split(":")[4]

    @property
    def name(self) -> str:
        """The role name (the last path segment of the ARN)."""
        return self.arn.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class StaticIdentity:
    """Long-lived IAM user keys: the gateway's own ("central") identity. The secret is not in the repr."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    account: str = CENTRAL_ACCOUNT
    arn: str = f"arn:aws:iam::{CENTRAL_ACCOUNT}:user/gateway"

    @classmethod
    def generate(cls, account: str = CENTRAL_ACCOUNT, user: str = "gateway") -> StaticIdentity:
        """Fresh random keys shaped like real ones (``AKIA`` + 16, 40-character secret)."""
        key_id = "AKIA" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16))
        secret = "".join(secrets.choice(string.ascii_letters + string.digits + "+/") for _ in range(40))
        return cls(key_id, secret, account, f"arn:aws:iam::{account}:user/{user}")


@dataclass(frozen=True)
class IssuedCredential:
    """Temporary credentials an ``AssumeRole*`` answer handed out. Secrets are not in the repr."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    account: str
    principal_arn: str  # arn:aws:sts::ACCT:assumed-role/NAME/SESSION
    role_arn: str
    session_name: str
    expiration: datetime.datetime  # timezone-aware UTC

    def expired(self) -> bool:
        return datetime.datetime.now(datetime.timezone.utc) >= self.expiration


Identity = StaticIdentity | IssuedCredential


class Identities:
    """Thread-safe registry of every key the stand-in knows: the central keys and issued credentials."""

    def __init__(self, central: StaticIdentity) -> None:
        self.central = central
        self._issued: dict[str, IssuedCredential] = {}
        self._lock = threading.Lock()

    def remember(self, credential: IssuedCredential) -> None:
        with self._lock:
            self._issued[credential.access_key_id] = credential

    def issued_secrets(self) -> list[str]:
        """The secret key and session token of every credential issued so far."""
        with self._lock:
            return [s for c in self._issued.values() for s in (c.secret_access_key, c.session_token)]

    def lookup(self, access_key_id: str | None) -> Identity | None:
        """The identity owning ``access_key_id``, or None for an unknown (or absent) key."""
        if access_key_id is None:
            return None
        if access_key_id == self.central.access_key_id:
            return self.central
        with self._lock:
            return self._issued.get(access_key_id)

    def caller_arn(self, access_key_id: str | None) -> str:
        """The ARN AWS would name in an AccessDenied message for a caller signing with this key."""
        identity = self.lookup(access_key_id)
        if isinstance(identity, StaticIdentity):
            return identity.arn
        if isinstance(identity, IssuedCredential):
            return identity.principal_arn
        return f"arn:aws:sts::{CENTRAL_ACCOUNT}:user/moto"  # what moto itself answers for unknown keys


# ---------------------------------------------------------------------------------------------------
# Faults and call records
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """An injected AWS error: error ``code``, HTTP ``status`` and ``message``."""

    code: str
    status: int
    message: str


class FaultPlan:
    """A thread-safe "fail the next N calls" switch; ``count=None`` fails until :meth:`clear`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fault: Fault | None = None
        self._remaining: int | None = None

    def set(self, fault: Fault, count: int | None) -> None:
        if count is not None and count < 0:
            raise ValueError("count must be >= 0 or None")
        with self._lock:
            self._fault, self._remaining = fault, count

    def take(self) -> Fault | None:
        """The fault to apply to this call (consuming one of the count), or None."""
        with self._lock:
            if self._fault is None:
                return None
            if self._remaining is not None:
                if self._remaining <= 0:
                    self._fault = None
                    return None
                self._remaining -= 1
            return self._fault

    def clear(self) -> None:
        with self._lock:
            self._fault, self._remaining = None, None


class RateLimit:
    """A token bucket in front of STS, like AWS's per-account request quota: beyond ``rate`` calls per
    second (bursts up to ``burst``) a call gets ``Throttling``. Off until :meth:`set`; thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._rate: float | None = None
        self._burst = 0.0
        self._tokens = 0.0
        self._at = 0.0

    def set(self, rate: float | None, burst: float | None = None) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be > 0 calls per second, or None to turn throttling off")
        with self._lock:
            self._rate = rate
            self._burst = self._tokens = float(burst if burst is not None else (rate or 0.0))
            self._at = self._clock()

    def take(self) -> Fault | None:
        """None if this call is within the quota, else the ``Throttling`` fault to answer with."""
        with self._lock:
            if self._rate is None:
                return None
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
            self._at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return None
        return Fault("Throttling", 400, default_sts_message("Throttling"))

    def clear(self) -> None:
        self.set(None)


@dataclass(frozen=True)
class StsCall:
    """One request the STS stand-in received.

    ``params`` are the decoded form/query parameters *as the client sent them* (before any
    ``credential_lifetime`` rewrite); ``access_key_id`` comes from the Authorization header (None when
    unsigned); ``at`` is ``time.time()`` on arrival; ``peer`` is the caller's ``host:port`` (which
    process made the call can be found from its port). Bearer tokens in ``params`` are masked in the repr.
    """

    action: str
    params: dict[str, str] = field(repr=False)
    access_key_id: str | None
    status: int
    error_code: str | None
    at: float
    peer: str | None = None

    def __repr__(self) -> str:
        shown = {k: ("***" if k in _MASKED_PARAMS else v) for k, v in self.params.items()}
        return (
            f"StsCall(action={self.action!r}, params={shown!r}, access_key_id={self.access_key_id!r}, "
            f"status={self.status}, error_code={self.error_code!r}, at={self.at!r}, peer={self.peer!r})"
        )


# ---------------------------------------------------------------------------------------------------
# Loopback server plumbing shared by both servers
# ---------------------------------------------------------------------------------------------------


class LoopbackServerMixin:
    """Socket tweaks for a local stand-in under load, mixed into a ``socketserver.TCPServer`` subclass.

    A deep listen backlog (no resets under a burst of connections), TCP_NODELAY on every accepted
    socket (no ~25 ms Nagle/delayed-ACK stall per keep-alive request), and tracking of open connections
    so :meth:`close_connections` can end idle keep-alive handler threads on stop.
    """

    request_queue_size = 512

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()  # type: ignore[misc]
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._open_lock:
            self._open.add(sock)
        return sock, addr

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)  # type: ignore[misc]

    def close_connections(self) -> None:
        """Shut down every accepted connection still open (idle keep-alives would otherwise linger)."""
        with self._open_lock:
            open_now = list(self._open)
        for sock in open_now:
            with contextlib.suppress(OSError):  # already closed by the peer
                sock.shutdown(socket.SHUT_RDWR)


def serve_in_thread(server: Any, name: str) -> threading.Thread:
    """Run ``server.serve_forever`` on a daemon thread; a short poll keeps ``shutdown()`` quick."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name,
                              daemon=True)
    thread.start()
    return thread


def stop_server(server: Any, thread: threading.Thread | None) -> None:
    """Stop accepting, end open connections, close the socket and join the serving thread."""
    server.shutdown()
    server.close_connections()
    server.server_close()
    if thread is not None:
        thread.join(timeout=5)


# ---------------------------------------------------------------------------------------------------
# The STS service
# ---------------------------------------------------------------------------------------------------


def sts_error(code: str, message: str, status: int) -> Answer:
    """AWS's STS error XML, which botocore parses into ``ClientError.response["Error"]``."""
    kind = "Sender" if status < 500 else "Receiver"
    body = (
        f'<ErrorResponse xmlns="{_STS_NS}"><Error><Type>{kind}</Type><Code>{_xml(code)}</Code>'
        f"<Message>{_xml(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()
    return status, [("Content-Type", "text/xml")], body


_STS_DEFAULT_MESSAGES = {
    "Throttling": "Rate exceeded",
    "InternalFailure": "An internal error occurred.",
    "ServiceUnavailable": "Service is unavailable. Please try again later.",
}


def default_sts_message(code: str) -> str:
    return _STS_DEFAULT_MESSAGES.get(code, f"Injected {code} fault")


class StsService:
    """moto's STS (real HTTP, werkzeug threaded server) behind the recording/trust/fault middleware."""

    def __init__(self, identities: Identities, roles: Iterable[Role] = (), port: int = 0) -> None:
        self.identities = identities
        self.delay = 0.0
        self.credential_lifetime: int | None = None
        self.faults = FaultPlan()
        self.rate_limit = RateLimit()
        self.resets = Countdown()  # connection resets (testing/_faults.py)
        self._port = port
        self._roles: dict[str, Role] = {}
        self._calls: list[StsCall] = []
        self._lock = threading.Lock()
        self._moto_app: Callable[[WSGIEnviron, StartResponse], Iterable[bytes]] | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        for role in roles:
            self.add_role(role)

    # -- configuration and logs ----------------------------------------------------------------------

    def add_role(self, role: Role) -> None:
        with self._lock:
            self._roles[role.arn] = role

    def roles(self) -> list[Role]:
        with self._lock:
            return list(self._roles.values())

    def calls(self, action: str | None = None) -> list[StsCall]:
        with self._lock:
            return [c for c in self._calls if action is None or c.action == action]

    def clear_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    # -- lifecycle -----------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError("LocalAWS is not started: call start() or use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        # moto is imported here, not at module import: importing the package must stay side-effect free
        try:
            from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        except ImportError as exc:  # name the extra that brings moto's server (flask, werkzeug ...)
            raise ModuleNotFoundError(f"LocalAWS needs moto's STS server, but {exc.name or exc} is not installed. "
                                      'Install it with: pip install "litellm-xacct[testing]"', name=exc.name) from exc

        self._moto_app = DomainDispatcherApplication(create_backend_app)
        server_cls, handler_cls = _werkzeug_classes()
        self._server = server_cls("127.0.0.1", self._port, self, handler=handler_cls)
        self._server.xacct_resets = self.resets
        self._thread = serve_in_thread(self._server, "xacct-sts")

    def stop(self) -> None:
        if self._server is not None:
            stop_server(self._server, self._thread)
        self._server, self._thread = None, None

    # -- the WSGI middleware -------------------------------------------------------------------------

    def __call__(self, environ: WSGIEnviron, start_response: StartResponse) -> list[bytes]:
        arrived = time.time()
        body = _read_input(environ)
        form = _is_form(environ)
        query = environ.get("QUERY_STRING", "")
        params = dict(parse_qsl(query, keep_blank_values=True))
        if form:
            params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        action = params.get("Action", "")
        key_id = _access_key_id(environ, params)
        if self.delay:
            time.sleep(self.delay)
        status, headers, payload = self._answer(environ, body, form, params, action, key_id)
        error_code = _xml_error_code(payload) if status >= 400 else None
        with self._lock:
            self._calls.append(StsCall(action, params, key_id, status, error_code, arrived, _peer(environ)))
        headers = [(k, v) for k, v in headers if k.lower() not in ("content-length", "transfer-encoding")]
        headers.append(("Content-Length", str(len(payload))))
        start_response(f"{status} {_REASONS.get(status, 'Status')}", headers)
        return [payload]

    def _answer(self, environ: WSGIEnviron, body: bytes, form: bool, params: dict[str, str], action: str,
                key_id: str | None) -> Answer:
        fault = self.faults.take() or self.rate_limit.take()
        if fault is not None:
            return sts_error(fault.code, fault.message, fault.status)
        refused = self._check_caller(environ, key_id)
        if refused is not None:
            return refused
        if action in _ASSUME_ACTIONS:
            refused = self._check_trust(action, params, key_id)
            if refused is not None:
                return refused
            if self.credential_lifetime is not None:
                body, environ = _override_param(environ, body, form, "DurationSeconds",
                                                str(self.credential_lifetime))
        if action == "GetCallerIdentity" and key_id == self.identities.central.access_key_id:
            return self._central_caller_identity()
        status, headers, payload = self._call_moto(environ, body)
        if status == 200 and action in _ASSUME_ACTIONS:
            self._remember_issued(payload, params)
        return status, headers, payload

    def _check_caller(self, environ: WSGIEnviron, key_id: str | None) -> Answer | None:
        """Temporary keys must carry their session token and be unexpired, as AWS requires."""
        identity = self.identities.lookup(key_id)
        if not isinstance(identity, IssuedCredential):
            return None
        token = environ.get("HTTP_X_AMZ_SECURITY_TOKEN", "")
        if not secrets.compare_digest(token.encode(), identity.session_token.encode()):
            return sts_error("InvalidClientTokenId", "The security token included in the request is invalid.",
                             403)
        if identity.expired():
            return sts_error("ExpiredToken", "The security token included in the request is expired", 400)
        return None

    def _check_trust(self, action: str, params: dict[str, str], key_id: str | None) -> Answer | None:
        role_arn = params.get("RoleArn")
        if not role_arn:
            return sts_error("ValidationError", "1 validation error detected: Value null at 'roleArn' failed "
                             "to satisfy constraint: Member must not be null", 400)
        with self._lock:
            role = self._roles.get(role_arn)
        if action == "AssumeRoleWithWebIdentity":
            denied = role is None
            message = "Not authorized to perform sts:AssumeRoleWithWebIdentity"
        else:
            denied = role is None or (role.external_id is not None
                                      and params.get("ExternalId") != role.external_id)
            caller = self.identities.caller_arn(key_id)
            message = f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
        return sts_error("AccessDenied", message, 403) if denied else None

    def _central_caller_identity(self) -> Answer:
        # moto would call the central keys "user/moto"; answer with the identity the stand-in advertises
        central = self.identities.central
        body = (
            f'<GetCallerIdentityResponse xmlns="{_STS_NS}"><GetCallerIdentityResult>'
            f"<Arn>{_xml(central.arn)}</Arn><UserId>AIDA{central.access_key_id[4:]}</UserId>"
            f"<Account>{central.account}</Account></GetCallerIdentityResult>"
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
            "</GetCallerIdentityResponse>"
        ).encode()
        return 200, [("Content-Type", "text/xml")], body

    def _call_moto(self, environ: WSGIEnviron, body: bytes) -> Answer:
        assert self._moto_app is not None
        environ = dict(environ, **{"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))})
        captured: dict[str, Any] = {}
        chunks: list[bytes] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            captured["status"], captured["headers"] = status, headers
            return chunks.append

        result = self._moto_app(environ, capture)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return int(captured["status"].split()[0]), list(captured["headers"]), b"".join(chunks)

    def _remember_issued(self, payload: bytes, params: dict[str, str]) -> None:
        from botocore.utils import parse_timestamp

        values = _xml_values(payload, ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration", "Arn"))
        if len(values) < 5:
            return  # not a credentials answer: nothing to remember
        principal = values["Arn"]
        self.identities.remember(IssuedCredential(
            access_key_id=values["AccessKeyId"],
            secret_access_key=values["SecretAccessKey"],
            session_token=values["SessionToken"],
            account=principal.split(":")[4],
            principal_arn=principal,
            role_arn=params.get("RoleArn", ""),
            session_name=params.get("RoleSessionName", principal.rsplit("/", 1)[-1]),
            expiration=parse_timestamp(values["Expiration"]),
        ))


# ---------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------

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
