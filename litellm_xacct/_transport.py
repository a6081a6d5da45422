"""One signed transport under every route: lease -> sign -> send -> (retry once) -> map errors.

Routes only build a body and read an answer; everything that touches credentials or the network is here,
decided once by :meth:`Transport._flow` (a generator, as httpx's ``Auth.auth_flow``) and run by two short
drivers, sync and async, for whole answers and for event streams alike:

* **lease** the deployment's credentials from the :class:`CredentialEngine`;
* **sign** the exact bytes sent with SigV4 (:func:`_signing.sign`);
* **send** with LiteLLM's own httpx clients, the caller's timeout on every request (sync and async);
* **retry once** after ``ExpiredTokenException`` with a forced refresh;
* **map errors** (:mod:`._error_mapping`) as native ``bedrock/`` raises them. For streams this happens
  *before* the first event is handed over: a throttled stream raises ``RateLimitError`` at the call.

A stream that stops before Bedrock's final event (connection cut, truncated frame) raises
``APIConnectionError``; it never ends as if the answer were complete.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from botocore.eventstream import EventStreamBuffer, ParserError

from ._compat import SyncHTTP, async_http, sync_http
from ._config import DeploymentConfig
from ._credentials import CredentialEngine, Lease
from ._error_mapping import bedrock_error, error_code, mapped, network_error
from ._signing import model_url, sign


@dataclass
class Exchange:
    """One request to send: where (deployment + operation), what (body bytes), which (already cleaned) headers."""

    config: DeploymentConfig
    operation: str  # converse | converse-stream | invoke | invoke-with-response-stream
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    timeout: Any = None  # None: the client's default

    @property
    def url(self) -> str:
        return model_url(self.config, self.operation)

    def request_timeout(self) -> Any:
        return httpx.USE_CLIENT_DEFAULT if self.timeout is None else self.timeout


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


@dataclass
class _Answer:
    """What a driver hands back to the flow: the response and, unless it is a 200, its body text."""

    response: httpx.Response
    error_text: str = ""


class StreamCut(Exception):
    """The event stream ended before Bedrock's final event. ``undecoded``: the body ended cleanly inside a
    frame (native reports that as Bedrock's 502), not on a dropped connection."""

    def __init__(self, why: str, *, undecoded: bool = False) -> None:
        super().__init__(why)
        self.undecoded = undecoded


_LEASE = object()  # a flow step: "lease credentials for this exchange"
_Flow = Generator[Any, Any, tuple[httpx.Response, Lease]]


class Transport:
    """Lease, sign, send and map errors for one handler. ``engine`` is resolved lazily (first use)."""

    def __init__(self, engine: Callable[[], CredentialEngine]):
        self._engine = engine
        self._sync: SyncHTTP | None = None

    # -- the one decision ------------------------------------------------------------------------
    def _flow(self, ex: Exchange) -> _Flow:
        """Yields ``_LEASE`` (the driver sends back a :class:`Lease`) or signed headers (the driver sends the
        request and sends back an :class:`_Answer`); a driver's exception is thrown in at the yield."""
        for retried in (False, True):
            with mapped(ex.config.deployment):
                lease: Lease = yield _LEASE
            assert lease.credentials is not None
            try:
                answer: _Answer = yield sign(lease.credentials, ex.config.region, ex.url, ex.body, ex.headers)
            except httpx.TransportError as exc:
                raise network_error(ex.config, exc) from exc
            response = answer.response
            if response.status_code == 200:
                return response, lease
            expired = response.status_code == 403 and (
                error_code(answer.error_text, response.headers) == "ExpiredTokenException")
            if not (expired and not retried):
                raise bedrock_error(ex.config, response.status_code, answer.error_text, response.headers)
            self._engine().invalidate(ex.config, lease)  # then once more, with a fresh lease
        raise AssertionError("unreachable")  # pragma: no cover

    def _drive(self, ex: Exchange, send: Callable[[dict[str, str]], _Answer]) -> tuple[httpx.Response, Lease]:
        flow = self._flow(ex)
        step = next(flow)
        while True:
            try:
                result = self._engine().get(ex.config) if step is _LEASE else send(step)
            except Exception as exc:  # the flow decides: map it, or let it through
                step = _advance(flow, exc)
            else:
                step = _advance(flow, result, sent=True)
            if isinstance(step, _Done):
                return step.value

    async def _adrive(self, ex: Exchange,
                      send: Callable[[dict[str, str]], Awaitable[_Answer]]) -> tuple[httpx.Response, Lease]:
        flow = self._flow(ex)
        step = next(flow)
        while True:
            try:
                result = await self._engine().aget(ex.config) if step is _LEASE else await send(step)
            except Exception as exc:  # the flow decides: map it, or let it through
                step = _advance(flow, exc)
            else:
                step = _advance(flow, result, sent=True)
            if isinstance(step, _Done):
                return step.value

    # -- whole answers ---------------------------------------------------------------------------
    def send(self, ex: Exchange) -> Sent:
        def post(headers: dict[str, str]) -> _Answer:
            response = self._http().post(ex.url, content=ex.body, headers=headers, timeout=ex.request_timeout())
            return _Answer(response, "" if response.status_code == 200 else response.text)

        return Sent(*self._drive(ex, post))

    async def asend(self, ex: Exchange) -> Sent:
        async def post(headers: dict[str, str]) -> _Answer:
            response = await _ahttp().post(ex.url, content=ex.body, headers=headers, timeout=ex.request_timeout())
            return _Answer(response, "" if response.status_code == 200 else response.text)

        return Sent(*await self._adrive(ex, post))

    # -- event streams ---------------------------------------------------------------------------
    def open_stream(self, ex: Exchange) -> OpenStream:
        """Send and read the status now (errors raise here, at the caller's call); the body is read later."""
        def open_(headers: dict[str, str]) -> _Answer:
            client = self._http()
            request = client.build_request("POST", ex.url, content=ex.body, headers=headers,
                                           timeout=ex.request_timeout())
            response = client.send(request, stream=True)
            if response.status_code == 200:
                return _Answer(response)
            try:
                return _Answer(response, response.read().decode("utf-8", "replace"))
            finally:
                response.close()

        response, lease = self._drive(ex, open_)
        return OpenStream(_whole_frames(response.iter_bytes(), ex.operation), lease, response.close)

    async def aopen_stream(self, ex: Exchange) -> AsyncOpenStream:
        async def open_(headers: dict[str, str]) -> _Answer:
            client = _ahttp()
            request = client.build_request("POST", ex.url, content=ex.body, headers=headers,
                                           timeout=ex.request_timeout())
            response = await client.send(request, stream=True)
            if response.status_code == 200:
                return _Answer(response)
            try:
                return _Answer(response, (await response.aread()).decode("utf-8", "replace"))
            finally:
                await response.aclose()

        response, lease = await self._adrive(ex, open_)
        return AsyncOpenStream(_awhole_frames(response, ex.operation), lease)

    def _http(self) -> httpx.Client:
        if self._sync is None:
            self._sync = sync_http()
        return self._sync.client


def _ahttp() -> httpx.AsyncClient:
    return async_http()


@dataclass
class _Done:
    value: tuple[httpx.Response, Lease]


def _advance(flow: _Flow, value: Any, *, sent: bool = False) -> Any:
    """One step of the flow: ``value`` sent in (a result) or thrown in (an exception); _Done when it returns."""
    try:
        return flow.send(value) if sent else flow.throw(value)
    except StopIteration as done:
        return _Done(done.value)


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
            raise StreamCut(f"{self.pending} bytes of an unfinished event", undecoded=True)
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
