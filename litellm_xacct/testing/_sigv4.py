"""SigV4 verification for the Bedrock stand-in, the way AWS checks a request: :func:`verify_sigv4` (header
shape, service scope, key known, session token, clock skew, payload hash, then the signature recomputed
with botocore over exactly the headers the client signed)."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
from dataclasses import dataclass
from email.message import Message

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from ._fault_plans import Fault
from ._identities import Identities, Identity, IssuedCredential

_INVALID_TOKEN = "The security token included in the request is invalid."
_EXPIRED_TOKEN = "The security token included in the request is expired"
_BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)
_MAX_SKEW = datetime.timedelta(minutes=5)
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/"
    r"(?P<service>[^/,\s]+)/aws4_request,\s*SignedHeaders=(?P<signed>[a-z0-9;\-]+),\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})\s*$"
)


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
