"""Fetchers: one small class per credential source, and the assume-role hop, behind one protocol.

A deployment's credentials are a chain of fetchers, each its own cache entry (so hops refresh on their
own): a *source* (static keys, a botocore profile / default chain, or a web identity token that assumes
the first role itself), then one :class:`AssumeRoleHop` per further role, each signed by its parent's
lease. Adding a source = one fetcher class + one line in :data:`SOURCES`.

Every STS call goes through :func:`.sts.paced_call` (the budget, retries and error classification).
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.credentials import ReadOnlyCredentials
from botocore.exceptions import BotoCoreError

from .._config import DeploymentConfig
from .._errors import (
    CredentialError,
)
from .._sources import DefaultChain, Profile, StaticKeys, WebIdentity
from .clients import ClientFactory
from .lease import Lease
from .pacing import Budgets, ColdRetry, Ticket
from .sts import assume_role_kwargs, paced_call

log = logging.getLogger("litellm_xacct")

SOURCE_LEASE_SECONDS = 300.0  # how often a profile/default-chain source is re-read from botocore


@dataclass(frozen=True)
class FetchEnv:
    """The engine's collaborators, shared by every fetch (injected: tests step ``clock`` and ``sleep``)."""

    clock: Callable[[], float]
    sleep: Callable[[float], None]
    clients: ClientFactory
    budgets: Budgets
    cold_retry: ColdRetry
    sessions: BotocoreSessions
    stats: dict[str, int]
    closed: Callable[[], bool]


@dataclass(frozen=True)
class FetchContext:
    """One fetch: ``retry`` when nobody can be served meanwhile (cold), its place in the STS queue, and
    ``parent`` to get the lease of the hop below through the cache."""

    env: FetchEnv
    retry: bool
    ticket: Ticket
    parent: Callable[[Fetcher], Lease]


class Fetcher(Protocol):
    """Produces one identity's lease. ``key`` is its cache key (it hashes the whole source -> role path,
    secrets included); ``parent`` is the fetcher whose lease signs this one's STS call (None for sources)."""

    key: str
    deployment: str
    depth: int  # roles assumed to get here: 0 for a plain source
    role_arn: str | None  # the role this fetcher assumes (for logs and metrics; never a secret)
    parent: Fetcher | None

    def fetch(self, ctx: FetchContext) -> Lease: ...


class BotocoreSessions:
    """One botocore session per profile (None: the default chain); botocore refreshes its own sources."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str | None, Any] = {}

    def __call__(self, profile: str | None) -> Any:
        import botocore.session

        with self._lock:
            session = self._sessions.get(profile)
            if session is None:
                session = self._sessions[profile] = botocore.session.Session(profile=profile)
            return session


# -- sources --------------------------------------------------------------------------------------------
class StaticKeysFetcher:
    """The deployment's own keys: never expire, never call anything."""

    depth: int = 0
    role_arn: str | None = None
    parent: Fetcher | None = None

    def __init__(self, config: DeploymentConfig) -> None:
        assert isinstance(config.source, StaticKeys)
        self.source, self.deployment, self.key = config.source, config.deployment, config.hop_key(0)

    def fetch(self, ctx: FetchContext) -> Lease:
        src = self.source
        return Lease(ReadOnlyCredentials(src.access_key_id, src.secret_access_key, src.session_token),
                     issued=ctx.env.clock(), expiry=math.inf)


class BotocoreChainFetcher:
    """A profile or botocore's default chain (env, container, IRSA, instance profile), re-read every
    :data:`SOURCE_LEASE_SECONDS`; botocore refreshes what it resolves."""

    depth: int = 0
    role_arn: str | None = None
    parent: Fetcher | None = None

    def __init__(self, config: DeploymentConfig) -> None:
        assert isinstance(config.source, (Profile, DefaultChain))
        self.source, self.deployment, self.key = config.source, config.deployment, config.hop_key(0)
        self.profile = config.source.name if isinstance(config.source, Profile) else None

    def fetch(self, ctx: FetchContext) -> Lease:
        now = ctx.env.clock()
        try:
            creds = ctx.env.sessions(self.profile).get_credentials()
            frozen = None if creds is None else creds.get_frozen_credentials()
        except BotoCoreError as exc:
            raise CredentialError(self.deployment, f"cannot load source identity ({self.source.describe()}): {exc}",
                                  code=type(exc).__name__) from None
        if frozen is None or not frozen.access_key:
            raise CredentialError(
                self.deployment,
                f"no source identity: {self.source.describe()} found no AWS credentials. Fix: give the gateway "
                "an AWS identity (env, instance profile, IRSA), or set aws_profile_name / aws_access_key_id",
                code="NoCredentials",
            )
        return Lease(frozen, issued=now, expiry=now + SOURCE_LEASE_SECONDS)


# -- roles ----------------------------------------------------------------------------------------------
class _RoleFetcher:
    """Shared by the two STS fetchers: the hop's parameters, its budget key and the lease it yields."""

    parent: Fetcher | None = None
    caller_key: str  # whose STS quota this call spends (the calling identity's cache key)

    def __init__(self, config: DeploymentConfig, depth: int) -> None:
        self.config, self.depth, self.deployment = config, depth, config.deployment
        self.hop = config.chain[depth - 1]
        self.role_arn: str | None = self.hop.role_arn
        self.key = config.hop_key(depth) if depth != len(config.chain) else config.identity_key

    @functools.cached_property
    def kwargs(self) -> dict[str, Any]:
        """Built at the first fetch, on a worker thread: validating loads botocore's STS model (not on the loop)."""
        return assume_role_kwargs(self.config, self.depth)

    def _lease(self, ctx: FetchContext, response: Any, started: float) -> Lease:
        creds = response["Credentials"]
        principal = response.get("AssumedRoleUser", {}).get("Arn")
        lease = Lease(
            ReadOnlyCredentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]),
            issued=ctx.env.clock(), expiry=creds["Expiration"].timestamp(),
            account=principal.split(":")[4] if principal else self.hop.account, principal_arn=principal,
        )
        log.info("assumed role deployment=%s role=%s session=%s account=%s expires=%s duration_ms=%.0f",
                 self.deployment, self.hop.role_arn, self.hop.session_name, lease.account,
                 creds["Expiration"].isoformat(), (time.monotonic() - started) * 1000)
        return lease


class AssumeRoleHop(_RoleFetcher):
    """AssumeRole into hop ``depth``, signed by ``parent``'s lease."""

    def __init__(self, config: DeploymentConfig, depth: int, parent: Fetcher) -> None:
        super().__init__(config, depth)
        self.parent, self.caller_key = parent, parent.key

    def fetch(self, ctx: FetchContext) -> Lease:
        assert self.parent is not None
        source = ctx.parent(self.parent)
        started = time.monotonic()
        response = paced_call(ctx, self, source.credentials,
                              lambda client: client.assume_role(**self.kwargs))
        return self._lease(ctx, response, started)


class WebIdentityFetcher(_RoleFetcher):
    """A web identity token assumes the first role itself (AssumeRoleWithWebIdentity, unsigned); a token
    file is re-read on every refresh (EKS/IRSA rotates it)."""

    def __init__(self, config: DeploymentConfig) -> None:
        assert isinstance(config.source, WebIdentity)
        super().__init__(config, 1)
        self.source, self.caller_key = config.source, config.hop_key(0)

    @functools.cached_property
    def kwargs(self) -> dict[str, Any]:
        """AssumeRole's parameters less those AssumeRoleWithWebIdentity does not take (_config refuses them)."""
        dropped = ("ExternalId", "SourceIdentity", "Tags", "TransitiveTagKeys")
        return {k: v for k, v in assume_role_kwargs(self.config, 1).items() if k not in dropped}

    def fetch(self, ctx: FetchContext) -> Lease:
        token = self._token()
        started = time.monotonic()
        response = paced_call(ctx, self, None, lambda client: client.assume_role_with_web_identity(
            WebIdentityToken=token, **self.kwargs))
        return self._lease(ctx, response, started)

    def _token(self) -> str:
        if self.source.token_file is None:
            return str(self.source.token)
        try:
            with open(self.source.token_file, encoding="utf-8") as fh:
                return fh.read().strip()
        except OSError as exc:
            raise CredentialError(
                self.deployment,
                f"cannot read aws_web_identity_token file {self.source.token_file}: {exc.strerror}",
                code="TokenFileUnreadable",
            ) from None


#: Which fetcher reads each source. A source's fetcher covers depth 0, or depth 1 when it assumes the
#: first role itself (web identity); every further role is an :class:`AssumeRoleHop`.
SOURCES: dict[type, Callable[[DeploymentConfig], Fetcher]] = {
    StaticKeys: StaticKeysFetcher,
    Profile: BotocoreChainFetcher,
    DefaultChain: BotocoreChainFetcher,
    WebIdentity: WebIdentityFetcher,
}


def chain_fetcher(config: DeploymentConfig) -> Fetcher:
    """The fetcher of ``config``'s final identity, its parents linked down to the source."""
    fetcher = SOURCES[type(config.source)](config)
    for depth in range(fetcher.depth + 1, len(config.chain) + 1):
        fetcher = AssumeRoleHop(config, depth, fetcher)
    return fetcher
