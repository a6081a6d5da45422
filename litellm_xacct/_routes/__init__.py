"""Routes: each a small adapter over LiteLLM's own Bedrock config class for one Bedrock operation family,
all answering the one protocol of :mod:`._base` (params, bodies, operation, parse, decoder).

Adding a route: one module here with a :class:`~._base.Route` subclass, and one line in :data:`ROUTES`.
"""

from __future__ import annotations

from .._config import DeploymentConfig
from ._base import Call, Route
from .converse import ConverseRoute
from .embedding import EmbeddingRoute
from .image import ImageRoute
from .invoke import InvokeRoute

#: Asked in order; the first route that :meth:`~._base.Route.serves` the call takes it.
ROUTES: tuple[type[Route], ...] = (
    InvokeRoute,  # chat: invoke/<id>, and /v1/messages to an Anthropic model
    ConverseRoute,  # chat: <id>, converse/<id>
    EmbeddingRoute,
    ImageRoute,
)


def route_for(kind: str, config: DeploymentConfig, base_model: str | None = None, *,
              messages_api: bool = False) -> Route:
    """The route serving a ``kind`` call (chat | embedding | image) to this deployment."""
    for route in ROUTES:
        if route.serves(kind, config, base_model, messages_api):
            return route(config, base_model)
    raise LookupError(f"no route serves {kind!r} calls")  # pragma: no cover - every kind has one


__all__ = ["ROUTES", "Call", "ConverseRoute", "EmbeddingRoute", "ImageRoute", "InvokeRoute", "Route", "route_for"]
