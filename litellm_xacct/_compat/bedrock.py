"""LiteLLM's Bedrock classes the routes adapt: chat, embedding and image configs, and native credentials."""

from __future__ import annotations

import inspect
from typing import Any

from .facts import differs


@differs("Bedrock embedding config methods", on={
    "1.82.3": "``_transform_request`` / ``_transform_response``",
    "1.108.7": "``transform_request`` / ``transform_response``"},
    detected="``getattr`` of the plain name, else the underscored one")
def embedding_call(config: Any, name: str, **kwargs: Any) -> Any:
    """``transform_request`` / ``transform_response`` on a Bedrock embedding config (1.108.7), or the
    underscored names of 1.82.3."""
    return call_with(getattr(config, name, None) or getattr(config, f"_{name}"), **kwargs)


def call_with(method: Any, **kwargs: Any) -> Any:
    """``method`` called with the keyword arguments its signature takes. Signatures differ per config class
    (``should_fake_stream`` takes ``fake_stream`` on Converse's config, not on Invoke's), the same way on every
    tested release; read with ``inspect.signature``."""
    accepted = inspect.signature(method).parameters
    return method(**{k: v for k, v in kwargs.items() if k in accepted})


def converse_config() -> Any:
    """A new ``litellm.AmazonConverseConfig`` (every release): native Converse's body and answer."""
    import litellm

    return litellm.AmazonConverseConfig()


def invoke_chat_config(model: str) -> Any:
    """The per-family InvokeModel chat config native ``bedrock/invoke/`` uses (``get_bedrock_chat_config``,
    every release)."""
    from litellm.llms.bedrock.common_utils import get_bedrock_chat_config

    return get_bedrock_chat_config(model)


def invoke_family(model: str) -> str | None:
    """The InvokeModel provider family LiteLLM reads from a model id
    (``AmazonInvokeConfig.get_bedrock_invoke_provider``, every release), or None."""
    from litellm.llms.bedrock.chat.invoke_transformations.base_invoke_transformation import AmazonInvokeConfig

    found = AmazonInvokeConfig.get_bedrock_invoke_provider(model)
    return str(found) if found else None


def embedding_config(model: str) -> Any:
    """The config ``get_optional_params_embeddings`` uses for a Bedrock embedding model (None: unmapped). The
    same on every tested release; ``AmazonNovaEmbeddingConfig`` is looked up with ``hasattr`` all the same."""
    import litellm

    if "amazon.titan-embed-text-v1" in model or "amazon.titan-embed-g1-text-02" in model:
        return litellm.AmazonTitanG1Config()
    if "amazon.titan-embed-image-v1" in model:
        return litellm.AmazonTitanMultimodalEmbeddingG1Config()
    if "amazon.titan-embed-text-v2:0" in model:
        return litellm.AmazonTitanV2Config()
    if "cohere.embed" in model:
        return litellm.BedrockCohereEmbeddingConfig()
    if "nova" in model.lower() and hasattr(litellm, "AmazonNovaEmbeddingConfig"):
        return litellm.AmazonNovaEmbeddingConfig()
    return None


def embedding_family(model: str) -> Any:
    """The embedding provider family native reads from a model id (``BaseAWSLLM.get_bedrock_embedding_provider``,
    every release)."""
    from litellm.llms.bedrock.base_aws_llm import BaseAWSLLM

    return BaseAWSLLM.get_bedrock_embedding_provider(model)


def cohere_embedding_answer(**kwargs: Any) -> Any:
    """Native's reader for a Cohere embedding answer on Bedrock: the v1 config (list-of-vectors answers), not
    the v2 one (by-type only); ``encoding`` is LiteLLM's tokenizer (every release)."""
    import litellm
    from litellm.llms.cohere.embed.v1_transformation import CohereEmbeddingConfig

    return CohereEmbeddingConfig()._transform_response(encoding=litellm.encoding, **kwargs)


def bedrock_embedding_answer(**kwargs: Any) -> Any:
    """Native's reader for the other Bedrock embedding answers (``BedrockEmbedding``, every release; its method
    name differs: :func:`embedding_call`)."""
    from litellm.llms.bedrock.embed.embedding import BedrockEmbedding

    return embedding_call(BedrockEmbedding(), "_transform_response", **kwargs)


def image_handler() -> Any:
    """A new ``BedrockImageGeneration`` (every release): native's image request and response steps."""
    from litellm.llms.bedrock.image_generation.image_handler import BedrockImageGeneration

    return BedrockImageGeneration()


def image_config(model: str) -> Any:
    """The image config native picks for ``model`` (``BedrockImageGeneration.get_config_class``, every release)."""
    from litellm.llms.bedrock.image_generation.image_handler import BedrockImageGeneration

    return BedrockImageGeneration.get_config_class(model=model)


@differs("parameters of native ``BaseAWSLLM.get_credentials``", on={
    "1.82.3": "no ``aws_session_tags``", "1.108.7": "``aws_session_tags`` (a list of ``{Key, Value}``)"},
    detected="the method's signature (:func:`native_credential_params`)")
def native_credential_params() -> set[str]:
    """The keyword parameters LiteLLM's native ``BaseAWSLLM.get_credentials`` takes on this release."""
    from litellm.llms.bedrock.base_aws_llm import BaseAWSLLM

    return set(inspect.signature(BaseAWSLLM.get_credentials).parameters) - {"self"}


def native_credentials(**params: Any) -> Any:
    """Credentials from LiteLLM's own native Bedrock path (``BaseAWSLLM().get_credentials``, every release;
    pass only :func:`native_credential_params`)."""
    from litellm.llms.bedrock.base_aws_llm import BaseAWSLLM

    return BaseAWSLLM().get_credentials(**params)
