"""Signing: SigV4 with botocore, from one frozen credential snapshot (key, secret and token always match)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from ._config import DeploymentConfig
from ._errors import CallerFieldError


def model_url(config: DeploymentConfig, operation: str) -> str:
    """``<runtime endpoint>/model/<url-encoded model id>/<operation>``.

    The id is encoded completely (``safe=""``): inference-profile ARNs carry ``:`` and ``/``.
    """
    return f"{config.runtime_url}/model/{quote(config.model, safe='')}/{operation}"


def sign(
    credentials: ReadOnlyCredentials, region: str, url: str, body: bytes, headers: dict[str, str]
) -> dict[str, str]:
    """Headers for a SigV4-signed POST of ``body`` to ``url`` (service ``bedrock``)."""
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(credentials, "bedrock", region).add_auth(request)
    return dict(request.headers.items())


#: Caller headers that would change what is signed or where it goes: SigV4's own headers, the target
#: host, and the body's framing and encoding (the signature covers the body we send, not theirs).
_FORBIDDEN_HEADERS = frozenset({"host", "authorization", "transfer-encoding", "expect", "connection"})
_FORBIDDEN_HEADER_PREFIXES = ("x-amz-", "content-")


def forbidden_header(name: str) -> bool:
    """True for ``Host``, ``Authorization``, ``X-Amz-*`` and ``Content-*`` (any case)."""
    low = name.strip().lower()
    return low in _FORBIDDEN_HEADERS or low.startswith(_FORBIDDEN_HEADER_PREFIXES)


def clean_caller_headers(headers: Mapping[str, Any] | None, label: str = "") -> dict[str, str]:
    """Caller ``extra_headers``/``headers`` as ``str -> str``, refusing any :func:`forbidden_header`.

    Refused rather than dropped: a caller who sets ``Host`` or ``X-Amz-*`` expects it to take effect, and
    a silent drop would hide that it did not. Raises :class:`CallerFieldError` (HTTP 400) naming the header.
    """
    cleaned: dict[str, str] = {}
    for key, value in (headers or {}).items():
        name = str(key)
        if forbidden_header(name):
            raise CallerFieldError(label or "bedrock-xacct", f"header {name!r}", "extra_headers/headers")
        cleaned[name] = str(value)
    return cleaned
