"""The public door: no side effects at import, register() idempotent and polite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import litellm
from litellm import CustomLLM

import litellm_xacct


def test_import_has_no_side_effects() -> None:
    code = ("import sys, threading, litellm_xacct, litellm_xacct.testing; "
            "assert 'litellm' not in sys.modules, 'litellm imported'; "
            "assert 'moto' not in sys.modules and 'boto3' not in sys.modules; "
            "assert threading.active_count() == 1; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_register_is_idempotent_and_keeps_other_providers() -> None:
    other = {"provider": "someone-else", "custom_handler": CustomLLM()}
    saved = list(litellm.custom_provider_map)
    try:
        litellm.custom_provider_map = [other]
        first = litellm_xacct.register()
        second = litellm_xacct.register()
        assert first is second is litellm_xacct.handler
        providers = [e["provider"] for e in litellm.custom_provider_map]
        assert providers == ["someone-else", "bedrock-xacct"]
        assert "bedrock-xacct" in litellm.provider_list
    finally:
        litellm.custom_provider_map = saved


def test_public_names() -> None:
    """Each public name resolves (lazily where it must) to what it is documented to be."""
    from litellm_xacct._credentials import CredentialEngine
    from litellm_xacct._handler import BedrockXacct

    names = set(litellm_xacct.__all__)
    errors = {n for n in names if n.endswith("Error")}
    assert errors >= {"XacctError", "ConfigError", "CredentialError", "RoleAssumptionError", "StsUnavailableError"}
    for name in errors:
        assert issubclass(getattr(litellm_xacct, name), litellm_xacct.XacctError), name
    assert litellm_xacct.CredentialEngine is CredentialEngine and litellm_xacct.BedrockXacct is BedrockXacct
    assert isinstance(litellm_xacct.handler, BedrockXacct) and callable(litellm_xacct.register)
    assert isinstance(litellm_xacct.guard, litellm_xacct.XacctGuard)
    assert callable(litellm_xacct.DeploymentConfig.from_params)
    for name in names:
        getattr(litellm_xacct, name)  # every listed name resolves (AttributeError otherwise)
    assert litellm_xacct.PROVIDER == "bedrock-xacct"
    assert isinstance(litellm_xacct.__version__, str)


def test_handler_and_guard_are_instances_whatever_was_imported_first() -> None:
    # Importing litellm_xacct._handler / ._guard sets package attributes of those names; `handler` and
    # `guard` must still be the instances, not the modules (they were, when the globals shared the names).
    code = ("import litellm_xacct, litellm_xacct._handler, litellm_xacct._guard; litellm_xacct.XacctGuard; "
            "from litellm_xacct import guard, handler; "
            "print(type(guard).__name__, type(handler).__name__)")
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["XacctGuard", "BedrockXacct"]


def test_shipped_shims_are_the_package_shim() -> None:
    """The repository's xacct_handler.py (and the test data copy) is the text `xacct migrate` writes."""
    from litellm_xacct._names import SHIM_SOURCE

    repo = Path(__file__).resolve().parent.parent
    for path in (repo / "xacct_handler.py", repo / "tests" / "data" / "xacct_handler.py"):
        assert path.read_text(encoding="utf-8") == SHIM_SOURCE, path
