"""LiteLLM's ``os.environ/NAME`` indirection, resolved in one place with the unset behaviour chosen by the
caller: the provider refuses an unset variable, ``check`` shows the reference, the stand-in skips it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

#: The prefix LiteLLM gives a config value read from the process environment.
ENV_REF = "os.environ/"

#: What :func:`resolve_env` does when the variable is unset: raise :class:`UnsetEnvError`, return None, or
#: return the reference unchanged.
Unset = Literal["error", "none", "keep"]


class UnsetEnvError(LookupError):
    """An ``os.environ/NAME`` reference whose variable is not set. ``var`` is NAME."""

    def __init__(self, var: str) -> None:
        self.var = var
        super().__init__(f"environment variable {var!r} is not set")


def env_var(value: Any) -> str | None:
    """NAME when ``value`` is an ``os.environ/NAME`` reference, else None."""
    if isinstance(value, str) and value.startswith(ENV_REF):
        return value[len(ENV_REF):]
    return None


def resolve_env(value: Any, *, unset: Unset, environ: Mapping[str, str] | None = None) -> Any:
    """``value`` with an ``os.environ/NAME`` reference replaced by the variable's value; any other value as is.
    An unset variable: ``"error"`` raises :class:`UnsetEnvError`, ``"none"`` returns None, ``"keep"`` returns
    the reference itself."""
    var = env_var(value)
    if var is None:
        return value
    env = os.environ if environ is None else environ
    if var in env:
        return env[var]
    if unset == "error":
        raise UnsetEnvError(var)
    return None if unset == "none" else value


def env_refs(value: Any) -> set[str]:
    """Every variable named by an ``os.environ/NAME`` reference anywhere in ``value`` (nested dicts/lists)."""
    var = env_var(value)
    if var is not None:
        return {var}
    if isinstance(value, Mapping):
        return set().union(set(), *(env_refs(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(set(), *(env_refs(v) for v in value))
    return set()
