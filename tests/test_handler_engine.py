"""The handler's default credential engine is created once, however many threads ask for it first.

LiteLLM's first requests reach the handler on several threads at once; a second engine would fetch every
role again (seen as duplicate AssumeRole calls in benchmarks/proxy_load.py's cold burst)."""

from __future__ import annotations

import threading

from litellm_xacct import BedrockXacct


def test_concurrent_first_use_creates_one_engine() -> None:
    handler = BedrockXacct()
    start = threading.Barrier(16)
    seen: list[object] = []

    def first_use() -> None:
        start.wait()
        seen.append(handler.engine)

    threads = [threading.Thread(target=first_use) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert len(seen) == 16
        assert len({id(e) for e in seen}) == 1
    finally:
        handler.engine.close()
