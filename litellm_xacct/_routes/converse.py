"""``bedrock-xacct/<id>`` and ``bedrock-xacct/converse/<id>``: Converse / ConverseStream with
LiteLLM's ``AmazonConverseConfig`` (body, answer) and its ``AWSEventStreamDecoder`` (stream)."""

from __future__ import annotations

from typing import Any

from .. import _compat
from .._config import DeploymentConfig
from ._base import Call
from ._chat import ChatRoute


class ConverseRoute(ChatRoute):
    def __init__(self, config: DeploymentConfig, base_model: str | None = None) -> None:
        super().__init__(config)
        self.lite = _compat.converse_config()
        self.lite_model = config.model  # what LiteLLM's config is asked about (native strips converse/)

    def operation(self, stream: bool) -> str:
        return "converse-stream" if stream else "converse"

    def decoder(self, call: Call, *, sync: bool) -> Any:
        return _compat.stream_decoder(None, self.lite_model, bool(call.params.get("json_mode")), sync=sync)
