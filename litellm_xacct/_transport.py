"""One signed transport under every route: lease -> sign -> send -> (retry once) -> map errors.

Routes only build a body and read an answer; everything that touches credentials or the network is here:

* **lease** the deployment's credentials from the :class:`CredentialEngine`;
* **sign** the exact bytes sent with SigV4 (:func:`_signing.sign`), caller headers first cleaned by
  :func:`_signing.clean_caller_headers`;
* **send** with LiteLLM's own httpx clients, sync or async, whole answer or event stream;
* **retry once** after ``ExpiredTokenException`` with a forced refresh;
* **map errors** through LiteLLM's exception mapping as provider ``bedrock``, so callers get the exception
  native ``bedrock/`` raises. For streams this happens *before* the first event is handed over: a throttled
  stream raises ``RateLimitError`` at the call, as native does, not on the first iteration.

A stream that stops before Bedrock's final event (connection cut, truncated frame) raises
``APIConnectionError``; it never ends as if the answer were complete.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import litellm
from botocore.eventstream import EventStreamBuffer, ParserError
from litellm.llms.custom_httpx.http_handler import HTTPHandler, get_async_httpx_client

from . import _bedrock
from ._config import DeploymentConfig
from ._credentials import CredentialEngine, Lease
from ._errors import XacctError
from ._signing import clean_caller_headers, model_url, sign


@dataclass
class Exchange:
    """One request to send: where (deployment + operation), what (body bytes) and with which headers."""

    config: DeploymentConfig
    operation: str  # converse | converse-stream | invoke | invoke-with-response-stream
    body: bytes
    caller_headers: dict[str, str] = field(default_factory=dict)
    timeout: Any = None
    extra_headers: dict[str, str] = field(default_factory=dict)  # ours (e.g. Accept), not the caller's

    @property
    def url(self) -> str:
        return model_url(self.config, self.operation)

    def headers(self) -> dict[str, str]:
        return {**clean_caller_headers(self.caller_headers), "Content-Type": "application/json",
                **self.extra_headers}


@dataclass
class Sent:
    """A 200 answer and the lease that signed it (for the audit record)."""

    response: httpx.Response
    lease: Lease


@dataclass
class OpenStream:
    """A stream whose status was 200: its byte chunks (not yet read) and the lease that signed it."""

    chunks: Iterator[bytes]
    lease: Lease
    close: Callable[[], None]


@dataclass
class AsyncOpenStream:
    chunks: AsyncIterator[bytes]
    lease: Lease


class StreamCut(Exception):
    """The event stream ended in the middle of a frame."""


class Transport:
    """Lease, sign, send and map errors for one handler. ``engine`` is resolved lazily (first use)."""

    def __init__(self, engine: Callable[[], CredentialEngine], lite_error: Callable[[str, XacctError], Exception]):
        self._engine = engine
        self._lite_error = lite_error
        self._sync: HTTPHandler | None = None

    # -- whole answers ---------------------------------------------------------------------------
    def send(self, ex: Exchange) -> Sent:
        for retried in (False, True):
            lease = self._lease(ex)
            try:
                response = self._http().post(ex.url, content=ex.body, headers=self._signed(ex, lease),
                                             timeout=ex.timeout)
            except httpx.TransportError as exc:
                raise network_error(ex.config, exc) from exc
            if response.status_code == 200:
                return Sent(response, lease)
            self._retry_or_raise(ex, lease, response, response.text, retried)
        raise AssertionError("unreachable")  # pragma: no cover

    async def asend(self, ex: Exchange) -> Sent:
        for retried in (False, True):
            lease = await self._alease(ex)
            try:
                response = await self._ahttp(ex).post(ex.url, content=ex.body, headers=self._signed(ex, lease))
            except httpx.TransportError as exc:
                raise network_error(ex.config, exc) from exc
            if response.status_code == 200:
                return Sent(response, lease)
            self._retry_or_raise(ex, lease, response, response.text, retried)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- event streams ---------------------------------------------------------------------------
    def open_stream(self, ex: Exchange) -> OpenStream:
        """Send and read the status now (errors raise here, at the caller's call); the body is read later."""
        client = self._http()
        for retried in (False, True):
            lease = self._lease(ex)
            request = client.build_request("POST", ex.url, content=ex.body, headers=self._signed(ex, lease),
                                           timeout=ex.timeout)
            try:
                response = client.send(request, stream=True)
            except httpx.TransportError as exc:
                raise network_error(ex.config, exc) from exc
            if response.status_code == 200:
                return OpenStream(_whole_frames(response.iter_bytes(), ex.operation), lease, response.close)
            text = response.read().decode("utf-8", "replace")
            response.close()
            self._retry_or_raise(ex, lease, response, text, retried)
        raise AssertionError("unreachable")  # pragma: no cover

    async def aopen_stream(self, ex: Exchange) -> AsyncOpenStream:
        client = self._ahttp(ex)
        for retried in (False, True):
            lease = await self._alease(ex)
            request = client.build_request("POST", ex.url, content=ex.body, headers=self._signed(ex, lease))
            try:
                response = await client.send(request, stream=True)
            except httpx.TransportError as exc:
                raise network_error(ex.config, exc) from exc
            if response.status_code == 200:
                return AsyncOpenStream(_awhole_frames(response, ex.operation), lease)
            text = (await response.aread()).decode("utf-8", "replace")
            await response.aclose()
            self._retry_or_raise(ex, lease, response, text, retried)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- steps -----------------------------------------------------------------------------------
    def _lease(self, ex: Exchange) -> Lease:
        try:
            return self._engine().get(ex.config)
        except XacctError as exc:
            raise self._lite_error(ex.config.deployment, exc) from exc

    async def _alease(self, ex: Exchange) -> Lease:
        try:
            return await self._engine().aget(ex.config)
        except XacctError as exc:
            raise self._lite_error(ex.config.deployment, exc) from exc

    @staticmethod
    def _signed(ex: Exchange, lease: Lease) -> dict[str, str]:
        assert lease.credentials is not None
        return sign(lease.credentials, ex.config.region, ex.url, ex.body, ex.headers())

    def _retry_or_raise(self, ex: Exchange, lease: Lease, response: httpx.Response, text: str,
                        retried: bool) -> None:
        """After ``ExpiredTokenException`` force one refresh (the caller loops once more); otherwise raise
        what native ``bedrock/`` raises for the same answer."""
        expired = response.status_code == 403 and (
            _bedrock.error_code(text, response.headers) == "ExpiredTokenException")
        if expired and not retried:
            self._engine().invalidate(ex.config, lease)
            return
        raise _bedrock.bedrock_error(ex.config, response.status_code, text, response.headers)

    def _http(self) -> httpx.Client:
        if self._sync is None:
            self._sync = HTTPHandler()
        return self._sync.client

    @staticmethod
    def _ahttp(ex: Exchange) -> httpx.AsyncClient:
        params = {"timeout": ex.timeout} if ex.timeout is not None else None
        return get_async_httpx_client(llm_provider=litellm.LlmProviders.BEDROCK, params=params).client


def network_error(config: DeploymentConfig, exc: httpx.TransportError) -> Exception:
    """No answer from Bedrock, as native ``bedrock/`` reports it: a timeout is ``litellm.Timeout`` (408),
    anything else (refused, reset) ``APIConnectionError``; both are errors Router retries."""
    where = f"Bedrock at {config.runtime_url}"
    if isinstance(exc, httpx.TimeoutException):
        return litellm.Timeout(
            message=f"bedrock-xacct: {where} did not answer deployment {config.deployment!r} in time "
                    f"({type(exc).__name__}). Fix: raise the deployment's timeout / stream_timeout if the "
                    "model needs longer, or retry", model=config.model, llm_provider="bedrock")
    return litellm.APIConnectionError(
        message=f"bedrock-xacct: cannot reach {where} for deployment {config.deployment!r} "
                f"({type(exc).__name__}: {exc}). Fix: check the network path to the Bedrock runtime endpoint",
        llm_provider="bedrock", model=config.model)


def cut_error(config: DeploymentConfig, why: str) -> Exception:
    """What a stream that ended early raises: a connection error, the kind Router retries."""
    return litellm.APIConnectionError(
        message=f"bedrock-xacct: the Bedrock event stream for {config.deployment} ended early ({why}); "
                "the answer is incomplete", llm_provider="bedrock", model=config.model)


class _Frames:
    """Watches the event-stream bytes as they pass: a stream is complete only if it stopped at a frame
    boundary *and* its last event is Bedrock's final one (``metadata`` for ConverseStream; a chunk carrying
    ``amazon-bedrock-invocationMetrics`` for InvokeModelWithResponseStream). Parsing is botocore's."""

    def __init__(self, operation: str) -> None:
        self.operation = operation
        self.buffer = EventStreamBuffer()
        self.pending = 0  # bytes of an unfinished frame
        self.final = False

    def feed(self, data: bytes) -> None:
        self.buffer.add_data(data)
        self.pending += len(data)
        try:
            for message in self.buffer:
                self.pending -= message.prelude.total_length
                self.final = self._is_final(message)
        except ParserError as exc:
            raise StreamCut(f"malformed event stream: {type(exc).__name__}") from exc

    def _is_final(self, message: Any) -> bool:
        if self.operation == "converse-stream":
            return bool(message.headers.get(":event-type") == "metadata")
        try:
            chunk = json.loads(message.payload)
            return "amazon-bedrock-invocationMetrics" in json.loads(base64.b64decode(chunk.get("bytes", "")))
        except (ValueError, TypeError, AttributeError):
            return False

    def check(self) -> None:
        if self.pending:
            raise StreamCut(f"{self.pending} bytes of an unfinished event")
        if not self.final:
            raise StreamCut("no final event")


def _whole_frames(chunks: Iterator[bytes], operation: str) -> Iterator[bytes]:
    frames = _Frames(operation)
    try:
        for chunk in chunks:
            frames.feed(chunk)
            yield chunk
    except httpx.HTTPError as exc:
        raise StreamCut(f"connection failed mid-stream: {type(exc).__name__}") from exc
    frames.check()


async def _awhole_frames(response: httpx.Response, operation: str) -> AsyncIterator[bytes]:
    frames = _Frames(operation)
    try:
        async for chunk in response.aiter_bytes():
            frames.feed(chunk)
            yield chunk
    except httpx.HTTPError as exc:
        raise StreamCut(f"connection failed mid-stream: {type(exc).__name__}") from exc
    finally:
        await response.aclose()
    frames.check()


async def in_thread(chunks: Iterator[bytes], close: Callable[[], None]) -> AsyncIterator[bytes]:
    """A sync byte stream read off the event loop, one chunk per worker-thread hop."""
    done = object()
    try:
        while True:
            chunk = await asyncio.to_thread(next, chunks, done)
            if chunk is done:
                return
            yield chunk  # type: ignore[misc]
    finally:
        close()
