"""The route protocol: what every route answers, in the same words, whatever it sends.

A route is a small adapter over one of LiteLLM's own Bedrock config classes (``lite``, asked about
``lite_model``). The pipeline (:mod:`litellm_xacct._pipeline`) asks every route the same questions:

* :meth:`Route.serves` -- is this entry point + deployment mine?            (the route table picks by it)
* :meth:`Route.params` -- which of the caller's params may Bedrock see?    (filtering is this base's job)
* :meth:`Route.bodies` -- the JSON body (or bodies: one per input for some embedding families) to send;
* :meth:`Route.operation` -- which Bedrock operation (stream or not);
* :meth:`Route.parse` -- LiteLLM's answer object from the response(s);
* :meth:`Route.decoder` -- which event-stream decoder reads a streamed answer (chat routes only).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from .._compat import UnsupportedParamsError
from .._config import PROVIDER, DeploymentConfig

#: Keys LiteLLM (or a router) leaves among a provider's params that must never reach Bedrock.
INTERNAL = frozenset({"max_retries", "stream", "stream_options", "fake_stream", "model_id"})
#: Prefixes of the deployment's identity fields: read by ``_request``, never sent.
IDENTITY_PREFIXES = ("aws_", "xacct_")
#: OpenAI params native ``bedrock/`` accepts without validating them and never sends (LiteLLM's
#: ``PROVIDER_UNVALIDATED_PARAMS``): Bedrock has no field for the caller's ``user``.
UNVALIDATED = frozenset({"user"})


@dataclass
class Call:
    """One request on its way through the pipeline, as every route sees it."""

    kw: dict[str, Any]  # the keyword arguments LiteLLM called the entry point with
    config: DeploymentConfig
    litellm_params: dict[str, Any]
    logging_obj: Any
    stream: bool
    drop_params: bool
    headers: dict[str, str]  # the caller's extra headers, cleaned once (see _signing.clean_caller_headers)
    params: dict[str, Any] = field(default_factory=dict)  # what Bedrock may see (Route.params)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    fake_stream: bool = False  # native answers this stream from one whole call, replayed as chunks

    @property
    def optional_params(self) -> dict[str, Any]:
        return dict(self.kw.get("optional_params") or {})


_SUPPORTED: dict[tuple[type, str], frozenset[str]] = {}  # Route.supported, per (LiteLLM config class, model)


class Route:
    """The base every route extends; a subclass sets the class attributes and the LiteLLM config."""

    kind: ClassVar[str]  # the entry points it serves: chat | embedding | image
    input_key: ClassVar[str]  # where LiteLLM puts the input in kw: messages | input | prompt
    openai_names: ClassVar[frozenset[str]]  # OpenAI params of this kind of call; the rest is passthrough
    ignored: ClassVar[frozenset[str]] = UNVALIDATED  # OpenAI params accepted and never sent
    recovered: ClassVar[frozenset[str]] = frozenset()  # OpenAI params LiteLLM drops before a custom
    # provider sees them: read back from the caller's own proxy request body (native maps them)
    accept_json: ClassVar[bool] = True  # InvokeModel answers JSON only when asked to

    config: DeploymentConfig
    lite: Any
    lite_model: str

    def __init__(self, config: DeploymentConfig, base_model: str | None = None) -> None:
        self.config = config

    @classmethod
    def serves(cls, kind: str, config: DeploymentConfig, base_model: str | None, messages_api: bool) -> bool:
        return kind == cls.kind

    # -- params ----------------------------------------------------------------------------------
    def supported(self) -> Collection[str]:
        # LiteLLM rebuilds this list on every call (0.3 ms profiled); it depends only on config class and model.
        key = (type(self.lite), self.lite_model)
        found = _SUPPORTED.get(key)
        if found is None:
            found = _SUPPORTED[key] = frozenset(self.lite.get_supported_openai_params(self.lite_model))
        return found

    def requested(self, call: Call) -> dict[str, Any]:
        """The caller's params: LiteLLM's, plus :attr:`recovered` ones from the proxy request body."""
        found = call.optional_params
        request = call.litellm_params.get("proxy_server_request")
        body = request.get("body") if isinstance(request, Mapping) else None
        if isinstance(body, Mapping):
            found.update({k: body[k] for k in self.recovered if body.get(k) is not None and found.get(k) is None})
        return found

    def map(self, openai_part: dict[str, Any], call: Call) -> dict[str, Any]:
        """OpenAI params (all supported) in Bedrock's words, by the route's LiteLLM config."""
        return dict(self.lite.map_openai_params(non_default_params=openai_part, optional_params={}))

    def params(self, call: Call) -> dict[str, Any]:
        """What Bedrock may see: supported OpenAI params mapped as native ``bedrock/`` maps them, plus
        provider-specific passthrough (``top_k``, ``guardrailConfig``...). Identity fields, LiteLLM's
        internals and ``None`` values are dropped; an unsupported OpenAI param raises
        ``UnsupportedParamsError`` (400) unless ``drop_params``."""
        supported = self.supported()
        openai_part: dict[str, Any] = {}
        passthrough: dict[str, Any] = {}
        for key, value in self.requested(call).items():
            if value is None or key.startswith(IDENTITY_PREFIXES) or key in INTERNAL or key in self.ignored:
                continue
            if key not in self.openai_names:
                passthrough[key] = value
            elif key in supported:
                openai_part[key] = value
            elif not call.drop_params:
                raise UnsupportedParamsError(
                    message=f"{PROVIDER} does not support parameter {key!r} for {self.kind} model "
                    f"{self.config.model} (route {type(self).__name__}). Fix: remove it, or set drop_params: "
                    "true to drop it", model=self.config.model, llm_provider=PROVIDER)
        return {**self.map(openai_part, call), **passthrough}

    # -- request and answer ----------------------------------------------------------------------
    def bodies(self, call: Call) -> list[dict[str, Any]]:
        raise NotImplementedError

    def operation(self, stream: bool) -> str:
        return "invoke-with-response-stream" if stream else "invoke"

    def fake_stream(self, call: Call) -> bool:
        """Whether native answers this stream from one whole call (chat routes may say so)."""
        return False

    def parse(self, call: Call, responses: list[httpx.Response]) -> Any:
        raise NotImplementedError

    def decoder(self, call: Call, *, sync: bool) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no streamed answers")
