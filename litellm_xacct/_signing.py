"""Signing: SigV4 with botocore, from one frozen credential snapshot (key, secret and token always match)."""

from __future__ import annotations

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
