"""Source identities: where a deployment's first credentials come from, one small frozen type each.

Parsed from the deployment by ``_config_parse._Parser.source``; read by the fetcher that
``_credentials.fetchers.SOURCES`` names for the type. Secrets never appear in ``repr`` or ``describe()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class StaticKeys:
    """Explicit keys from the deployment: ``aws_access_key_id``, ``aws_secret_access_key`` and, for
    temporary keys, ``aws_session_token``."""

    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        """A secret-free description, e.g. ``static keys AKIA...WXYZ``."""
        return f"static keys {self.access_key_id[:4]}...{self.access_key_id[-4:]}"

    def identity_parts(self) -> tuple[object, ...]:
        return (self.access_key_id, self.secret_access_key, self.session_token)

    @property
    def is_session(self) -> bool:
        """Temporary keys: a role assumed with them is a role-chained session (AWS caps it at one hour)."""
        return self.session_token is not None


@dataclass(frozen=True)
class Profile:
    """A named profile of the gateway's AWS config files (``aws_profile_name``), resolved by botocore."""

    name: str

    def describe(self) -> str:
        return f"profile {self.name!r}"

    def identity_parts(self) -> tuple[object, ...]:
        return (self.name,)

    is_session = False


@dataclass(frozen=True)
class WebIdentity:
    """An OIDC token (``aws_web_identity_token``), inline or as a file path re-read on every refresh; the
    first role is assumed with AssumeRoleWithWebIdentity."""

    token: str | None = field(default=None, repr=False)
    token_file: str | None = None

    def describe(self) -> str:
        return f"web identity token file {self.token_file}" if self.token_file else "web identity token (inline)"

    def identity_parts(self) -> tuple[object, ...]:
        return (self.token, self.token_file)

    is_session = False


@dataclass(frozen=True)
class DefaultChain:
    """botocore's default chain: env, container credentials, IRSA, instance profile (the gateway's own identity)."""

    def describe(self) -> str:
        return "botocore default chain"

    def identity_parts(self) -> tuple[object, ...]:
        return ()

    is_session = False


#: Where the first credentials come from. Adding a source: a frozen type here (``describe``,
#: ``identity_parts``, ``is_session``), its branch in ``_config_parse._Parser.source`` and one fetcher line in
#: ``_credentials/fetchers.SOURCES``.
SourceIdentity = StaticKeys | Profile | WebIdentity | DefaultChain
