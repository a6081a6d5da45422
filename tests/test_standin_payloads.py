"""The Bedrock fake's realistic payloads, read back through boto3 (botocore parses them with the
bedrock-runtime service model, so a wrong shape or event-stream header fails here): model families over
InvokeModel, embeddings, images, guardrail traces, and the error markers before and inside a stream."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError, EventStreamError

from litellm_xacct.testing import LocalAWS
from litellm_xacct.testing._models import PNG_1X1

from .test_standin import DEPT_A, HELLO, MODEL, assume, bedrock, error_of, standin  # noqa: F401


@pytest.fixture
def client(standin: LocalAWS) -> Any:  # noqa: F811
    standin.reset()
    return bedrock(standin, assume(standin, DEPT_A))


def invoke(client: Any, model: str, body: dict[str, Any]) -> dict[str, Any]:
    return json.loads(client.invoke_model(modelId=model, body=json.dumps(body))["body"].read())


def invoke_stream(client: Any, model: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.invoke_model_with_response_stream(modelId=model, body=json.dumps(body))
    return [json.loads(e["chunk"]["bytes"]) for e in response["body"]]


SIGNER = "Hello from account 111111111111"
TEXT_FAMILIES = [
    ("meta.llama3-8b-instruct-v1:0", {"prompt": "who signed", "max_gen_len": 64},
     lambda b: b["generation"], lambda c: c.get("generation") or ""),
    ("mistral.mistral-7b-instruct-v0:2", {"prompt": "<s>[INST] who signed [/INST]", "max_tokens": 64},
     lambda b: b["outputs"][0]["text"], lambda c: c["outputs"][0]["text"]),
    ("cohere.command-text-v14", {"prompt": "who signed", "max_tokens": 64},
     lambda b: b["generations"][0]["text"], lambda c: c.get("text") or ""),
    ("us.amazon.nova-pro-v1:0", {"messages": [{"role": "user", "content": [{"text": "who signed"}]}]},
     lambda b: b["output"]["message"]["content"][0]["text"],
     lambda c: c.get("contentBlockDelta", {}).get("delta", {}).get("text", "")),
    ("amazon.titan-text-express-v1", {"inputText": "who signed", "textGenerationConfig": {"maxTokenCount": 64}},
     lambda b: b["results"][0]["outputText"], lambda c: c.get("outputText") or ""),
]


@pytest.mark.parametrize(("model", "body", "text_of", "piece_of"), TEXT_FAMILIES,
                         ids=[m.split(".")[-2] if m.count(".") > 1 else m.split(".")[0] for m, *_ in TEXT_FAMILIES])
def test_text_families_answer_in_their_own_format(client: Any, standin: LocalAWS, model: str,  # noqa: F811
                                                  body: dict[str, Any], text_of: Any, piece_of: Any) -> None:
    assert text_of(invoke(client, model, body)).startswith(SIGNER)
    chunks = invoke_stream(client, model, body)
    assert len(chunks) >= 3
    assert "".join(piece_of(c) for c in chunks).startswith(SIGNER)
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] > 0
    assert [c.operation for c in standin.bedrock_calls()] == ["InvokeModel", "InvokeModelWithResponseStream"]


def test_embeddings_titan_v1_v2_dimensions_and_cohere(client: Any) -> None:
    v1 = invoke(client, "amazon.titan-embed-text-v1", {"inputText": "a b c"})
    v2 = invoke(client, "amazon.titan-embed-text-v2:0", {"inputText": "a b c", "dimensions": 256, "normalize": True})
    assert (len(v1["embedding"]), len(v2["embedding"]), v2["inputTextTokenCount"]) == (1536, 256, 3)
    cohere = invoke(client, "cohere.embed-english-v3", {"texts": ["a", "b c"], "input_type": "search_document"})
    assert cohere["response_type"] == "embeddings_floats" and len(cohere["embeddings"]) == 2
    assert cohere["embeddings"][0] != cohere["embeddings"][1]
    typed = invoke(client, "cohere.embed-english-v3", {"texts": ["a"], "input_type": "search_query",
                                                       "embedding_types": ["float"]})
    assert typed["response_type"] == "embeddings_by_type" and typed["embeddings"]["float"][0] == cohere["embeddings"][0]


@pytest.mark.parametrize(("model", "body", "images_of"), [
    ("amazon.nova-canvas-v1:0", {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "a cat"},
                                 "imageGenerationConfig": {"numberOfImages": 2}}, lambda b: b["images"]),
    ("amazon.titan-image-generator-v2:0", {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "a cat"}},
     lambda b: b["images"]),
    ("stability.sd3-large-v1:0", {"prompt": "a cat"}, lambda b: b["images"]),
    ("stability.stable-diffusion-xl-v1", {"text_prompts": [{"text": "a cat"}]},
     lambda b: [a["base64"] for a in b["artifacts"]]),
], ids=["nova-canvas", "titan-image", "sd3", "sdxl"])
def test_images_are_real_pngs(client: Any, model: str, body: dict[str, Any], images_of: Any) -> None:
    images = images_of(invoke(client, model, body))
    assert images and all(i == PNG_1X1 for i in images)
    assert base64.b64decode(PNG_1X1).startswith(b"\x89PNG\r\n\x1a\n")
    assert len(images) == body.get("imageGenerationConfig", {}).get("numberOfImages", 1)


def test_guardrail_trace_on_converse_and_stream(client: Any) -> None:
    config = {"guardrailIdentifier": "gr-1", "guardrailVersion": "1", "trace": "enabled"}
    reply = client.converse(modelId=MODEL, messages=HELLO, guardrailConfig=config)
    assert "gr-1" in reply["trace"]["guardrail"]["inputAssessment"]
    events = list(client.converse_stream(modelId=MODEL, messages=HELLO, guardrailConfig=config)["stream"])
    assert "gr-1" in events[-1]["metadata"]["trace"]["guardrail"]["inputAssessment"]
    untraced = client.converse(modelId=MODEL, messages=HELLO, guardrailConfig=dict(config, trace="disabled"))
    assert "trace" not in untraced


def _marked(marker: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": f"{marker} who signed"}]}]


@pytest.mark.parametrize(("marker", "code", "status", "message"), [
    ("[xacct:throttle]", "ThrottlingException", 429, "Too many requests"),
    ("[xacct:unavailable]", "ServiceUnavailableException", 503, "unable to process"),
    ("[xacct:too-long]", "ValidationException", 400, "Input is too long for requested model."),
])
def test_markers_answer_http_errors_before_any_stream(client: Any, standin: LocalAWS, marker: str,  # noqa: F811
                                                      code: str, status: int, message: str) -> None:
    for call in (lambda: client.converse(modelId=MODEL, messages=_marked(marker)),
                 lambda: client.converse_stream(modelId=MODEL, messages=_marked(marker)),
                 lambda: invoke(client, "meta.llama3-8b-instruct-v1:0", {"prompt": marker})):
        with pytest.raises(ClientError) as excinfo:
            call()
        got_code, got_message, got_status = error_of(excinfo)
        assert (got_code, got_status) == (code, status) and message in got_message
    calls = standin.bedrock_calls()
    assert [(c.status, c.error_code, c.account) for c in calls] == [(status, code, "111111111111")] * 3


@pytest.mark.parametrize(("marker", "exception_type"), [
    ("[xacct:stream-error]", "modelStreamErrorException"),
    ("[xacct:stream-throttle]", "throttlingException"),
])
def test_markers_end_streams_with_an_exception_event(client: Any, marker: str, exception_type: str) -> None:
    stream = client.converse_stream(modelId=MODEL, messages=_marked(marker))["stream"]
    seen: list[dict[str, Any]] = []
    with pytest.raises(EventStreamError) as excinfo:
        for event in stream:
            seen.append(event)
    assert excinfo.value.response["Error"]["Code"] == exception_type
    assert [next(iter(e)) for e in seen] == ["messageStart", "contentBlockDelta"]
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64,
            "messages": [{"role": "user", "content": f"{marker} who"}]}
    with pytest.raises(EventStreamError) as excinfo:
        invoke_stream(client, MODEL, body)
    assert excinfo.value.response["Error"]["Code"] == exception_type
    assert client.converse(modelId=MODEL, messages=_marked(marker))["stopReason"] == "end_turn"


def test_forced_tool_choice_answers_with_the_tool_call_alone(client: Any) -> None:
    tools = {"tools": [{"toolSpec": {"name": "other", "inputSchema": {"json": {"type": "object"}}}},
                       {"toolSpec": {"name": "json_tool_call", "inputSchema": {"json": {"type": "object"}}}}],
             "toolChoice": {"tool": {"name": "json_tool_call"}}}
    content = client.converse(modelId=MODEL, messages=HELLO, toolConfig=tools)["output"]["message"]["content"]
    assert [next(iter(b)) for b in content] == ["toolUse"] and content[0]["toolUse"]["name"] == "json_tool_call"
    events = list(client.converse_stream(modelId=MODEL, messages=HELLO, toolConfig=tools)["stream"])
    deltas = [e["contentBlockDelta"]["delta"] for e in events if "contentBlockDelta" in e]
    assert deltas and all("toolUse" in d for d in deltas)
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64, "messages": [{"role": "user", "content": "x"}],
            "tools": [{"name": "whoami", "input_schema": {"type": "object"}}], "tool_choice": {"type": "any"}}
    assert [b["type"] for b in invoke(client, MODEL, body)["content"]] == ["tool_use"]
    assert "text_delta" not in json.dumps(invoke_stream(client, MODEL, body))
