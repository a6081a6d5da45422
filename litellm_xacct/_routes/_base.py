"""What every chat route shares: LiteLLM's config class builds the body and reads the answer."""

from __future__ import annotations

from typing import Any

import httpx

from .._config import DeploymentConfig


class LiteChatRoute:
    """A chat route on one of LiteLLM's Bedrock config classes (``lite``), asked about ``lite_model``."""

    config: DeploymentConfig
    lite: Any
    lite_model: str

    def supported(self) -> list[str]:
        return list(self.lite.get_supported_openai_params(self.lite_model))

    def body(self, messages: list[Any], params: dict[str, Any], litellm_params: dict[str, Any],
             headers: dict[str, Any]) -> dict[str, Any]:
        return dict(self.lite.transform_request(model=self.lite_model, messages=messages,
                                                optional_params=dict(params), litellm_params=dict(litellm_params),
                                                headers=headers))

    def parse(self, response: httpx.Response, kw: dict[str, Any], body: dict[str, Any],
              params: dict[str, Any]) -> Any:
        return self.lite.transform_response(
            model=self.lite_model, raw_response=response, model_response=kw["model_response"],
            logging_obj=kw["logging_obj"], request_data=body, messages=kw["messages"], optional_params=params,
            litellm_params=kw.get("litellm_params") or {}, encoding=kw.get("encoding"))
