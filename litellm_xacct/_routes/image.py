"""``image_generation`` / ``aimage_generation``: InvokeModel with the image config native ``bedrock/``
picks (``BedrockImageGeneration.get_config_class``: Titan Image, Nova Canvas, Stability SD3/Ultra/Core,
SDXL); body and answer through ``BedrockImageGeneration``'s own request and response steps."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from .. import _compat
from .._config import DeploymentConfig
from ._base import UNVALIDATED, Call, Route

#: The OpenAI image params native ``bedrock/`` maps (``get_optional_params_image_gen``).
OPENAI_IMAGE_PARAMS = frozenset({"n", "quality", "response_format", "size", "style", "user"})


class ImageRoute(Route):
    kind = "image"
    input_key = "prompt"
    openai_names = OPENAI_IMAGE_PARAMS
    # Bedrock answers base64 only; native ignores response_format the same way
    ignored: ClassVar[frozenset[str]] = UNVALIDATED | {"response_format"}
    recovered: ClassVar[frozenset[str]] = frozenset({"n", "quality", "size", "style"})

    def __init__(self, config: DeploymentConfig, base_model: str | None = None) -> None:
        super().__init__(config)
        model = config.model
        if model.startswith("arn:") and base_model:
            model = base_model.split("/")[-1]
        self.lite_model = model
        self.handler = _compat.image_handler()
        self.lite = _compat.image_config(model)

    def supported(self) -> list[str]:
        return list(self.lite.get_supported_openai_params(model=self.lite_model))

    def bodies(self, call: Call) -> list[dict[str, Any]]:
        return [dict(self.handler._get_request_body(model=self.lite_model, prompt=call.kw["prompt"],
                                                    optional_params=dict(call.params)))]

    def parse(self, call: Call, responses: list[httpx.Response]) -> Any:
        result = self.handler._transform_response_dict_to_openai_response(
            model_response=call.kw["model_response"], model=self.lite_model, logging_obj=call.logging_obj,
            prompt=call.kw["prompt"], response=responses[0], data=call.bodies[0])
        self._price(call, result)
        return result

    def _price(self, call: Call, result: Any) -> None:
        """Price the image with the model's own Bedrock calculator, as native does: LiteLLM prices a custom
        provider's image with its generic one (Titan: its 0.0 input price; on some releases no price at all), and
        honours a ``response_cost`` the response carries on every release."""
        hidden = getattr(result, "_hidden_params", None)
        if not isinstance(hidden, dict) or hidden.get("response_cost") is not None:
            return
        try:
            hidden["response_cost"] = float(self.lite.cost_calculator(
                model=self.lite_model, image_response=result, size=self.requested(call).get("size"),
                optional_params=dict(call.params)))
        except Exception:  # a model the price map lacks: LiteLLM's own pricing decides, as before
            return
