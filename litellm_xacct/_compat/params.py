"""LiteLLM's param lists and gates: OpenAI params for ``bedrock-xacct`` chat routes, accepted and mapped
exactly as native ``bedrock/``; LiteLLM's own param names (which a proxy caller may not send).

How LiteLLM treats a custom provider's chat params (both releases):

1. **The gate** (``get_optional_params`` -> ``get_supported_openai_params``): a provider in
   ``litellm._custom_providers`` is asked about through ``ProviderConfigManager.get_provider_chat_config(
   model, LlmProviders.CUSTOM)``, an ``OpenAILikeChatConfig`` that lists no ``reasoning_effort`` or
   ``thinking``: those raise ``UnsupportedParamsError`` unless listed in ``allowed_openai_params``.
   :func:`install` registers, for ``LlmProviders.CUSTOM``, a subclass of that same config whose supported
   list adds what the native Bedrock route config supports **for Bedrock model ids only** (route prefix,
   Bedrock ARN, or a model LiteLLM's cost map lists under ``bedrock``/``bedrock_converse``); for any other
   model it answers exactly as before. The Router asks the same question, so it agrees.
2. **The mapping**: a custom provider's params are then mapped by a plain ``OpenAILikeChatConfig``, which
   keeps only OpenAI's own params (``reasoning_effort`` and ``thinking`` are dropped, ``max_completion_tokens``
   renamed). LiteLLM logs the caller's params before that mapping (``logging_obj.optional_params``, the same
   on both releases): :func:`caller_params` takes the OpenAI params from there and provider-specific ones
   (``top_k``, ``guardrailConfig``...) from the ``optional_params`` LiteLLM hands over, and the route maps
   them with the native Bedrock config.

Embeddings and images have no such gate hook in LiteLLM: see the README's list of differences.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .facts import differs

_INSTALLED_MARK = "_xacct_bedrock_params"


def _is_bedrock_model(model: str) -> bool:
    import litellm

    if model.startswith(("converse/", "invoke/", "arn:aws:bedrock:", "arn:aws-us-gov:bedrock:")):
        return True
    info = litellm.model_cost.get(model)
    return isinstance(info, dict) and str(info.get("litellm_provider", "")).startswith("bedrock")


def bedrock_supported(model: str) -> list[str]:
    """What native ``bedrock/<model>`` accepts: the route's own LiteLLM config (Converse unless ``invoke/``),
    every release."""
    import litellm
    from litellm.llms.bedrock.common_utils import get_bedrock_chat_config

    if model.startswith("invoke/"):
        return list(get_bedrock_chat_config(model).get_supported_openai_params(model))
    plain = model.split("/", 1)[1] if model.startswith("converse/") else model
    return list(litellm.AmazonConverseConfig().get_supported_openai_params(plain))


@differs("custom-provider chat params gate", on={
    "1.82.3": "``LlmProviders.CUSTOM`` config in ``ProviderConfigManager``'s map",
    "1.108.7": "the same"},
    detected="``hasattr(ProviderConfigManager, '_build_provider_config_map')``: without a map, nothing is "
             "installed (``allowed_openai_params`` is the way)")
def install() -> bool:
    """Register the widened supported-params answer for custom providers (idempotent). Returns False when this
    LiteLLM has no provider-config map to register in (then ``allowed_openai_params`` is the way)."""
    from litellm.types.utils import LlmProviders
    from litellm.utils import ProviderConfigManager

    if not hasattr(ProviderConfigManager, "_build_provider_config_map"):
        return False
    if getattr(ProviderConfigManager, "_PROVIDER_CONFIG_MAP", None) is None:
        ProviderConfigManager._PROVIDER_CONFIG_MAP = ProviderConfigManager._build_provider_config_map()
    table = ProviderConfigManager._PROVIDER_CONFIG_MAP
    entry = table.get(LlmProviders.CUSTOM)
    if entry is None:
        return False
    factory, needs_model = entry
    if getattr(factory, _INSTALLED_MARK, False):
        return True
    base = type(factory("probe") if needs_model else factory())

    class BedrockAwareCustomConfig(base):  # type: ignore[misc,valid-type]
        """LiteLLM's config for custom providers, plus native Bedrock's params for Bedrock model ids."""

        def get_supported_openai_params(self, model: str) -> list[str]:
            own = list(super().get_supported_openai_params(model))
            if not _is_bedrock_model(model):
                return own
            return list(dict.fromkeys(own + bedrock_supported(model)))

    def make(*args: Any) -> Any:
        return BedrockAwareCustomConfig()

    setattr(make, _INSTALLED_MARK, True)
    table[LlmProviders.CUSTOM] = (make, needs_model)
    return True


def openai_chat_params() -> frozenset[str]:
    """LiteLLM's list of OpenAI chat params (``litellm.OPENAI_CHAT_COMPLETION_PARAMS``, every release)."""
    import litellm

    return frozenset(litellm.OPENAI_CHAT_COMPLETION_PARAMS)


def drop_params_default() -> bool:
    """LiteLLM's process-wide ``litellm.drop_params`` (every release): a deployment's own setting wins."""
    import litellm

    return bool(litellm.drop_params)


@differs("where LiteLLM lists its own params", on={
    "1.82.3": "``all_litellm_params`` in ``litellm.types.utils``, ``litellm.utils`` and ``litellm.main``",
    "1.108.7": "not in ``litellm.main``"},
    detected="each module imported and its ``all_litellm_params`` read if it has one; ``GenericLiteLLMParams`` "
             "if importable")
def litellm_param_names() -> set[str]:
    """LiteLLM's own param lists, found by feature detection (their home moved between releases)."""
    import importlib

    names: set[str] = set()
    for module_name in ("litellm.types.utils", "litellm.utils", "litellm.main"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        listed = getattr(module, "all_litellm_params", None)
        if isinstance(listed, (list, tuple, set, frozenset)):
            names.update(str(n) for n in listed)
    try:
        from litellm.types.router import GenericLiteLLMParams

        names.update(GenericLiteLLMParams.model_fields)
    except ImportError:
        pass
    return names


@differs("body params the proxy refuses itself", on={
    "1.82.3": "none", "1.108.7": "``auth_utils._BANNED_REQUEST_BODY_PARAMS``"},
    detected="``getattr(litellm.proxy.auth.auth_utils, '_BANNED_REQUEST_BODY_PARAMS', ())``")
def proxy_banned_body_params() -> set[str]:
    """1.108.7's proxy refuses some body params itself (``_BANNED_REQUEST_BODY_PARAMS``); 1.82.3 has no
    such list. Body-level names: the proxy writes some of them into ``metadata`` itself."""
    try:
        from litellm.proxy.auth import auth_utils
    except ImportError:
        return set()
    banned = getattr(auth_utils, "_BANNED_REQUEST_BODY_PARAMS", ())
    return {n for n in banned if isinstance(n, str)}


def caller_params(optional_params: Mapping[str, Any], logging_obj: Any) -> dict[str, Any]:
    """The caller's params before LiteLLM's generic custom-provider mapping: OpenAI params as the caller
    sent them (logged by LiteLLM, the same on every release), everything else as handed to the provider."""
    import litellm

    logged = getattr(logging_obj, "optional_params", None)
    if not isinstance(logged, Mapping):
        return dict(optional_params)
    openai_names = set(litellm.OPENAI_CHAT_COMPLETION_PARAMS) | {"thinking", "reasoning_effort"}
    merged = {k: v for k, v in optional_params.items() if k not in openai_names}
    merged.update({k: v for k, v in logged.items() if k in openai_names})
    return merged
