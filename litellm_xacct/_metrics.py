"""Operational metrics on LiteLLM's own ``/metrics`` (prometheus_client's default registry).

Every function here is a no-op when ``prometheus_client`` is not installed, so callers never check.
Labels carry role ARNs, deployment names and short reason codes: never a key, token or secret (every
label value is checked on the way in, see :func:`_label`).

The metrics are created on first use, never at import: prometheus_client picks its multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, which LiteLLM sets for ``--num_workers`` > 1) when it is first imported,
and that must happen in the worker, after the proxy set the variable.

=====================================================  =========  ====================  ===========================
name                                                   type       labels                event
=====================================================  =========  ====================  ===========================
``litellm_xacct_sts_calls_total``                      counter    role, outcome         one AssumeRole* call ended
``litellm_xacct_sts_queue_wait_seconds``               histogram  (none)                wait for the STS budget
``litellm_xacct_credential_expiry_timestamp_seconds``  gauge      deployment, role      current lease's expiry
``litellm_xacct_credential_refresh_failures_total``    counter    deployment, role,     a refresh failed
                                                                  code
``litellm_xacct_credential_stale_serves_total``        counter    deployment, role      served while refresh fails
``litellm_xacct_refusals_total``                       counter    where, reason         refused before AWS
=====================================================  =========  ====================  ===========================
"""

from __future__ import annotations

import re
import threading
from typing import Any

PREFIX = "litellm_xacct"
#: Queue-wait buckets (seconds): a warm request waits 0; a cold fan-out under a 10/s STS quota waits minutes.
WAIT_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_CODE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
# An AWS access key id (long-lived or temporary): never in a label, whatever field it came from.
_KEY_ID = re.compile(r"(AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}")


class _Metrics:
    """The metric objects, registered once in prometheus_client's default registry."""

    def __init__(self, prom: Any) -> None:
        name = PREFIX + "_"
        self.sts = prom.Counter(name + "sts_calls", "STS AssumeRole* calls by role and outcome "
                                "(ok | throttled | denied | error)", ["role", "outcome"])
        self.wait = prom.Histogram(name + "sts_queue_wait_seconds", "Time a credential fetch waited for the STS "
                                   "rate budget before calling STS", buckets=WAIT_BUCKETS)
        # livemin: with several workers each has its own lease; the earliest expiry of a live worker counts.
        self.expiry = prom.Gauge(name + "credential_expiry_timestamp_seconds", "When the deployment's current "
                                 "credentials expire (Unix time)", ["deployment", "role"], multiprocess_mode="livemin")
        self.failures = prom.Counter(name + "credential_refresh_failures", "Credential refreshes that failed, by "
                                     "STS error code", ["deployment", "role", "code"])
        self.stale = prom.Counter(name + "credential_stale_serves", "Requests served with still-valid credentials "
                                  "because their refresh failed", ["deployment", "role"])
        self.refusals = prom.Counter(name + "refusals", "Requests refused before any AWS call, by where "
                                     "(guard | isolation | authority) and reason", ["where", "reason"])


_lock = threading.Lock()
_state: dict[str, _Metrics | None] = {}


def _get() -> _Metrics | None:
    """The metrics, created on first use; None when prometheus_client is not installed."""
    if "m" in _state:
        return _state["m"]
    with _lock:
        if "m" not in _state:
            try:
                import prometheus_client
            except ImportError:
                _state["m"] = None
            else:
                _state["m"] = _Metrics(prometheus_client)
    return _state["m"]


def enabled() -> bool:
    """Whether metrics are recorded (prometheus_client is importable)."""
    return _get() is not None


def _label(value: object, kind: str) -> str:
    """A label value that cannot carry a secret: roles must be role ARNs, codes short identifiers, and
    deployment names lose anything shaped like an AWS key id; anything else becomes ``invalid``."""
    text = str(value or "")
    if kind == "role":
        return text if _ROLE.match(text) else ("" if not text else "invalid")
    if kind == "code":
        return text if _CODE.match(text) and not _KEY_ID.search(text) else "other"
    return _KEY_ID.sub("[key id]", text[:200])


def sts_call(role_arn: str, outcome: str) -> None:
    """One STS AssumeRole* call finished; ``outcome``: ok | throttled | denied | error."""
    m = _get()
    if m is not None:
        m.sts.labels(role=_label(role_arn, "role"), outcome=_label(outcome, "code")).inc()


def sts_queue_wait(seconds: float) -> None:
    """How long a credential fetch waited for the STS rate budget."""
    m = _get()
    if m is not None:
        m.wait.observe(max(0.0, float(seconds)))


def credential_expiry(deployment: str, role_arn: str, expiry_epoch: float) -> None:
    """A deployment's current credentials expire at ``expiry_epoch`` (seconds since the epoch)."""
    m = _get()
    if m is not None and expiry_epoch != float("inf"):
        m.expiry.labels(deployment=_label(deployment, "name"), role=_label(role_arn, "role")).set(expiry_epoch)


def refresh_failure(deployment: str, code: str, role_arn: str | None = None) -> None:
    """A credential refresh failed with STS error ``code`` (``role_arn``: the role being assumed, if known)."""
    m = _get()
    if m is not None:
        m.failures.labels(deployment=_label(deployment, "name"), role=_label(role_arn, "role"),
                          code=_label(code, "code")).inc()


def stale_serve(deployment: str, role_arn: str | None = None) -> None:
    """A request was served with still-valid credentials because their refresh failed."""
    m = _get()
    if m is not None:
        m.stale.labels(deployment=_label(deployment, "name"), role=_label(role_arn, "role")).inc()


def refusal(where: str, reason: str) -> None:
    """A request was refused before AWS: ``where`` guard | isolation | authority; ``reason`` a short code."""
    m = _get()
    if m is not None:
        m.refusals.labels(where=_label(where, "code"), reason=_label(reason, "code")).inc()
