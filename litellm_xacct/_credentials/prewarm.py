"""Pre-warm for a proxy: find the running router's ``bedrock-xacct`` deployments and fetch their
credentials in the background, paced, so the first request to each finds them warm.

Off unless the operator calls :func:`prewarm_proxy` (one line in the shim beside the config); never at
import. The proxy serves requests meanwhile: a request's cold fetch goes ahead of the pre-warm queue.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from .._config import DeploymentConfig
from .._errors import XacctError
from .._names import PROVIDER

if TYPE_CHECKING:
    from . import CredentialEngine

log = logging.getLogger("litellm_xacct")


def deployment_configs(model_list: Iterable[Mapping[str, Any]]) -> tuple[list[DeploymentConfig], list[str]]:
    """The valid ``bedrock-xacct`` deployments' configs (one per identity), and one message per invalid
    one (it fails at its first request as usual; the pre-warm skips it)."""
    configs: dict[str, DeploymentConfig] = {}
    errors: list[str] = []
    for entry in model_list:
        params = entry.get("litellm_params") or {}
        model = str(params.get("model") or "")
        if not model.startswith(PROVIDER + "/"):
            continue
        name = str(entry.get("model_name") or model)
        fields = {k: v for k, v in params.items() if k.startswith(("aws_", "xacct_")) and v is not None}
        try:
            config = DeploymentConfig.cached(fields, deployment=name, model=model[len(PROVIDER) + 1:])
        except XacctError as exc:
            errors.append(str(exc))
            continue
        configs.setdefault(config.identity_key, config)
    return list(configs.values()), errors


def prewarm_proxy(engine: CredentialEngine, *, wait: float = 600.0,
                  model_list: Any = None) -> Future[tuple[int, int]]:
    """In an engine thread: wait up to ``wait`` s for the proxy's router (``model_list`` returns its
    deployments or None; default: :func:`._compat.proxy_model_list`), then pre-warm every
    ``bedrock-xacct`` identity. The future resolves to (fetched, failed); close() stops it."""
    if model_list is None:
        from .._compat import proxy_model_list as model_list
    result: Future[tuple[int, int]] = Future()

    def run() -> None:
        deadline = time.monotonic() + wait
        deployments = model_list()
        while not deployments:
            if engine.stopped() or time.monotonic() > deadline:
                log.warning("pre-warm: no proxy router with deployments after %.0f s; nothing pre-warmed", wait)
                result.set_result((0, 0))
                return
            engine.sleep_real(0.5)
            deployments = model_list()
        configs, errors = deployment_configs(deployments)
        for error in errors:
            log.warning("pre-warm skips an invalid deployment: %s", error)
        started = time.monotonic()
        log.info("pre-warm: fetching credentials for %d bedrock-xacct identities in the background", len(configs))
        fetched, failed = engine.prewarm(configs).result()
        log.info("pre-warm: %d fetched, %d failed in %.1f s", fetched, failed + len(errors),
                 time.monotonic() - started)
        result.set_result((fetched, failed + len(errors)))

    engine.start_thread(run, "prewarm-proxy")
    return result
