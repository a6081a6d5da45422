"""A proxy whose config does not arm the guard: the provider refuses every proxied request, naming the fix,
before any AWS call (without the guard a caller could take requests off the provider, so serving would only
look safe). One proxy for this module, on LiteLLM 1.82.3 and 1.108.7."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import yaml

from litellm_xacct.testing import LocalAWS, ProxyProcess

from .conftest import DEPT_B_EXTERNAL_ID

pytestmark = pytest.mark.proxy

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def unarmed(aws: LocalAWS) -> Iterator[ProxyProcess]:
    config = yaml.safe_load((REPO / "example_config.yaml").read_text(encoding="utf-8"))
    assert config["litellm_settings"].pop("callbacks") == ["xacct_handler.guard"]
    with ProxyProcess(config, aws, env={"DEPT_B_EXTERNAL_ID": DEPT_B_EXTERNAL_ID}, arm_guard=False) as running:
        assert "callbacks" not in running.config["litellm_settings"]
        yield running


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("tag", ["dept-a", None], ids=["dept-a", "untagged"])
def test_unguarded_proxy_request_fails_closed_naming_the_fix(unarmed: ProxyProcess, aws: LocalAWS,
                                                            tag: str | None, stream: bool) -> None:
    aws.reset()
    client = unarmed.openai_client()
    body = {"tags": [tag]} if tag else {}
    with pytest.raises(openai.APIError) as info:
        response = client.chat.completions.create(model="claude-sonnet", stream=stream, extra_body=body,
                                                  messages=[{"role": "user", "content": "hi"}])
        if stream:
            list(response)
    message = str(info.value.message)
    assert "litellm_settings.callbacks" in message and "xacct_handler.guard" in message, message
    assert aws.bedrock_calls() == [] and aws.sts_calls() == []
    client.close()
