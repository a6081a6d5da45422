"""``embedding`` / ``aembedding``: InvokeModel with the embedding config native ``bedrock/`` picks for the
model (Titan text v1/v2 and image, Cohere, Nova multimodal), one request per input for the single-input
families and one for the whole batch for Cohere, exactly as native sends them.

The config choice mirrors ``litellm.utils.get_optional_params_embeddings`` (params) and
``BedrockEmbedding.embeddings`` (bodies); the answer is read by ``BedrockEmbedding._transform_response``
or, for Cohere, ``CohereEmbeddingConfig._transform_response``, as native does.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from .. import _compat
from .._config import DeploymentConfig
from .._errors import ConfigError
from ._base import Call, Route


class EmbeddingRoute(Route):
    kind = "embedding"
    input_key = "input"
    openai_names: ClassVar[frozenset[str]] = frozenset({"dimensions", "encoding_format", "user"})
    recovered: ClassVar[frozenset[str]] = frozenset({"dimensions", "encoding_format"})

    def __init__(self, config: DeploymentConfig, base_model: str | None = None) -> None:
        super().__init__(config)
        model = config.model
        if model.startswith("arn:") and base_model:
            model = base_model.split("/")[-1]  # an inference profile: the family comes from base_model
        self.lite_model = _strip_region(model)
        self.lite = _compat.embedding_config(self.lite_model)
        if self.lite is None:
            raise ConfigError(config.deployment, "model", f"{config.model!r} is not an embedding model LiteLLM "
                              "maps for Bedrock", "use amazon.titan-embed-text-v2:0, cohere.embed-*, "
                              "amazon.nova-*-embeddings-*, or set model_info.base_model for an inference profile")
        self.family = _compat.embedding_family(self.lite_model)

    def supported(self) -> list[str]:
        return list(self.lite.get_supported_openai_params())

    def bodies(self, call: Call) -> list[dict[str, Any]]:
        inputs, params = list(call.kw["input"]), call.params
        if self.family == "cohere":
            return [dict(_compat.embedding_call(self.lite, "transform_request", model=self.lite_model,
                                                input=inputs, inference_params=dict(params)))]
        return [dict(_compat.embedding_call(self.lite, "transform_request", input=item,
                                            inference_params=dict(params), async_invoke_route=False,
                                            model_id=self.config.model, output_s3_uri=None))
                for item in inputs]

    def parse(self, call: Call, responses: list[httpx.Response]) -> Any:
        bodies, logging_obj = call.bodies, call.logging_obj
        if self.family == "cohere":
            return _compat.cohere_embedding_answer(
                response=responses[0], api_key=None, logging_obj=logging_obj, data=bodies[0],
                model_response=call.kw["model_response"], model=self.lite_model, input=list(call.kw["input"]))
        for body, response in zip(bodies, responses, strict=True):
            logging_obj.post_call(input=body, api_key="", original_response=response.text,
                                  additional_args={"complete_input_dict": body})
        return _compat.bedrock_embedding_answer(response_list=[r.json() for r in responses], model=self.lite_model,
                                                provider=self.family, is_async_invoke=False, batch_data=bodies)


def _strip_region(model: str) -> str:
    # cross-region ids (us.cohere.embed-v4:0) name the same family as the plain id
    head, _, rest = model.partition(".")
    return rest if len(head) == 2 and rest else model


__all__ = ["EmbeddingRoute"]
