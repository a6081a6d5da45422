"""``check --live --probe``: one minimal request per deployment (``max_tokens: 1``), sent through
``litellm.completion`` with the deployment's own params, so it is signed exactly as real traffic is:
``bedrock-xacct/`` through this package's handler and credential engine, native ``bedrock/`` through
LiteLLM's own Bedrock path. The table then says whether each account may invoke its model, with Bedrock's
own error code and message when not.

Cost: one request per deployment, billed to the account that signs it: the prompt's input tokens (about
a dozen) plus one output token."""

from __future__ import annotations

import json
import re
from typing import Any

from .._names import PROVIDER
from .findings import ENV_REF, Deployment, Finding, Probe, Report, _resolve_env

PROMPT = "Reply with the single word: ok"
COST = ("one request per deployment with max_tokens=1: about a dozen input tokens plus one output token, "
        "billed to the AWS account that signs each deployment")

#: litellm_params a probe passes on: identity, endpoints, and what selects the model. Routing, pricing and
#: rate-limit keys (tags, rpm, input_cost_per_token...) are not request params.
_PASSED = ("api_key", "api_base", "model_id", "extra_headers", "custom_llm_provider", "timeout", "drop_params")

_HINTS = {
    "AccessDeniedException": "this account has not been granted access to the model (Bedrock console, Model "
                             "access), or the role's IAM policy does not allow bedrock:InvokeModel on it",
    "ValidationException": "the model id is not offered in this region, or it needs an inference profile "
                           "(a us./eu./apac./global. prefix)",
    "ResourceNotFoundException": "the model or inference profile does not exist in this account and region",
    "ThrottlingException": "the account is throttled for this model; the probe proves access only when it "
                           "passes",
}


def run_probe(report: Report, *, sts_endpoint: str | None = None, bedrock_endpoint: str | None = None,
              engine: Any = None) -> None:
    """Probe every deployment (see the module docstring). ``sts_endpoint`` / ``bedrock_endpoint`` replace
    every deployment's aws_sts_endpoint / aws_bedrock_runtime_endpoint (for a local stand-in)."""
    from .. import register
    from .._compat import probing
    from .._credentials import CredentialEngine
    from .._handler import BedrockXacct

    report.probed = True
    engine = engine or CredentialEngine(background=False)
    with probing() as completion:  # LiteLLM's help banner off (the table says it all), provider map restored
        register(BedrockXacct(engine=engine))
        try:
            for dep in report.deployments:
                dep.probe = _probe_one(completion, dep, sts_endpoint, bedrock_endpoint)
                dep.findings += _findings(dep, dep.probe)
        finally:
            engine.close()


def _params(dep: Deployment, sts_endpoint: str | None, bedrock_endpoint: str | None) -> dict[str, Any]:
    keep = {k: v for k, v in dep.params.items()
            if isinstance(k, str) and (k.startswith(("aws_", "xacct_")) or k in _PASSED) and v is not None}
    if dep.route == "bedrock":  # the proxy resolves os.environ/ for native deployments; the SDK does not
        keep = {k: _resolve_env(v) for k, v in keep.items()}
        keep = {k: v for k, v in keep.items() if not (isinstance(v, str) and v.startswith(ENV_REF))}
    if sts_endpoint:
        keep["aws_sts_endpoint"] = sts_endpoint
    if bedrock_endpoint:
        keep["aws_bedrock_runtime_endpoint"] = bedrock_endpoint
    return keep


def _probe_one(completion: Any, dep: Deployment, sts_endpoint: str | None, bedrock_endpoint: str | None) -> Probe:
    if dep.route == PROVIDER and dep.config is None:
        return Probe("skipped", message="not probed: fix the errors above first")
    if dep.model_id == "*" or dep.model.endswith("*"):
        return Probe("skipped", message="not probed: a wildcard names no model")
    mode = dep.model_info.get("mode")
    if mode not in (None, "chat", "completion", "responses"):
        return Probe("skipped", message=f"not probed: model_info.mode is {mode!r}, and the probe sends a chat request")
    try:
        completion(model=dep.model, messages=[{"role": "user", "content": PROMPT}], max_tokens=1,
                   num_retries=0, **_params(dep, sts_endpoint, bedrock_endpoint))
    except Exception as exc:  # every failure is reported in the table, whatever LiteLLM raised
        return classify(exc)
    return Probe("ok")


def classify(exc: BaseException) -> Probe:
    """Bedrock's own error code and message from whatever LiteLLM raised (the structured
    ``x-amzn-ErrorType`` header when the exception kept it, else the JSON body's ``__type``); ``failed``
    when Bedrock never answered (credentials, network)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    for item in seen:
        headers = _headers(item)
        code = (headers.get("x-amzn-errortype") or "").split(":", 1)[0] or None
        body = _json_in(str(getattr(item, "message", "") or item))
        code = code or (str(body.get("__type", "")).rsplit("#", 1)[-1] or None)
        if code:
            message = str(body.get("message") or body.get("Message") or "").strip()
            return Probe("denied", code, message or _first_line(item))
    return Probe("failed", None, _first_line(exc))


def _headers(exc: BaseException) -> dict[str, str]:
    for name in ("litellm_response_headers", "headers"):
        value = getattr(exc, name, None)
        if value:
            try:
                return {str(k).lower(): str(v) for k, v in dict(value).items()}
            except (TypeError, ValueError):
                continue
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    return {str(k).lower(): str(v) for k, v in dict(headers).items()} if headers else {}


def _json_in(text: str) -> dict[str, Any]:
    start = text.find("{")
    while start != -1:
        try:
            value = json.loads(text[start:])
        except ValueError:
            try:
                value, _ = json.JSONDecoder().raw_decode(text[start:])
            except ValueError:
                start = text.find("{", start + 1)
                continue
        return value if isinstance(value, dict) else {}
    return {}


def _first_line(exc: BaseException) -> str:
    text = re.sub(r"\s+", " ", str(getattr(exc, "message", "") or exc)).strip()
    return text[:300]


def _findings(dep: Deployment, probe: Probe) -> list[Finding]:
    where = f"{dep.identity}" + (f" (role {dep.role_arn})" if dep.role_arn else "")
    if probe.status == "denied":
        hint = _HINTS.get(probe.code or "", "see Bedrock's message")
        if "use case" in probe.message.lower():
            hint = "the Anthropic use-case form has not been submitted for this account (Bedrock console, Model " \
                   "access, Anthropic)"
        return [Finding("model-access", "error", "model",
                        f"Bedrock refused a 1-token request to {dep.model_id} signed as {where}: {probe.code}: "
                        f"{probe.message} Fix: {hint}.", dep.index, dep.model_name)]
    if probe.status == "failed":
        return [Finding("probe-failed", "error", "model",
                        f"the 1-token request to {dep.model_id} never got an answer from Bedrock: {probe.message}",
                        dep.index, dep.model_name)]
    if probe.status == "skipped" and dep.config is None and dep.route == PROVIDER:
        return []  # its errors are already listed
    if probe.status == "skipped":
        return [Finding("probe-skipped", "info", "model", probe.message, dep.index, dep.model_name)]
    return []
