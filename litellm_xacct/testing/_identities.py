"""The identities both stand-in servers share: the gateway's own :class:`StaticIdentity`, the :class:`Role`
ARNs STS lets callers assume, the :class:`IssuedCredential` each ``AssumeRole*`` answer hands out, and the
thread-safe :class:`Identities` registry the Bedrock fake verifies signatures against."""

from __future__ import annotations

import datetime
import secrets
import string
import threading
from dataclasses import dataclass, field

CENTRAL_ACCOUNT = "123456789012"
"""The gateway's own account; moto's default account, so moto treats the central keys as its own."""


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
