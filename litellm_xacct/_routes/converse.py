"""``bedrock-xacct/<id>`` and ``bedrock-xacct/converse/<id>``: Converse / ConverseStream with
LiteLLM's ``AmazonConverseConfig`` (body, answer) and its ``AWSEventStreamDecoder`` (stream)."""

from __future__ import annotations

from typing import Any

import httpx
import litellm

from .. import _compat
from .._config import DeploymentConfig


class ConverseRoute:
    def __init__(self, config: DeploymentConfig) -> None:
        self.config = config
        self.lite = litellm.AmazonConverseConfig()
        self.lite_model = config.model  # what LiteLLM's config is asked about (native strips converse/)

    def supported(self) -> list[str]:
        return list(self.lite.get_supported_openai_params(self.lite_model))

    def operation(self, stream: bool) -> str:
        return "converse-stream" if stream else "converse"

    def body(self, messages: list[Any], params: dict[str, Any], litellm_params: dict[str, Any],
             headers: dict[str, Any]) -> dict[str, Any]:
        return dict(self.lite.transform_request(model=self.lite_model, messages=messages,
                                                optional_params=dict(params), litellm_params=litellm_params,
                                                headers=headers))

    def parse(self, response: httpx.Response, kw: dict[str, Any], body: dict[str, Any],
              params: dict[str, Any]) -> Any:
        return self.lite.transform_response(
            model=self.lite_model, raw_response=response, model_response=kw["model_response"],
            logging_obj=kw["logging_obj"], request_data=body, messages=kw["messages"], optional_params=params,
            litellm_params=kw.get("litellm_params") or {}, encoding=kw.get("encoding"))

    def decoder(self, params: dict[str, Any], *, sync: bool) -> Any:
        return _compat.stream_decoder(None, self.lite_model, bool(params.get("json_mode")), sync=sync)
