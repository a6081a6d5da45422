"""litellm-xacct: a LiteLLM provider, ``bedrock-xacct``, that signs each deployment's Amazon Bedrock
traffic with an IAM role in another AWS account.

Proxy: ``custom_provider_map: [{provider: bedrock-xacct, custom_handler: litellm_xacct.handler}]``.
SDK: ``litellm_xacct.register()`` then ``litellm.completion(model="bedrock-xacct/<model id>", ...)``.

Importing this package has no side effects: LiteLLM is imported, and the handler created, on first
use of :data:`handler` or :func:`register`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._errors import (
    CallerFieldError,
    ConfigError,
    CredentialError,
    RoleAssumptionError,
    StsUnavailableError,
    XacctError,
)
from ._version import __version__

if TYPE_CHECKING:
    from ._config import DeploymentConfig
    from ._credentials import CredentialEngine
    from ._handler import BedrockXacct

__all__ = [
    "PROVIDER",
    "BedrockXacct",
    "CallerFieldError",
    "ConfigError",
    "CredentialEngine",
    "CredentialError",
    "DeploymentConfig",
    "RoleAssumptionError",
    "StsUnavailableError",
    "XacctError",
    "__version__",
    "handler",
    "register",
]

PROVIDER = "bedrock-xacct"
_handler: BedrockXacct | None = None


def _default_handler() -> BedrockXacct:
    global _handler
    if _handler is None:
        from ._handler import BedrockXacct

        _handler = BedrockXacct()
    return _handler


def register(custom_handler: BedrockXacct | None = None) -> BedrockXacct:
    """Add ``bedrock-xacct`` to ``litellm.custom_provider_map`` (idempotent; other providers are kept).

    Returns the handler in use. Pass your own ``BedrockXacct(engine=...)`` to control the
    credential engine (clock, client factory, cache size).
    """
    import litellm

    chosen = custom_handler or _default_handler()
    entries = [e for e in litellm.custom_provider_map if e.get("provider") != PROVIDER]
    entries.append({"provider": PROVIDER, "custom_handler": chosen})
    litellm.custom_provider_map = entries
    # LiteLLM builds its provider list from the map at call time in some releases, at import in others.
    from litellm.utils import custom_llm_setup

    custom_llm_setup()
    return chosen


def __getattr__(name: str) -> Any:
    if name == "handler":
        return _default_handler()
    if name == "BedrockXacct":
        from ._handler import BedrockXacct

        return BedrockXacct
    if name == "CredentialEngine":
        from ._credentials import CredentialEngine

        return CredentialEngine
    if name == "DeploymentConfig":
        from ._config import DeploymentConfig

        return DeploymentConfig
    raise AttributeError(f"module 'litellm_xacct' has no attribute {name!r}")
