"""A lease: one frozen set of credentials, who they are, and when to refresh them."""

from __future__ import annotations

from dataclasses import dataclass, field

from botocore.credentials import ReadOnlyCredentials


def refresh_windows(lifetime: float) -> tuple[float, float]:
    """(advisory, mandatory) seconds before expiry, scaled to the credential's lifetime: botocore's
    15/10 minutes, but at most half / a quarter of the lifetime (a 900 s credential would otherwise be
    inside its window from the start and cause an STS call on every access)."""
    return min(900.0, lifetime / 2), min(600.0, lifetime / 4)


@dataclass(frozen=True)
class Lease:
    """One set of credentials and who they are. ``credentials`` is a botocore ReadOnlyCredentials (sign
    from this one snapshot, so key, secret and token always match); never in ``repr``."""

    credentials: ReadOnlyCredentials | None = field(repr=False)
    issued: float
    expiry: float  # epoch seconds; math.inf for static keys
    account: str | None = None
    principal_arn: str | None = None
    advisory: float = field(init=False, repr=False)
    mandatory: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        advisory, mandatory = refresh_windows(self.expiry - self.issued)
        object.__setattr__(self, "advisory", advisory)
        object.__setattr__(self, "mandatory", mandatory)
