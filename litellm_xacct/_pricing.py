"""Pricing hints: let LiteLLM's cost calculator price a ``bedrock-xacct`` call exactly as native ``bedrock/``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._config import DeploymentConfig


def base_model(litellm_params: Mapping[str, Any], logging_obj: Any) -> str | None:
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


def price_as_native(config: DeploymentConfig, base: str | None, logging_obj: Any) -> None:
    """Let LiteLLM's cost calculator price the call as native ``bedrock/<model id>`` on every route prefix
    (``invoke/`` answers and streams carry a model name the price table doesn't know under a custom provider):
    set the logged ``litellm_params.base_model`` -- LiteLLM's own pricing hint, read there on every release --
    to the deployment's ``base_model`` (wherever it was given), else to the model id itself."""
    details = getattr(logging_obj, "model_call_details", None)
    params = details.get("litellm_params") if isinstance(details, dict) else None
    if not isinstance(params, dict) or params.get("base_model"):
        return
    if base:
        params["base_model"] = base
    elif not config.model.startswith("arn:"):  # an ARN names no price: only a base_model can
        params["base_model"] = f"bedrock/{config.model}"
