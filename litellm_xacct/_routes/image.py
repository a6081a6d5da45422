"""``image_generation`` / ``aimage_generation``: InvokeModel with the image config native ``bedrock/``
picks (``BedrockImageGeneration.get_config_class``: Titan Image, Nova Canvas, Stability SD3/Ultra/Core,
SDXL); body and answer through ``BedrockImageGeneration``'s own request and response steps."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import litellm
from litellm.llms.bedrock.image_generation.image_handler import BedrockImageGeneration

from .._config import PROVIDER, DeploymentConfig

#: The OpenAI image params native ``bedrock/`` maps (``get_optional_params_image_gen``).
OPENAI_IMAGE_PARAMS = ("n", "quality", "response_format", "size", "style", "user")


class ImageRoute:
    def __init__(self, config: DeploymentConfig, base_model: str | None = None) -> None:
        self.config = config
        model = config.model
        if model.startswith("arn:") and base_model:
            model = base_model.split("/")[-1]
        self.lite_model = model
        self.handler = BedrockImageGeneration()
        self.lite = BedrockImageGeneration.get_config_class(model=model)

    def params(self, optional_params: Mapping[str, Any], openai_params: Mapping[str, Any],
               drop_params: bool) -> dict[str, Any]:
        """``openai_params`` (size, n, quality, style...) mapped by the model's config, as native does;
        provider-specific ones (``optional_params`` that aren't ours) passed through."""
        supported = set(self.lite.get_supported_openai_params(model=self.lite_model))
        openai_part: dict[str, Any] = {}
        for key, value in openai_params.items():
            if value is None:
                continue
            if key in supported:
                openai_part[key] = value
            elif not drop_params:
                raise litellm.UnsupportedParamsError(
                    status_code=400, message=f"Setting `{key}` is not supported by {PROVIDER}, "
                    f"{self.config.model}. Fix: remove it, or set drop_params: true to drop it")
        mapped = self.lite.map_openai_params(non_default_params=openai_part, optional_params={})
        passthrough = {k: v for k, v in optional_params.items()
                       if not k.startswith(("aws_", "xacct_")) and k not in OPENAI_IMAGE_PARAMS
                       and k not in ("max_retries",) and v is not None}
        return {**passthrough, **mapped}

    def body(self, prompt: str, params: dict[str, Any]) -> dict[str, Any]:
        return dict(self.handler._get_request_body(model=self.lite_model, prompt=prompt,
                                                   optional_params=dict(params)))

    def parse(self, response: httpx.Response, body: dict[str, Any], prompt: str, kw: dict[str, Any]) -> Any:
        return self.handler._transform_response_dict_to_openai_response(
            model_response=kw["model_response"], model=self.lite_model, logging_obj=kw["logging_obj"],
            prompt=prompt, response=response, data=body)
