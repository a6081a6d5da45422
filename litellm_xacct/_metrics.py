"""Operational metrics on LiteLLM's own ``/metrics`` (prometheus_client's default registry).

Every function here is a no-op when ``prometheus_client`` is not installed, so callers never check.
Labels carry role ARNs, deployment names and short reason codes: never a key, token or secret.
"""

from __future__ import annotations


def sts_call(role_arn: str, outcome: str) -> None:
    """One STS AssumeRole* call finished; ``outcome``: ok | throttled | denied | error."""


def sts_queue_wait(seconds: float) -> None:
    """How long a credential fetch waited for the STS rate budget."""


def credential_expiry(deployment: str, role_arn: str, expiry_epoch: float) -> None:
    """A deployment's current credentials expire at ``expiry_epoch`` (seconds since the epoch)."""


def refresh_failure(deployment: str, code: str) -> None:
    """A credential refresh failed with STS error ``code``."""


def stale_serve(deployment: str) -> None:
    """A request was served with still-valid credentials because their refresh failed."""


def refusal(where: str, reason: str) -> None:
    """A request was refused before AWS: ``where`` guard | isolation | authority; ``reason`` a short code."""
