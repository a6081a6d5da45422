"""STS on loopback: moto's real STS server behind a middleware that records, faults and enforces trust.

moto issues the temporary credentials (so ``AssumeRole`` chains and ``GetCallerIdentity`` behave like
AWS); the middleware in front of it adds what moto leaves out and tests need:

* trust: only registered :class:`Role` ARNs may be assumed, and a role's external id is enforced;
* recording: every request becomes a :class:`StsCall` with its original form parameters;
* faults: injected AWS error responses, an added delay, and a forced credential lifetime;
* the credentials each ``AssumeRole*`` answer hands out are remembered in :class:`Identities`, which
  the Bedrock stand-in uses to verify signatures (so it accepts only keys *this* stand-in issued).

The identity types live in ``_identities``, the AWS-error faults in ``_fault_plans``, the wire helpers in
``_sts_wire``; the names :mod:`litellm_xacct.testing` takes from here are re-exported.
"""

from __future__ import annotations

import io
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from ._fault_plans import Fault, FaultPlan, RateLimit, default_sts_message
from ._faults import Countdown
from ._identities import CENTRAL_ACCOUNT, Identities, IssuedCredential, Role, StaticIdentity
from ._loopback import serve_in_thread, stop_server
from ._sts_wire import (
    _REASONS,
    _STS_NS,
    Answer,
    StartResponse,
    WSGIEnviron,
    _access_key_id,
    _is_form,
    _override_param,
    _peer,
    _read_input,
    _werkzeug_classes,
    _xml,
    _xml_error_code,
    _xml_values,
    sts_error,
)

__all__ = ["CENTRAL_ACCOUNT", "Fault", "Identities", "Role", "StaticIdentity", "StsCall", "StsService",
           "default_sts_message"]

_MASKED_PARAMS = frozenset({"WebIdentityToken", "SAMLAssertion"})  # bearer secrets: never in a repr
_ASSUME_ACTIONS = frozenset({"AssumeRole", "AssumeRoleWithWebIdentity"})


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
