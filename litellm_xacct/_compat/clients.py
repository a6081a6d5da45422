"""LiteLLM's own httpx clients (its connection pools, SSL and proxy settings), for Bedrock requests."""

from __future__ import annotations

from typing import Protocol

import httpx


class SyncHTTP(Protocol):
    """LiteLLM's ``HTTPHandler``: keep the handler (it closes its client when collected), use ``.client``."""

    @property
    def client(self) -> httpx.Client: ...


def sync_http() -> SyncHTTP:
    """A new ``HTTPHandler`` (``litellm.llms.custom_httpx.http_handler``, every release)."""
    from litellm.llms.custom_httpx.http_handler import HTTPHandler

    handler: SyncHTTP = HTTPHandler()
    return handler


def async_http() -> httpx.AsyncClient:
    """LiteLLM's shared async client for provider Bedrock (``get_async_httpx_client``, every release)."""
    import litellm
    from litellm.llms.custom_httpx.http_handler import get_async_httpx_client

    client: httpx.AsyncClient = get_async_httpx_client(llm_provider=litellm.LlmProviders.BEDROCK).client
    return client
