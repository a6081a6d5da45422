"""litellm-xacct: a LiteLLM provider, ``bedrock-xacct``, that signs each deployment's Amazon Bedrock
traffic with an IAM role in another AWS account.

Proxy: ``custom_provider_map: [{provider: bedrock-xacct, custom_handler: xacct_handler.handler}]`` and
``callbacks: ["xacct_handler.guard"]`` (the guard), with the shim ``xacct_handler.py`` beside the config.
SDK: ``litellm_xacct.register()`` then ``litellm.completion(model="bedrock-xacct/<model id>", ...)``.

Importing this package has no side effects: LiteLLM is imported, and the handler created, on first
use of :data:`handler`, :data:`guard` or :func:`register`.
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
from ._names import PROVIDER
from ._version import __version__

if TYPE_CHECKING:
    from ._config import DeploymentConfig
    from ._credentials import CredentialEngine
    from ._credentials.pacing import PacingPolicy
    from ._guard import XacctGuard
    from ._handler import BedrockXacct

__all__ = [
    "PROVIDER",
    "BedrockXacct",
    "CallerFieldError",
    "ConfigError",
    "CredentialEngine",
    "CredentialError",
    "DeploymentConfig",
    "PacingPolicy",
    "RoleAssumptionError",
    "StsUnavailableError",
    "XacctError",
    "XacctGuard",
    "__version__",
    "guard",
    "handler",
    "prewarm_proxy",
    "register",
]

# Not named _handler/_guard: importing the submodules of those names sets package attributes that would
# shadow these, and `handler` / `guard` would then return a module.
_handler_instance: BedrockXacct | None = None
_guard_instance: XacctGuard | None = None


def _default_handler() -> BedrockXacct:
    global _handler_instance
    if _handler_instance is None:
        from ._handler import BedrockXacct

        _handler_instance = BedrockXacct()
    return _handler_instance


def _default_guard() -> XacctGuard:
    global _guard_instance
    if _guard_instance is None:
        from ._guard import XacctGuard

        _guard_instance = XacctGuard()
    return _guard_instance


def register(custom_handler: BedrockXacct | None = None) -> BedrockXacct:
    """Add ``bedrock-xacct`` to ``litellm.custom_provider_map`` (idempotent; other providers are kept).

    Returns the handler in use. Pass your own ``BedrockXacct(engine=...)`` to control the
    credential engine (clock, client factory, cache size).
    """
    from ._compat import register_provider

    chosen = custom_handler or _default_handler()
    register_provider(PROVIDER, chosen)
    return chosen


def prewarm_proxy(custom_handler: BedrockXacct | None = None, *, wait: float = 600.0) -> Any:
    """Opt-in: once the running proxy has built its router, fetch every ``bedrock-xacct`` deployment's
    credentials in the background, paced (call it from the shim beside the config; never runs on import).
    Returns a future of (fetched, failed). See docs/credentials.md."""
    from ._credentials.prewarm import prewarm_proxy as run

    return run((custom_handler or _default_handler()).engine, wait=wait)


def __getattr__(name: str) -> Any:
    if name == "handler":
        return _default_handler()
    if name == "guard":
        return _default_guard()
    if name == "XacctGuard":
        from ._guard import XacctGuard

        return XacctGuard
    if name == "BedrockXacct":
        from ._handler import BedrockXacct

        return BedrockXacct
    if name == "CredentialEngine":
        from ._credentials import CredentialEngine

        return CredentialEngine
    if name == "PacingPolicy":
        from ._credentials.pacing import PacingPolicy

        return PacingPolicy
    if name == "DeploymentConfig":
        from ._config import DeploymentConfig

        return DeploymentConfig
    raise AttributeError(f"module 'litellm_xacct' has no attribute {name!r}")
