"""``bedrock-xacct/invoke/<id>``: InvokeModel / InvokeModelWithResponseStream with the per-family config
native ``bedrock/invoke/`` uses (``get_bedrock_chat_config``: Anthropic Messages, Nova, Titan, Llama,
Mistral, Cohere, ...) and that family's stream decoder.

An inference-profile ARN names its family (``...inference-profile/us.anthropic...``); an application
inference profile does not: give the deployment ``base_model`` (e.g. ``model_info.base_model``) and the
body follows that model's family.
"""

from __future__ import annotations

from typing import Any

from .. import _compat
from .._config import DeploymentConfig
from .._errors import ConfigError
from ._base import Call
from ._chat import ChatRoute


class InvokeRoute(ChatRoute):
    keeps_stream = True  # as native: each family's transform decides (Cohere Command R sends "stream": true)

    @classmethod
    def serves(cls, kind: str, config: DeploymentConfig, base_model: str | None, messages_api: bool) -> bool:
        """``invoke/`` deployments; and a ``/v1/messages`` call to an Anthropic model, which native ``bedrock/``
        sends as the Anthropic Messages body over InvokeModel whatever the deployment's prefix."""
        return kind == cls.kind and (config.route == "invoke" or (
            messages_api and anthropic_family(config.model, base_model)))

    def __init__(self, config: DeploymentConfig, base_model: str | None = None) -> None:
        super().__init__(config)
        family_model = config.model
        base = (base_model or "").split("/")[-1]  # tolerate bedrock/... or bedrock/invoke/... spellings
        if base and _family(base) and not _family(config.model):
            family_model = base
        self.lite_model = f"invoke/{family_model}"
        self.family = _family(family_model)
        if self.family is None:
            raise ConfigError(config.deployment, "model", f"invoke/{config.model!r} names no model family LiteLLM "
                              "knows for InvokeModel", "use a model id such as invoke/anthropic.claude-..., or "
                              "set model_info.base_model to the model behind this inference profile")
        self.lite = _compat.invoke_chat_config(self.lite_model)

    def decoder(self, call: Call, *, sync: bool) -> Any:
        return _compat.stream_decoder(self.family, self.lite_model, bool(call.params.get("json_mode")), sync=sync)


def _family(model: str) -> str | None:
    if model.startswith("arn:") and ":application-inference-profile/" in model:
        return None  # an opaque id: no family in it
    return _compat.invoke_family(model)


def anthropic_family(model: str, base_model: str | None) -> bool:
    """Whether the model (or, for an opaque ARN, its base model) is an Anthropic one on InvokeModel."""
    return _family(model) == "anthropic" or (
        _family(model) is None and bool(base_model) and _family(str(base_model).split("/")[-1]) == "anthropic")
