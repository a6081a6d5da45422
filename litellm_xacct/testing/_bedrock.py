"""Bedrock runtime on loopback: verifies SigV4 like AWS does and answers with who signed the request.

Routes (POST): ``/model/{modelId}/converse``, ``/converse-stream``, ``/invoke``,
``/invoke-with-response-stream``; plus ``GET /_xacct/calls`` (the call log as JSON, for other
processes) and ``GET /_xacct/health``.

Every model call is verified (key known, session token present and signed, unexpired, clock skew within
5 minutes, signature recomputed with botocore over the headers the client signed), then recorded as a
:class:`BedrockCall`. The central (gateway) identity is refused with the ``AccessDeniedException`` of
the motivating bug report. Answers are deterministic and name the signer in the reply text; they are
synthesized in ``_answers``.

The SigV4 checks are in ``_sigv4``, the HTTP server in ``_bedrock_http``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ._answers import _Answer, model_answer
from ._bedrock_http import _Handler, _Server
from ._fault_plans import Fault, FaultPlan
from ._faults import Countdown, send_cut_stream
from ._identities import CENTRAL_ACCOUNT, Identities, Identity, IssuedCredential, StaticIdentity
from ._loopback import serve_in_thread, stop_server
from ._models import StreamFaults, shape
from ._sigv4 import _EXPIRED_TOKEN, verify_sigv4

CENTRAL_REFUSAL = (
    "Model use case details have not been submitted for this account. Fill out the Anthropic use case "
    "details form before using the model. If you have already filled out the form, try again in 15 minutes."
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
