"""Signing: SigV4 with botocore, from one frozen credential snapshot (key, secret and token always match)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from ._config import DeploymentConfig


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


def clean_caller_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    """Caller ``extra_headers`` / ``headers`` as strings, before they are signed.

    Pass-through stub for the cross-helper contract: helper ``sec`` replaces it with the version that
    drops or refuses ``Host``, ``Authorization``, ``X-Amz-*`` and content headers.
    """
    return {str(k): str(v) for k, v in headers.items()}
