"""The ``bedrock-xacct`` CustomLLM: LiteLLM's entry points, each one line naming its kind and mode.

Everything else is the one pipeline (:mod:`._pipeline`): identity -> config -> route -> signed transport ->
answer -> audit.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from . import _health
from ._compat import CustomLLM, install_param_gate
from ._credentials import CredentialEngine
from ._pipeline import Pipeline
from ._transport import Transport


class BedrockXacct(CustomLLM):
    """Sends each deployment's Bedrock traffic (Converse, Invoke, embeddings, images) signed by the
    deployment's own AWS identity.

    ``engine`` defaults to one :class:`CredentialEngine` per handler, created on first use.
    LiteLLM calls the entry points with keyword arguments only.
    """

    def __init__(self, engine: CredentialEngine | None = None) -> None:
        super().__init__()
        self._engine = engine
        self._engine_lock = threading.Lock()
        self.transport = Transport(lambda: self.engine)
        self.pipeline = Pipeline(self.transport)
        install_param_gate()  # native Bedrock params pass LiteLLM's custom-provider gate (see _compat.params)
        _health.install()  # proxy only: health checks sign as each deployment; no misleading startup warning

    @property
    def engine(self) -> CredentialEngine:
        if self._engine is None:
            # LiteLLM's first requests arrive on several threads at once: two engines would each fetch
            # every role once (measured: duplicate AssumeRole calls in a proxy's cold burst).
            with self._engine_lock:
                if self._engine is None:
                    self._engine = CredentialEngine()
        return self._engine

    def completion(self, *_: Any, **kw: Any) -> Any:
        return self.pipeline.answer("chat", kw)

    async def acompletion(self, *_: Any, **kw: Any) -> Any:
        return await self.pipeline.aanswer("chat", kw)

    def streaming(self, *_: Any, **kw: Any) -> Iterator[Any]:
        return self.pipeline.stream(kw)

    # LiteLLM annotates astreaming as a coroutine, but its stream wrapper needs an async iterator back.
    def astreaming(self, *_: Any, **kw: Any) -> AsyncIterator[Any]:
        return self.pipeline.astream(kw)

    def embedding(self, *_: Any, **kw: Any) -> Any:
        return self.pipeline.answer("embedding", kw)

    async def aembedding(self, *_: Any, **kw: Any) -> Any:
        return await self.pipeline.aanswer("embedding", kw)

    def image_generation(self, *_: Any, **kw: Any) -> Any:
        return self.pipeline.answer("image", kw)

    async def aimage_generation(self, *_: Any, **kw: Any) -> Any:
        return await self.pipeline.aanswer("image", kw)
