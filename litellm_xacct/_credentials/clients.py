"""The default botocore client factory the credential engine is given (tests inject their own)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from botocore.credentials import ReadOnlyCredentials

#: (service, region, endpoint_url, credentials or None for unsigned) -> a botocore client
ClientFactory = Callable[[str, str, str, "ReadOnlyCredentials | None"], Any]

CLIENT_CACHE_SIZE = 64


class BotocoreClients:
    """Default client factory: one botocore session, clients created under a lock (sessions are not
    thread-safe), no botocore retries (the engine paces and retries) and bounded timeouts so a cold
    request never hangs for minutes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._session: Any = None
        # Clients are thread-safe and cost ~3 ms of CPU to create: reuse them per (endpoint, identity).
        self._clients: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    def warm(self) -> None:
        """Load botocore's STS model now, not inside the first request's refresh."""
        self("sts", "us-east-1", "https://sts.us-east-1.amazonaws.com", None)

    def __call__(self, service: str, region: str, endpoint_url: str, creds: ReadOnlyCredentials | None) -> Any:
        import botocore.session
        from botocore import UNSIGNED
        from botocore.config import Config

        config = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=5, read_timeout=10)
        kwargs: dict[str, Any] = {"region_name": region, "endpoint_url": endpoint_url}
        if creds is None:
            config = config.merge(Config(signature_version=UNSIGNED))
        else:
            kwargs.update(aws_access_key_id=creds.access_key, aws_secret_access_key=creds.secret_key,
                          aws_session_token=creds.token)
        key = (service, region, endpoint_url, tuple(creds) if creds is not None else None)
        with self._lock:
            client = self._clients.get(key)
            if client is not None:
                self._clients.move_to_end(key)
                return client
            if self._session is None:
                self._session = botocore.session.Session()
            client = self._clients[key] = self._session.create_client(service, config=config, **kwargs)
            while len(self._clients) > CLIENT_CACHE_SIZE:
                self._clients.popitem(last=False)
            return client
