"""What the chat routes (Converse, Invoke) share: LiteLLM's chat config builds the body and reads the answer."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from .. import _compat
from .._compat import caller_params, openai_chat_params
from ._base import Call, Route


class ChatRoute(Route):
    kind = "chat"
    input_key = "messages"
    openai_names: ClassVar[frozenset[str]] = openai_chat_params()
    accept_json = False
    keeps_stream: ClassVar[bool] = False  # the mapped ``stream`` reaches the body transform (Invoke families)

    def requested(self, call: Call) -> dict[str, Any]:
        """OpenAI params as the caller sent them, before LiteLLM's generic custom-provider mapping."""
        return caller_params(call.optional_params, call.logging_obj)

    def map(self, openai_part: dict[str, Any], call: Call) -> dict[str, Any]:
        """``stream`` is shown to the config as native shows it, so it can ask for a fake stream."""
        shown = {**openai_part, "stream": True} if call.stream else openai_part
        mapped = dict(self.lite.map_openai_params(non_default_params=shown, optional_params={},
                                                  model=self.lite_model, drop_params=call.drop_params))
        if not self.keeps_stream:
            mapped.pop("stream", None)
        return mapped

    def fake_stream(self, call: Call) -> bool:
        """Native's decision to answer a stream from one whole call (``response_format`` on some releases)."""
        asked = bool(call.params.pop("fake_stream", False))
        decide = getattr(self.lite, "should_fake_stream", None)
        if decide is None:
            return asked
        return asked or bool(_compat.call_with(decide, model=self.lite_model, stream=True,
                                               custom_llm_provider="bedrock", fake_stream=asked))

    def bodies(self, call: Call) -> list[dict[str, Any]]:
        return [dict(self.lite.transform_request(
            model=self.lite_model, messages=call.kw["messages"], optional_params=dict(call.params),
            litellm_params=dict(call.litellm_params), headers=call.headers))]

    def parse(self, call: Call, responses: list[httpx.Response]) -> Any:
        return self.lite.transform_response(
            model=self.lite_model, raw_response=responses[0], model_response=call.kw["model_response"],
            logging_obj=call.logging_obj, request_data=call.bodies[0], messages=call.kw["messages"],
            optional_params=call.params, litellm_params=call.kw.get("litellm_params") or {},
            encoding=call.kw.get("encoding"))
