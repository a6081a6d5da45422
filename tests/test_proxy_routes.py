"""The new endpoints through a real ``litellm --config`` proxy (both releases): ``/v1/embeddings``,
``/v1/images/generations`` and ``/v1/messages``, each asserted on what reached the stand-in's wire."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from litellm_xacct.testing import LocalAWS, ProxyProcess

from .conftest import DEPT_A, DEPT_B, DEPT_B_EXTERNAL_ID

pytestmark = pytest.mark.proxy

CLAUDE = "us.anthropic.claude-sonnet-4-6"


def _deployment(name: str, model: str, role: str, **extra: Any) -> dict[str, Any]:
    return {"model_name": name, "litellm_params": {"model": f"bedrock-xacct/{model}", "aws_region_name": "us-east-1",
                                                   "aws_role_name": role, **extra}}


CONFIG = {
    "model_list": [
        # drop_params: LiteLLM refuses every OpenAI embedding param for a custom provider (the openai client
        # always sends encoding_format); the provider reads them from the caller's request instead.
        _deployment("titan-embed", "amazon.titan-embed-text-v2:0", DEPT_A, aws_session_name="gw-embed",
                    drop_params=True),
        _deployment("canvas", "amazon.nova-canvas-v1:0", DEPT_B, aws_external_id=DEPT_B_EXTERNAL_ID,
                    aws_session_name="gw-image"),
        _deployment("claude", CLAUDE, DEPT_A, aws_session_name="gw-messages"),
    ],
    "litellm_settings": {},
}


@pytest.fixture(scope="module")
def proxy(aws: LocalAWS) -> Iterator[ProxyProcess]:
    with ProxyProcess(CONFIG, aws) as running:
        yield running


@pytest.fixture
def wire(proxy: ProxyProcess, aws: LocalAWS) -> LocalAWS:
    aws.reset()
    return aws


def test_v1_embeddings_with_dimensions(proxy: ProxyProcess, wire: LocalAWS) -> None:
    with proxy.openai_client() as client:
        response = client.embeddings.create(model="titan-embed", input=["who signed", "this request"],
                                            dimensions=256, encoding_format="float")
    assert len(response.data) == 2 and response.data[0].embedding != response.data[1].embedding
    assert len(response.data[0].embedding) == 256
    calls = wire.bedrock_calls()
    assert len(calls) == 2
    assert {(c.operation, c.model_id, c.account, c.session_name, c.status) for c in calls} == {
        ("InvokeModel", "amazon.titan-embed-text-v2:0", "111111111111", "gw-embed", 200)}
    bodies = sorted((c.body for c in calls if c.body is not None), key=lambda b: str(b.get("inputText")))
    assert bodies == [{"inputText": text, "dimensions": 256, "embeddingTypes": ["float"]}
                      for text in ("this request", "who signed")]


def test_v1_images_generations_with_size_and_n(proxy: ProxyProcess, wire: LocalAWS) -> None:
    with proxy.openai_client() as client:
        response = client.images.generate(model="canvas", prompt="a signer", size="512x512", n=2)
    assert response.data is not None and len(response.data) == 2 and response.data[0].b64_json
    calls = wire.bedrock_calls()
    assert len(calls) == 1
    call = calls[0]
    assert (call.operation, call.model_id, call.account, call.session_name) == (
        "InvokeModel", "amazon.nova-canvas-v1:0", "222222222222", "gw-image")
    assert call.body is not None
    config = call.body["imageGenerationConfig"]
    assert (config["width"], config["height"], config["numberOfImages"]) == (512, 512, 2)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_v1_messages(proxy: ProxyProcess, wire: LocalAWS, stream: bool) -> None:
    body = {"model": "claude", "max_tokens": 64, "stream": stream,
            "messages": [{"role": "user", "content": "who signed this request?"}]}
    headers = {"Authorization": f"Bearer {proxy.master_key}", "anthropic-version": "2023-06-01"}
    response = httpx.post(f"{proxy.base_url}/v1/messages", json=body, headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    assert "111111111111" in response.text
    calls = wire.bedrock_calls()
    assert len(calls) == 1
    call = calls[0]
    assert (call.model_id, call.account, call.session_name) == (CLAUDE, "111111111111", "gw-messages")
    # native's operation and body family on both releases (1.82.3 logs the call as chat; the request's path tells)
    assert call.operation == ("InvokeModelWithResponseStream" if stream else "InvokeModel")
    assert call.body is not None and call.body["anthropic_version"] == "bedrock-2023-05-31"
    assert call.body["messages"][0]["role"] == "user"
