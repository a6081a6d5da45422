"""Routes: each a small adapter over LiteLLM's own Bedrock config class for one Bedrock operation family.

A route builds the request body and reads the answer with LiteLLM's transformation; the signed transport
(:mod:`litellm_xacct._transport`) does everything else. Chat routes: :mod:`.converse` (``<id>`` and
``converse/<id>``) and :mod:`.invoke` (``invoke/<id>``). Embeddings: :mod:`.embedding`. Images: :mod:`.image`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import litellm

from .._config import PROVIDER, DeploymentConfig
from .converse import ConverseRoute
from .invoke import InvokeRoute, anthropic_family

ChatRoute = ConverseRoute | InvokeRoute

#: Keys LiteLLM (or a router) leaves in optional_params that must never reach Bedrock.
INTERNAL = frozenset({"max_retries", "stream", "stream_options", "fake_stream", "model_id"})
#: OpenAI params native ``bedrock/`` accepts without validating them and never sends (LiteLLM's
#: ``PROVIDER_UNVALIDATED_PARAMS``): Bedrock has no field for the caller's ``user``.
UNVALIDATED = frozenset({"user"})


def chat_route(config: DeploymentConfig, base_model: str | None = None, *, messages_api: bool = False) -> ChatRoute:
    """The deployment's route; a ``/v1/messages`` call to an Anthropic model goes over InvokeModel with the
    Anthropic Messages body, as native ``bedrock/`` sends it, whatever the deployment's prefix."""
    if config.route == "invoke":
        return InvokeRoute(config, base_model)
    if messages_api and anthropic_family(config.model, base_model):
        return InvokeRoute(config, base_model)
    return ConverseRoute(config)


def map_params(route: ChatRoute, optional_params: Mapping[str, Any], drop_params: bool,
               stream: bool = False) -> dict[str, Any]:
    """The params Bedrock may see: OpenAI params mapped by the route's LiteLLM config, plus
    provider-specific passthrough (``top_k``, ``guardrailConfig``...) exactly as native ``bedrock/``
    passes them. ``aws_*``, ``xacct_*`` and router internals are removed. ``stream`` is shown to the config
    as native does, so it can ask for a fake stream (``fake_stream``: one Converse call, replayed as chunks),
    which the caller pops."""
    openai_names = set(litellm.OPENAI_CHAT_COMPLETION_PARAMS)
    supported = set(route.supported())
    openai_part: dict[str, Any] = {}
    passthrough: dict[str, Any] = {}
    for key, value in optional_params.items():
        if key.startswith(("aws_", "xacct_")) or key in INTERNAL or key in UNVALIDATED or value is None:
            continue
        if key in openai_names:
            if key in supported:
                openai_part[key] = value
            elif not drop_params:
                raise litellm.UnsupportedParamsError(
                    message=f"{PROVIDER} does not support parameter {key!r} for model {route.config.model} "
                    f"(route {route.config.route}/). Fix: remove it, or set drop_params: true to drop it",
                    model=route.config.model, llm_provider=PROVIDER,
                )
        else:
            passthrough[key] = value
    if stream:
        openai_part["stream"] = True
    mapped = route.lite.map_openai_params(
        non_default_params=openai_part, optional_params={}, model=route.lite_model, drop_params=drop_params
    )
    mapped.pop("stream", None)
    mapped.update(passthrough)
    return dict(mapped)
