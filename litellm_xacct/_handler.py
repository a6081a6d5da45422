"""The ``bedrock-xacct`` CustomLLM: config -> credentials -> signing -> delegation, per request.

Every entry point does the same three things: resolve the deployment (identity fields through
``_request.identity_fields``, then a validated :class:`DeploymentConfig`), let a route build the body with
LiteLLM's own Bedrock config, and hand the bytes to the one signed :class:`~._transport.Transport`.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import litellm
from litellm import CustomLLM

from . import _health, _params, _streams
from ._audit import record, stamp
from ._compat import call_with, loop_running_here, messages_api_call
from ._config import PROVIDER, DeploymentConfig
from ._credentials import CredentialEngine
from ._errors import CallerFieldError, ConfigError, CredentialError, RoleAssumptionError, XacctError
from ._request import deployment_label, identity_fields
from ._routes import ChatRoute, chat_route, map_params
from ._routes.embedding import EmbeddingRoute
from ._routes.image import OPENAI_IMAGE_PARAMS, ImageRoute
from ._signing import clean_caller_headers, model_url
from ._transport import Exchange, Sent, Transport, in_thread

_AUTH_CODES = frozenset({"InvalidClientTokenId", "ExpiredToken", "SignatureDoesNotMatch", "NoCredentials",
                         "IncompleteSignature", "MissingAuthenticationToken", "TokenFileUnreadable"})
_THROTTLE_CODES = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded"})


@dataclass
class _Call:
    """One chat request after validation: the route, what is sent, and LiteLLM's objects for the answer."""

    route: ChatRoute
    params: dict[str, Any]  # what Bedrock may see: mapped OpenAI params + provider-specific passthrough
    body: dict[str, Any]
    exchange: Exchange
    kw: dict[str, Any]  # the keyword arguments LiteLLM called us with
    fake_stream: bool = False  # native asks for one whole answer replayed as chunks (see _streams.replay)

    @property
    def config(self) -> DeploymentConfig:
        return self.route.config


def _timeout(kw: Mapping[str, Any]) -> Any:
    timeout = kw.get("timeout")
    return timeout if isinstance(timeout, (int, float, httpx.Timeout)) else None


def _lite_error(label: str, exc: XacctError) -> Exception:
    """Our errors as LiteLLM's exception types, so the proxy answers with the right status."""
    model, provider, message = label, PROVIDER, str(exc)
    request = httpx.Request("POST", "https://bedrock-xacct.invalid")
    if isinstance(exc, CallerFieldError):
        return litellm.BadRequestError(message=message, model=model, llm_provider=provider)
    if isinstance(exc, ConfigError):
        return litellm.InternalServerError(message=message, llm_provider=provider, model=model)
    assert isinstance(exc, CredentialError)
    code = exc.code or ""
    if code in _THROTTLE_CODES:
        return litellm.RateLimitError(message=message, llm_provider=provider, model=model)
    if isinstance(exc, RoleAssumptionError) and code not in _AUTH_CODES:
        return litellm.PermissionDeniedError(message=message, llm_provider=provider, model=model,
                                             response=httpx.Response(403, request=request))
    if code in _AUTH_CODES or isinstance(exc, RoleAssumptionError):
        return litellm.AuthenticationError(message=message, llm_provider=provider, model=model)
    return litellm.ServiceUnavailableError(message=message, llm_provider=provider, model=model)


def _base_model(litellm_params: Mapping[str, Any], logging_obj: Any) -> str | None:
    """The deployment's ``base_model`` (``litellm_params.base_model`` or ``model_info.base_model``): names
    the model behind an application inference profile ARN."""
    details = getattr(logging_obj, "model_call_details", None) or {}
    for params in (litellm_params, details.get("litellm_params") or {}, details):
        if not isinstance(params, Mapping):
            continue
        for holder in (params, params.get("model_info"), (params.get("metadata") or {}).get("model_info")):
            if isinstance(holder, Mapping) and isinstance(holder.get("base_model"), str):
                return str(holder["base_model"])
    return None


def _requested(names: tuple[str, ...], optional_params: Mapping[str, Any],
               litellm_params: Mapping[str, Any]) -> dict[str, Any]:
    """The caller's OpenAI params ``names``. LiteLLM drops image params for a custom provider (and, with
    ``drop_params``, embedding ones) before calling it; through the proxy the caller's own request body
    still has them, and the route maps them exactly as native ``bedrock/`` does."""
    found = {k: optional_params[k] for k in names if optional_params.get(k) is not None}
    request = litellm_params.get("proxy_server_request")
    body = request.get("body") if isinstance(request, Mapping) else None
    if isinstance(body, Mapping):
        found.update({k: body[k] for k in names if body.get(k) is not None and k not in found})
    return found


def _image_params(optional_params: Mapping[str, Any], litellm_params: Mapping[str, Any]) -> dict[str, Any]:
    found = _requested(OPENAI_IMAGE_PARAMS, optional_params, litellm_params)
    found.pop("response_format", None)  # Bedrock answers base64 only; native ignores it the same way
    return found


def _fake_stream(route: ChatRoute, params: dict[str, Any]) -> bool:
    """Native's decision to answer a stream from one whole call (e.g. 1.82.3 for ``response_format``)."""
    asked = bool(params.pop("fake_stream", False))
    decide = getattr(route.lite, "should_fake_stream", None)
    if decide is None:
        return asked
    return asked or bool(call_with(decide, model=route.lite_model, stream=True, custom_llm_provider="bedrock",
                                   fake_stream=asked))


def _price_as_native(config: DeploymentConfig, base_model: str | None, logging_obj: Any) -> None:
    """Let LiteLLM's cost calculator price the call as native ``bedrock/<model id>`` on every route prefix
    (``invoke/`` answers and streams carry a model name the price table doesn't know under a custom provider):
    set the logged ``litellm_params.base_model`` -- LiteLLM's own pricing hint, read there on every release --
    to the deployment's ``base_model`` (wherever it was given), else to the model id itself."""
    details = getattr(logging_obj, "model_call_details", None)
    params = details.get("litellm_params") if isinstance(details, dict) else None
    if not isinstance(params, dict) or params.get("base_model"):
        return
    if base_model:
        params["base_model"] = base_model
    elif not config.model.startswith("arn:"):  # an ARN names no price: only a base_model can
        params["base_model"] = f"bedrock/{config.model}"


class BedrockXacct(CustomLLM):
    """Sends each deployment's Bedrock traffic (Converse, Invoke, embeddings, images) signed by the
    deployment's own AWS identity.

    ``engine`` defaults to one :class:`CredentialEngine` per handler, created on first use.
    LiteLLM calls the entry points with keyword arguments only.
    """

    def __init__(self, engine: CredentialEngine | None = None) -> None:
        super().__init__()
        self._engine = engine
        self._engine_lock = threading.Lock()
        self.transport = Transport(lambda: self.engine, _lite_error)
        _params.install()  # native Bedrock params pass LiteLLM's custom-provider gate (see _params)
        _health.install()  # proxy only: health checks sign as each deployment; no misleading startup warning

    @property
    def engine(self) -> CredentialEngine:
        if self._engine is None:
            # LiteLLM's first requests arrive on several threads at once: two engines would each fetch
            # every role once (measured: duplicate AssumeRole calls in a proxy's cold burst).
            with self._engine_lock:
                if self._engine is None:
                    self._engine = CredentialEngine()
        return self._engine

    # -- chat ------------------------------------------------------------------------------------
    def completion(self, *_: Any, **kw: Any) -> Any:
        call = self._prepare(kw, stream=False)
        return self._finish(call, self.transport.send(call.exchange))

    async def acompletion(self, *_: Any, **kw: Any) -> Any:
        call = self._prepare(kw, stream=False)
        return self._finish(call, await self.transport.asend(call.exchange))

    def streaming(self, *_: Any, **kw: Any) -> Iterator[Any]:
        """Opens the stream before returning, so Bedrock's refusal raises here, at the caller's call."""
        call = self._prepare(kw, stream=True)
        if call.fake_stream:
            return _streams.replay(self._finish(call, self.transport.send(call.exchange)), call.params)
        opened = self.transport.open_stream(call.exchange)
        stamp(record(call.config, opened.lease), logging_obj=kw.get("logging_obj"))
        return _streams.decode(call.config, call.route.decoder(call.params, sync=True), opened.chunks)

    # LiteLLM annotates astreaming as a coroutine, but its stream wrapper needs an async iterator back.
    def astreaming(self, *_: Any, **kw: Any) -> AsyncIterator[Any]:
        """LiteLLM calls this from ``acompletion``'s worker thread: the stream is opened there (no event loop
        to block), so errors raise at the caller's ``await``, and the body is read off the loop."""
        call = self._prepare(kw, stream=True)
        if call.fake_stream and not loop_running_here():
            return _streams.areplay(self._finish(call, self.transport.send(call.exchange)), call.params)
        if loop_running_here():  # a release that calls us on the loop: open lazily, asynchronously
            return self._astream_lazily(call)
        opened = self.transport.open_stream(call.exchange)
        stamp(record(call.config, opened.lease), logging_obj=kw.get("logging_obj"))
        return _streams.adecode(call.config, call.route.decoder(call.params, sync=False),
                                in_thread(opened.chunks, opened.close))

    async def _astream_lazily(self, call: _Call) -> AsyncIterator[Any]:
        if call.fake_stream:
            async for chunk in _streams.areplay(self._finish(call, await self.transport.asend(call.exchange)),
                                                call.params):
                yield chunk
            return
        opened = await self.transport.aopen_stream(call.exchange)
        stamp(record(call.config, opened.lease), logging_obj=call.kw.get("logging_obj"))
        async for chunk in _streams.adecode(call.config, call.route.decoder(call.params, sync=False),
                                            opened.chunks):
            yield chunk

    # -- embeddings ------------------------------------------------------------------------------
    def embedding(self, *_: Any, **kw: Any) -> Any:
        config, route, bodies, exchanges = self._prepare_embedding(kw)
        sent = [self.transport.send(ex) for ex in exchanges]
        return self._finish_embedding(config, route, bodies, sent, kw)

    async def aembedding(self, *_: Any, **kw: Any) -> Any:
        config, route, bodies, exchanges = self._prepare_embedding(kw)
        sent = list(await asyncio.gather(*(self.transport.asend(ex) for ex in exchanges)))
        return self._finish_embedding(config, route, bodies, sent, kw)

    # -- images ----------------------------------------------------------------------------------
    def image_generation(self, *_: Any, **kw: Any) -> Any:
        route, body, exchange = self._prepare_image(kw)
        return self._finish_image(route, body, self.transport.send(exchange), kw)

    async def aimage_generation(self, *_: Any, **kw: Any) -> Any:
        route, body, exchange = self._prepare_image(kw)
        return self._finish_image(route, body, await self.transport.asend(exchange), kw)

    # -- the steps -------------------------------------------------------------------------------
    def _config(self, kw: Mapping[str, Any]) -> DeploymentConfig:
        """Identity fields (from the source ``_request`` names) -> a validated config; no AWS call yet."""
        model: str = kw["model"]
        litellm_params = kw.get("litellm_params") or {}
        label = deployment_label(model, litellm_params)
        try:
            fields = identity_fields(label, litellm_params, kw.get("optional_params") or {}, kw["logging_obj"])
            return DeploymentConfig.cached(fields, deployment=label, model=model)
        except XacctError as exc:
            raise _lite_error(label, exc) from exc

    def _prepare(self, kw: dict[str, Any], *, stream: bool) -> _Call:
        config = self._config(kw)
        litellm_params: dict[str, Any] = kw.get("litellm_params") or {}
        logging_obj = kw["logging_obj"]
        try:
            route = chat_route(config, _base_model(litellm_params, logging_obj),
                               messages_api=messages_api_call(logging_obj))
        except XacctError as exc:
            raise _lite_error(config.deployment, exc) from exc
        _price_as_native(config, _base_model(litellm_params, logging_obj), logging_obj)
        drop = bool(litellm_params.get("drop_params") or litellm.drop_params)
        try:
            headers = clean_caller_headers(kw.get("headers") or {}, config.deployment)
        except XacctError as exc:
            raise _lite_error(config.deployment, exc) from exc
        params = map_params(route, _params.caller_params(kw.get("optional_params") or {}, logging_obj), drop,
                            stream=stream)
        fake_stream = stream and _fake_stream(route, params)
        body = route.body(kw["messages"], params, litellm_params, headers)
        operation = route.operation(stream and not fake_stream)
        logging_obj.pre_call(input=kw["messages"], api_key="", additional_args={
            "complete_input_dict": body, "api_base": model_url(config, operation), "xacct": config.audit()})
        exchange = Exchange(config, operation, json.dumps(body).encode(), headers, _timeout(kw))
        return _Call(route, params, body, exchange, kw, fake_stream)

    def _finish(self, call: _Call, sent: Sent) -> Any:
        result = call.route.parse(sent.response, call.kw, call.body, call.params)
        stamp(record(call.config, sent.lease), result, call.kw["logging_obj"])
        return result

    def _prepare_embedding(self, kw: dict[str, Any]) -> tuple[DeploymentConfig, EmbeddingRoute,
                                                              list[dict[str, Any]], list[Exchange]]:
        config = self._config(kw)
        litellm_params: dict[str, Any] = kw.get("litellm_params") or {}
        try:
            base_model = _base_model(litellm_params, kw["logging_obj"])
            route = EmbeddingRoute(config, base_model)
        except XacctError as exc:
            raise _lite_error(config.deployment, exc) from exc
        _price_as_native(config, base_model, kw["logging_obj"])
        drop = bool(litellm_params.get("drop_params") or litellm.drop_params)
        optional_params = {**(kw.get("optional_params") or {}),
                           **_requested(("dimensions", "encoding_format"), {}, litellm_params)}
        params = route.params(optional_params, drop)
        inputs = list(kw["input"])
        bodies = route.bodies(inputs, params)
        kw["logging_obj"].pre_call(input=inputs, api_key="", additional_args={
            "complete_input_dict": bodies[0] if len(bodies) == 1 else bodies,
            "api_base": model_url(config, "invoke"), "xacct": config.audit()})
        exchanges = [Exchange(config, "invoke", json.dumps(b).encode(), {}, _timeout(kw),
                              {"Accept": "application/json"}) for b in bodies]
        return config, route, bodies, exchanges

    def _finish_embedding(self, config: DeploymentConfig, route: EmbeddingRoute, bodies: list[dict[str, Any]],
                          sent: list[Sent], kw: dict[str, Any]) -> Any:
        result = route.parse([s.response for s in sent], bodies, list(kw["input"]), kw)
        stamp(record(config, sent[-1].lease), result, kw["logging_obj"])
        return result

    def _prepare_image(self, kw: dict[str, Any]) -> tuple[ImageRoute, dict[str, Any], Exchange]:
        logging_obj = kw["logging_obj"]
        details = getattr(logging_obj, "model_call_details", None) or {}
        # LiteLLM passes no litellm_params to a custom provider's image entry points: read the logged ones.
        litellm_params = kw.get("litellm_params") or details.get("litellm_params") or {}
        config = self._config({**kw, "litellm_params": litellm_params})
        base_model = _base_model(litellm_params, logging_obj)
        route = ImageRoute(config, base_model)
        _price_as_native(config, base_model, logging_obj)
        drop = bool(litellm_params.get("drop_params") or litellm.drop_params)
        optional_params = kw.get("optional_params") or {}
        openai_params = _image_params(optional_params, litellm_params)
        params = route.params(optional_params, openai_params, drop)
        body = route.body(kw["prompt"], params)
        logging_obj.pre_call(input=kw["prompt"], api_key="", additional_args={
            "complete_input_dict": body, "api_base": model_url(config, "invoke"), "xacct": config.audit()})
        exchange = Exchange(config, "invoke", json.dumps(body).encode(), {}, _timeout(kw),
                            {"Accept": "application/json"})
        return route, body, exchange

    def _finish_image(self, route: ImageRoute, body: dict[str, Any], sent: Sent, kw: dict[str, Any]) -> Any:
        result = route.parse(sent.response, body, kw["prompt"], kw)
        stamp(record(route.config, sent.lease), result, kw["logging_obj"])
        return result
