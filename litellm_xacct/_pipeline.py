"""The one request pipeline every entry point runs, top to bottom, each stage once:

identity (``_request.identity_fields``) -> config (:class:`DeploymentConfig`) -> route (:mod:`._routes`:
params, bodies, operation) -> transport (:mod:`._transport`: lease, sign, send, retry, map errors) ->
route again (parse, or the stream decoder) -> audit (``_audit``). Every :class:`XacctError` raised while
preparing leaves through the one :func:`~._error_mapping.mapped` block.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from . import _streams
from ._audit import record, stamp
from ._compat import drop_params_default, loop_running_here, messages_api_request
from ._config import DeploymentConfig
from ._error_mapping import mapped
from ._pricing import base_model, price_as_native
from ._request import deployment_label, identity_fields
from ._routes import Call, Route, route_for
from ._signing import clean_caller_headers, model_url
from ._transport import Exchange, OpenStream, Sent, Transport, in_thread


@dataclass
class Prepared:
    """A call ready to send: its route, what the route decided, and the exchange(s) to sign and send."""

    route: Route
    call: Call
    exchanges: list[Exchange]

    @property
    def config(self) -> DeploymentConfig:
        return self.call.config


def _timeout(kw: Mapping[str, Any]) -> Any:
    timeout = kw.get("timeout")
    return timeout if isinstance(timeout, (int, float, httpx.Timeout)) else None


def prepare(kind: str, kw: dict[str, Any], *, stream: bool = False) -> Prepared:
    """Identity -> config -> route -> params -> bodies, logged to LiteLLM; no AWS call yet."""
    logging_obj = kw["logging_obj"]
    details = getattr(logging_obj, "model_call_details", None) or {}
    # LiteLLM passes no litellm_params to a custom provider's image entry points: read the logged ones.
    litellm_params: dict[str, Any] = kw.get("litellm_params") or details.get("litellm_params") or {}
    label = deployment_label(kw["model"], litellm_params)
    with mapped(label):
        fields = identity_fields(label, litellm_params, kw.get("optional_params") or {}, logging_obj)
        config = DeploymentConfig.cached(fields, deployment=label, model=kw["model"])
        base = base_model(litellm_params, logging_obj)
        route = route_for(kind, config, base, messages_api=messages_api_request(logging_obj, litellm_params))
        price_as_native(config, base, logging_obj)
        drop = bool(litellm_params.get("drop_params") or drop_params_default())
        call = Call(kw, config, litellm_params, logging_obj, stream, drop,
                    clean_caller_headers(kw.get("headers") or {}, config.deployment))
        call.params = route.params(call)
        call.fake_stream = stream and route.fake_stream(call)
        call.bodies = route.bodies(call)
    operation = route.operation(stream and not call.fake_stream)
    inputs = kw[route.input_key]
    logging_obj.pre_call(input=list(inputs) if kind == "embedding" else inputs, api_key="", additional_args={
        "complete_input_dict": call.bodies[0] if len(call.bodies) == 1 else call.bodies,
        "api_base": model_url(config, operation), "xacct": config.audit()})
    headers = {**call.headers, "Content-Type": "application/json",
               **({"Accept": "application/json"} if route.accept_json else {})}
    exchanges = [Exchange(config, operation, json.dumps(body).encode(), headers, _timeout(kw))
                 for body in call.bodies]
    return Prepared(route, call, exchanges)


def finish(prepared: Prepared, sent: list[Sent]) -> Any:
    """The route reads the answer(s); the audit record of who signed is stamped on it."""
    result = prepared.route.parse(prepared.call, [s.response for s in sent])
    stamp(record(prepared.config, sent[-1].lease), result, prepared.call.logging_obj)
    return result


class Pipeline:
    """Runs :func:`prepare` -> transport -> :func:`finish` in each mode: whole answer or stream, sync or async."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def answer(self, kind: str, kw: dict[str, Any]) -> Any:
        return self.answer_prepared(prepare(kind, kw))

    async def aanswer(self, kind: str, kw: dict[str, Any]) -> Any:
        prepared = prepare(kind, kw)
        return finish(prepared, list(await asyncio.gather(*(self.transport.asend(ex) for ex in prepared.exchanges))))

    def stream(self, kw: dict[str, Any]) -> Iterator[Any]:
        """Opens the stream before returning, so Bedrock's refusal raises here, at the caller's call."""
        prepared = prepare("chat", kw, stream=True)
        call = prepared.call
        if call.fake_stream:
            return _streams.replay(self.answer_prepared(prepared), call.params)
        opened = self._open(prepared)
        return _streams.decode(call.config, prepared.route.decoder(call, sync=True), opened.chunks)

    def astream(self, kw: dict[str, Any]) -> AsyncIterator[Any]:
        """LiteLLM calls this from ``acompletion``'s worker thread: the stream is opened there (no event loop
        to block), so errors raise at the caller's ``await``, and the body is read off the loop."""
        prepared = prepare("chat", kw, stream=True)
        call = prepared.call
        if loop_running_here():  # a release that calls us on the loop: open lazily, asynchronously
            return self._astream_lazily(prepared)
        if call.fake_stream:
            return _streams.areplay(self.answer_prepared(prepared), call.params)
        opened = self._open(prepared)
        return _streams.adecode(call.config, prepared.route.decoder(call, sync=False),
                                in_thread(opened.chunks, opened.close))

    async def _astream_lazily(self, prepared: Prepared) -> AsyncIterator[Any]:
        call, (exchange,) = prepared.call, prepared.exchanges
        if call.fake_stream:
            answer = finish(prepared, [await self.transport.asend(exchange)])
            async for chunk in _streams.areplay(answer, call.params):
                yield chunk
            return
        opened = await self.transport.aopen_stream(exchange)
        stamp(record(call.config, opened.lease), logging_obj=call.logging_obj)
        async for chunk in _streams.adecode(call.config, prepared.route.decoder(call, sync=False), opened.chunks):
            yield chunk

    def answer_prepared(self, prepared: Prepared) -> Any:
        return finish(prepared, [self.transport.send(ex) for ex in prepared.exchanges])

    def _open(self, prepared: Prepared) -> OpenStream:
        opened = self.transport.open_stream(prepared.exchanges[0])
        stamp(record(prepared.config, opened.lease), logging_obj=prepared.call.logging_obj)
        return opened
