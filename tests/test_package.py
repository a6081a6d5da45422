"""The public door: no side effects at import, register() idempotent and polite."""

from __future__ import annotations

import subprocess
import sys

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
    for name in litellm_xacct.__all__:
        assert getattr(litellm_xacct, name) is not None
    assert litellm_xacct.PROVIDER == "bedrock-xacct"
    assert isinstance(litellm_xacct.__version__, str)
