"""LiteLLM's top level: the classes this package extends, provider registration, SDK calls.

Imports LiteLLM when first loaded: ``litellm_xacct._compat`` hands out these names lazily (on first use
of one), so importing the package stays free of side effects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import litellm
from litellm import CustomLLM
from litellm.integrations.custom_logger import CustomLogger
from litellm.utils import custom_llm_setup

__all__ = ["CustomLLM", "CustomLogger", "probing", "register_provider"]


def register_provider(provider: str, handler: Any) -> None:
    """Put ``handler`` in ``litellm.custom_provider_map`` as ``provider`` (other providers kept, an older entry
    for ``provider`` replaced), then rebuild LiteLLM's provider list (``custom_llm_setup``): the same calls on
    every tested release, which read the map at call time or at setup, depending on the code path."""
    entries = [e for e in litellm.custom_provider_map if e.get("provider") != provider]
    entries.append({"provider": provider, "custom_handler": handler})
    litellm.custom_provider_map = entries
    custom_llm_setup()


@contextmanager
def probing() -> Iterator[Callable[..., Any]]:
    """``litellm.completion``, with LiteLLM's per-failure help banner off and the custom provider map put back
    (and LiteLLM's provider list rebuilt) on exit: for one-off probe calls (every release)."""
    previous = list(litellm.custom_provider_map)
    quiet = litellm.suppress_debug_info
    litellm.suppress_debug_info = True  # LiteLLM prints a help banner per failed call; the caller reports it
    try:
        yield litellm.completion
    finally:
        litellm.suppress_debug_info = quiet
        litellm.custom_provider_map = previous
        custom_llm_setup()
