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
from ._config import PROVIDER, DeploymentConfig
from ._credentials import CredentialEngine, Lease
from ._errors import CallerFieldError, ConfigError, CredentialError, RoleAssumptionError, XacctError
from ._request import deployment_label, identity_fields
from ._signing import model_url, sign

_AUTH_CODES = frozenset({"InvalidClientTokenId", "ExpiredToken", "SignatureDoesNotMatch", "NoCredentials",
                         "IncompleteSignature", "MissingAuthenticationToken", "TokenFileUnreadable"})
_THROTTLE_CODES = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded"})


@dataclass
class _Call:
    """Everything one request needs after validation: who signs, where to, what."""

    config: DeploymentConfig
    params: dict[str, Any]
    body: dict[str, Any]
    data: bytes
    headers: dict[str, str]


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

    ``engine`` defaults to one process-wide :class:`CredentialEngine`, created on first use.
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

    # -- shared steps ----------------------------------------------------------------------------
    def _prepare(self, model: str, messages: list[Any], optional_params: dict[str, Any],
                 litellm_params: dict[str, Any] | None, logging_obj: Any,
                 headers: dict[str, Any] | None, stream: bool) -> _Call:
        litellm_params = litellm_params or {}
        label = deployment_label(model, litellm_params)
        try:
            fields = identity_fields(label, litellm_params, optional_params, logging_obj)
            config = DeploymentConfig.cached(fields, deployment=label, model=model)
        except XacctError as exc:
            raise _lite_error(label, exc) from exc
        drop = bool(litellm_params.get("drop_params") or litellm.drop_params)
        params = _bedrock.bedrock_params(config.model, optional_params, drop)
        extra_headers = {str(k): str(v) for k, v in (headers or {}).items()}
        body = _bedrock.request_body(config, messages, params, litellm_params, extra_headers)
        data = json.dumps(body).encode()
        logging_obj.pre_call(input=messages, api_key="", additional_args={
            "complete_input_dict": body, "api_base": model_url(config, "converse"),
            "xacct": config.audit(),
        })
        return _Call(config, params, body, data, {"Content-Type": "application/json", **extra_headers})

    def _signed(self, call: _Call, lease: Lease, operation: str) -> tuple[str, dict[str, str]]:
        url = model_url(call.config, operation)
        assert lease.credentials is not None
        return url, sign(lease.credentials, call.config.region, url, call.data, call.headers)

    def _audit(self, call: _Call, lease: Lease, response: Any = None,
               logging_obj: Any = None) -> dict[str, str | None]:
        """Who signed (secret-free), stamped where both LiteLLM 1.82.3 and 1.108.7 carry it on:

        * ``response._hidden_params["xacct"]`` (in-process callers);
        * ``response._hidden_params["additional_headers"]["llm_provider-x-xacct-<field>"]``: the proxy sends
          these to the client as response headers (non-stream responses);
        * ``metadata["spend_logs_metadata"]["xacct"]`` in the logging object's ``litellm_params``: lands in
          the StandardLoggingPayload (``metadata.spend_logs_metadata``) and the proxy's spend logs.
          Written by the provider after any caller-supplied value, so a caller cannot forge it.
        """
        role = call.config.role
        audit = {"account": lease.account, "principal_arn": lease.principal_arn,
                 "role_arn": role.role_arn if role else None,
                 "session_name": role.session_name if role else None, "deployment": call.config.deployment}
        hidden = getattr(response, "_hidden_params", None)
        if isinstance(hidden, dict):
            hidden["xacct"] = audit
            headers = hidden.get("additional_headers")
            if not isinstance(headers, dict):
                headers = hidden["additional_headers"] = {}
            for key, value in audit.items():
                if value is not None:
                    headers[f"llm_provider-x-xacct-{key.replace('_', '-')}"] = value
        details = getattr(logging_obj, "model_call_details", None)
        params = details.get("litellm_params") if isinstance(details, dict) else None
        if isinstance(params, dict):
            key = "litellm_metadata" if (not isinstance(params.get("metadata"), dict)
                                         and isinstance(params.get("litellm_metadata"), dict)) else "metadata"
            metadata = params.get(key)
            if not isinstance(metadata, dict):
                metadata = params[key] = {}
            spend = metadata.get("spend_logs_metadata")
            # A copy: the caller's own dict may be shared with the request body.
            metadata["spend_logs_metadata"] = {**(spend if isinstance(spend, dict) else {}), "xacct": audit}
        return audit

    def _fail(self, call: _Call, response: httpx.Response, text: str) -> Exception:
        return _bedrock.bedrock_error(call.config, response.status_code, text, response.headers)

    def _expired(self, response: httpx.Response, text: str) -> bool:
        return response.status_code == 403 and _bedrock.error_code(text, response.headers) == "ExpiredTokenException"

    async def _alease(self, call: _Call) -> Lease:
        try:
            return await self.engine.aget(call.config)
        except XacctError as exc:
            raise _lite_error(call.config.deployment, exc) from exc

    def _lease(self, call: _Call) -> Lease:
        try:
            return self.engine.get(call.config)
        except XacctError as exc:
            raise _lite_error(call.config.deployment, exc) from exc

    def _finish(self, call: _Call, response: httpx.Response, lease: Lease, model_response: Any,
                logging_obj: Any, messages: list[Any], litellm_params: dict[str, Any] | None,
                encoding: Any) -> Any:
        result = _bedrock.parse_response(call.config, response, model_response, logging_obj, call.body,
                                         messages, call.params, litellm_params or {}, encoding)
        self._audit(call, lease, result, logging_obj)
        return result

    def _http(self) -> httpx.Client:
        if self._sync_http is None:
            self._sync_http = HTTPHandler()
        return self._sync_http.client

    @staticmethod
    def _ahttp(timeout: Any) -> httpx.AsyncClient:
        params = {"timeout": timeout} if isinstance(timeout, (int, float, httpx.Timeout)) else None
        return get_async_httpx_client(llm_provider=litellm.LlmProviders.BEDROCK, params=params).client

    # -- CustomLLM entry points ------------------------------------------------------------------
    def completion(self, model: str, messages: list[Any], api_base: str | None, custom_prompt_dict: dict[str, Any],
                   model_response: Any, print_verbose: Any, encoding: Any, api_key: Any, logging_obj: Any,
                   optional_params: dict[str, Any], acompletion: Any = None,
                   litellm_params: dict[str, Any] | None = None, logger_fn: Any = None,
                   headers: dict[str, Any] | None = None, timeout: Any = None, client: Any = None) -> Any:
        call = self._prepare(model, messages, optional_params, litellm_params, logging_obj, headers, False)
        for attempt in (0, 1):
            lease = self._lease(call)
            url, signed = self._signed(call, lease, "converse")
            response = self._http().post(url, content=call.data, headers=signed, timeout=timeout)
            if response.status_code == 200:
                return self._finish(call, response, lease, model_response, logging_obj, messages,
                                    litellm_params, encoding)
            if attempt == 0 and self._expired(response, response.text):
                self.engine.invalidate(call.config, lease)
                continue
            raise self._fail(call, response, response.text)
        raise AssertionError("unreachable")

    async def acompletion(self, model: str, messages: list[Any], api_base: str | None,
                          custom_prompt_dict: dict[str, Any], model_response: Any, print_verbose: Any,
                          encoding: Any, api_key: Any, logging_obj: Any, optional_params: dict[str, Any],
                          acompletion: Any = None, litellm_params: dict[str, Any] | None = None,
                          logger_fn: Any = None, headers: dict[str, Any] | None = None, timeout: Any = None,
                          client: Any = None) -> Any:
        call = self._prepare(model, messages, optional_params, litellm_params, logging_obj, headers, False)
        http = self._ahttp(timeout)
        for attempt in (0, 1):
            lease = await self._alease(call)
            url, signed = self._signed(call, lease, "converse")
            response = await http.post(url, content=call.data, headers=signed)
            if response.status_code == 200:
                return self._finish(call, response, lease, model_response, logging_obj, messages,
                                    litellm_params, encoding)
            if attempt == 0 and self._expired(response, response.text):
                self.engine.invalidate(call.config, lease)
                continue
            raise self._fail(call, response, response.text)
        raise AssertionError("unreachable")

    def streaming(self, model: str, messages: list[Any], api_base: str | None, custom_prompt_dict: dict[str, Any],
                  model_response: Any, print_verbose: Any, encoding: Any, api_key: Any, logging_obj: Any,
                  optional_params: dict[str, Any], acompletion: Any = None,
                  litellm_params: dict[str, Any] | None = None, logger_fn: Any = None,
                  headers: dict[str, Any] | None = None, timeout: Any = None, client: Any = None) -> Iterator[Any]:
        call = self._prepare(model, messages, optional_params, litellm_params, logging_obj, headers, True)
        http = self._http()
        for attempt in (0, 1):
            lease = self._lease(call)
            url, signed = self._signed(call, lease, "converse-stream")
            with http.stream("POST", url, content=call.data, headers=signed, timeout=timeout) as response:
                if response.status_code == 200:
                    self._audit(call, lease, logging_obj=logging_obj)
                    yield from _bedrock.decode_stream(call.config, response.iter_bytes())
                    return
                text = response.read().decode("utf-8", "replace")
            if attempt == 0 and self._expired(response, text):
                self.engine.invalidate(call.config, lease)
                continue
            raise self._fail(call, response, text)

    # LiteLLM annotates astreaming as a coroutine, but dispatch needs an async generator function.
    async def astreaming(
                         self, model: str, messages: list[Any], api_base: str | None,
                         custom_prompt_dict: dict[str, Any], model_response: Any, print_verbose: Any,
                         encoding: Any, api_key: Any, logging_obj: Any, optional_params: dict[str, Any],
                         acompletion: Any = None, litellm_params: dict[str, Any] | None = None,
                         logger_fn: Any = None, headers: dict[str, Any] | None = None, timeout: Any = None,
                         client: Any = None) -> AsyncIterator[Any]:
        call = self._prepare(model, messages, optional_params, litellm_params, logging_obj, headers, True)
        http = self._ahttp(timeout)
        for attempt in (0, 1):
            lease = await self._alease(call)
            url, signed = self._signed(call, lease, "converse-stream")
            async with http.stream("POST", url, content=call.data, headers=signed) as response:
                if response.status_code == 200:
                    self._audit(call, lease, logging_obj=logging_obj)
                    async for chunk in _bedrock.adecode_stream(call.config, response.aiter_bytes()):
                        yield chunk
                    return
                text = (await response.aread()).decode("utf-8", "replace")
            if attempt == 0 and self._expired(response, text):
                self.engine.invalidate(call.config, lease)
                continue
            raise self._fail(call, response, text)
