"""The ``bedrock-xacct`` CustomLLM: config -> credentials -> signing -> delegation, per request."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import litellm
from litellm import CustomLLM
from litellm.llms.custom_httpx.http_handler import HTTPHandler, get_async_httpx_client

from . import _bedrock
from ._audit import record, stamp
from ._config import PROVIDER, DeploymentConfig
from ._credentials import CredentialEngine, Lease
from ._errors import CallerFieldError, ConfigError, CredentialError, RoleAssumptionError, XacctError
from ._request import deployment_label, identity_fields
from ._signing import clean_caller_headers, model_url, sign

_AUTH_CODES = frozenset({"InvalidClientTokenId", "ExpiredToken", "SignatureDoesNotMatch", "NoCredentials",
                         "IncompleteSignature", "MissingAuthenticationToken", "TokenFileUnreadable"})
_THROTTLE_CODES = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded"})


@dataclass
class _Call:
    """One request after validation: who signs, what is sent, and LiteLLM's objects for the answer."""

    config: DeploymentConfig
    params: dict[str, Any]  # what Bedrock may see: mapped OpenAI params + provider-specific passthrough
    body: dict[str, Any]
    data: bytes
    headers: dict[str, str]
    kw: dict[str, Any]  # the keyword arguments LiteLLM called us with

    @property
    def timeout(self) -> Any:
        timeout = self.kw.get("timeout")
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


class BedrockXacct(CustomLLM):
    """Sends each deployment's Bedrock Converse traffic signed by the deployment's own AWS identity.

    ``engine`` defaults to one :class:`CredentialEngine` per handler, created on first use.
    LiteLLM calls the four entry points with keyword arguments only.
    """

    def __init__(self, engine: CredentialEngine | None = None) -> None:
        super().__init__()
        self._engine = engine
        self._sync_http: HTTPHandler | None = None

    @property
    def engine(self) -> CredentialEngine:
        if self._engine is None:
            self._engine = CredentialEngine()
        return self._engine

    # -- CustomLLM entry points ------------------------------------------------------------------
    def completion(self, *_: Any, **kw: Any) -> Any:
        call = self._prepare(kw)
        for retried in (False, True):
            lease = self._lease(call)
            url, headers = self._signed(call, lease, "converse")
            response = self._http().post(url, content=call.data, headers=headers, timeout=call.timeout)
            if response.status_code == 200:
                return self._finish(call, response, lease)
            self._retry_or_raise(call, lease, response, response.text, retried)

    async def acompletion(self, *_: Any, **kw: Any) -> Any:
        call = self._prepare(kw)
        for retried in (False, True):
            lease = await self._alease(call)
            url, headers = self._signed(call, lease, "converse")
            response = await self._ahttp(call).post(url, content=call.data, headers=headers)
            if response.status_code == 200:
                return self._finish(call, response, lease)
            self._retry_or_raise(call, lease, response, response.text, retried)

    def streaming(self, *_: Any, **kw: Any) -> Iterator[Any]:
        call = self._prepare(kw)
        for retried in (False, True):
            lease = self._lease(call)
            url, headers = self._signed(call, lease, "converse-stream")
            with self._http().stream("POST", url, content=call.data, headers=headers,
                                     timeout=call.timeout) as response:
                if response.status_code == 200:
                    stamp(record(call.config, lease), logging_obj=kw.get("logging_obj"))
                    yield from _bedrock.decode_stream(call.config, response.iter_bytes())
                    return
                text = response.read().decode("utf-8", "replace")
            self._retry_or_raise(call, lease, response, text, retried)

    # LiteLLM annotates astreaming as a coroutine, but dispatch needs an async generator function.
    async def astreaming(self, *_: Any, **kw: Any) -> AsyncIterator[Any]:
        call = self._prepare(kw)
        for retried in (False, True):
            lease = await self._alease(call)
            url, headers = self._signed(call, lease, "converse-stream")
            async with self._ahttp(call).stream("POST", url, content=call.data, headers=headers) as response:
                if response.status_code == 200:
                    stamp(record(call.config, lease), logging_obj=kw.get("logging_obj"))
                    async for chunk in _bedrock.adecode_stream(call.config, response.aiter_bytes()):
                        yield chunk
                    return
                text = (await response.aread()).decode("utf-8", "replace")
            self._retry_or_raise(call, lease, response, text, retried)

    # -- the steps -------------------------------------------------------------------------------
    def _prepare(self, kw: dict[str, Any]) -> _Call:
        """Config (validated, cached) and the signed-to-be body; no AWS call yet."""
        model: str = kw["model"]
        litellm_params: dict[str, Any] = kw.get("litellm_params") or {}
        optional_params: dict[str, Any] = kw.get("optional_params") or {}
        logging_obj = kw["logging_obj"]
        label = deployment_label(model, litellm_params)
        try:
            fields = identity_fields(label, litellm_params, optional_params, logging_obj)
            config = DeploymentConfig.cached(fields, deployment=label, model=model)
            extra_headers = clean_caller_headers(kw.get("headers") or {}, label)
        except XacctError as exc:
            raise _lite_error(label, exc) from exc
        drop = bool(litellm_params.get("drop_params") or litellm.drop_params)
        params = _bedrock.bedrock_params(config.model, optional_params, drop)
        body = _bedrock.request_body(config, kw["messages"], params, litellm_params, extra_headers)
        logging_obj.pre_call(input=kw["messages"], api_key="", additional_args={
            "complete_input_dict": body, "api_base": model_url(config, "converse"), "xacct": config.audit()})
        return _Call(config, params, body, json.dumps(body).encode(),
                     {"Content-Type": "application/json", **extra_headers}, kw)

    def _lease(self, call: _Call) -> Lease:
        try:
            return self.engine.get(call.config)
        except XacctError as exc:
            raise _lite_error(call.config.deployment, exc) from exc

    async def _alease(self, call: _Call) -> Lease:
        try:
            return await self.engine.aget(call.config)
        except XacctError as exc:
            raise _lite_error(call.config.deployment, exc) from exc

    def _signed(self, call: _Call, lease: Lease, operation: str) -> tuple[str, dict[str, str]]:
        url = model_url(call.config, operation)
        assert lease.credentials is not None
        return url, sign(lease.credentials, call.config.region, url, call.data, call.headers)

    def _finish(self, call: _Call, response: httpx.Response, lease: Lease) -> Any:
        kw = call.kw
        result = _bedrock.parse_response(call.config, response, kw["model_response"], kw["logging_obj"],
                                         call.body, kw["messages"], call.params, kw.get("litellm_params") or {},
                                         kw.get("encoding"))
        stamp(record(call.config, lease), result, kw["logging_obj"])
        return result

    def _retry_or_raise(self, call: _Call, lease: Lease, response: httpx.Response, text: str,
                        retried: bool) -> None:
        """Bedrock refused: after ``ExpiredTokenException`` force one refresh (the caller retries once);
        otherwise raise what native ``bedrock/`` would raise for the same answer."""
        expired = response.status_code == 403 and (
            _bedrock.error_code(text, response.headers) == "ExpiredTokenException")
        if expired and not retried:
            self.engine.invalidate(call.config, lease)
            return
        raise _bedrock.bedrock_error(call.config, response.status_code, text, response.headers)

    def _http(self) -> httpx.Client:
        if self._sync_http is None:
            self._sync_http = HTTPHandler()
        return self._sync_http.client

    @staticmethod
    def _ahttp(call: _Call) -> httpx.AsyncClient:
        params = {"timeout": call.timeout} if call.timeout is not None else None
        return get_async_httpx_client(llm_provider=litellm.LlmProviders.BEDROCK, params=params).client
