"""``check`` rules about who signs a deployment's requests: a provider other than ``bedrock-xacct``, a Bedrock
API key or ``api_base`` it ignores, native ``bedrock/`` identities worth migrating, and settings that let
callers supply their own credentials."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .._config import split_model
from .._errors import ConfigError
from .._names import PROVIDER
from .findings import PREFIX, Deployment, Finding, _mapping
from .rules_base import Context, _finding, _settings


def served_by_another_provider(dep: Deployment) -> list[Finding]:
    """A ``bedrock-xacct/`` deployment whose ``custom_llm_provider`` names another provider is served by it."""
    provider = dep.params.get("custom_llm_provider")
    if provider in (None, PROVIDER):
        return []
    native = " LiteLLM's native Bedrock path signs it with whatever identity that path finds (the gateway's own " \
             "when no role is set), and the provider's checks and audit record are skipped" if provider == "bedrock" \
        else ""
    return [_finding(dep, "served-natively" if provider == "bedrock" else "served-by-another-provider", "error",
                     "custom_llm_provider",
                     f"custom_llm_provider: {provider} makes LiteLLM hand this {PREFIX} deployment to provider "
                     f"{provider!r}, not to {PROVIDER}.{native}. Fix: remove custom_llm_provider from litellm_params "
                     f"(the {PREFIX} prefix selects the provider).")]


def api_key_ignored(dep: Deployment) -> list[Finding]:
    """A Bedrock API key (``api_key``) on a ``bedrock-xacct/`` deployment is ignored: the role signs."""
    found = []
    if dep.params.get("api_key") is not None:
        found.append(_finding(dep, "api-key-ignored", "error", "api_key",
                              f"api_key (a Bedrock API key) is ignored by {PROVIDER}: requests are signed with SigV4 "
                              "by this deployment's AWS identity (its role, keys or the gateway's own), so the key's "
                              "account is not the one billed. Fix: remove api_key, and set aws_role_name to a role in "
                              "the account the key belongs to."))
    if dep.params.get("api_base") is not None:
        found.append(_finding(dep, "api-base-ignored", "error", "api_base",
                              f"api_base is not read by {PROVIDER}: requests go to the regional Bedrock endpoint. "
                              "Fix: use aws_bedrock_runtime_endpoint: https://<host> (e.g. a PrivateLink endpoint)."))
    return found


def client_side_auth_params(index: int, model_name: str, params: Mapping[str, Any]) -> list[Finding]:
    """A deployment's ``configurable_clientside_auth_params`` lets callers override its credentials."""
    allowed = params.get("configurable_clientside_auth_params")
    if not allowed:
        return []
    return [Finding(
        "client-side-credentials", "error", "configurable_clientside_auth_params",
        f"configurable_clientside_auth_params ({json.dumps(allowed)}) lets callers send those fields in the "
        "request body and override this deployment's own: the department boundary is then the caller's "
        "choice. Fix: remove it.", index, model_name)]


def _xacct_supports(route: str) -> bool:
    """Whether this release's bedrock-xacct serves ``bedrock/<route>/`` models (asked of the provider itself)."""
    try:
        split_model(f"{route}/model", "probe")
    except ConfigError:
        return False
    return True


def native_bedrock(dep: Deployment) -> list[Finding]:
    """A native ``bedrock/`` deployment that signs with a role, keys, a profile or a web identity, or carries
    department tags: say what moving it to ``bedrock-xacct/`` changes (a note; never fails a gate)."""
    params = dep.params
    intent = [k for k in ("aws_role_name", "aws_access_key_id", "aws_profile_name", "aws_web_identity_token")
              if params.get(k)]
    tags = f"tags {dep.tags}" if dep.tags else f"model_info.tags {dep.model_info['tags']}" \
        if dep.model_info.get("tags") else ""
    if not intent and not tags:
        return []
    why = ", ".join(intent + ([tags] if tags else []))
    route = dep.model.split("/")[1] if dep.model.count("/") >= 2 else ""
    caveat = ""
    if dep.model_id == "*" or dep.model.endswith("/*"):
        caveat = " This is a wildcard: any Bedrock model id a caller names is signed with this identity; list the " \
                 "models instead."
    elif route == "invoke" and not _xacct_supports("invoke"):
        caveat = f" It uses the invoke/ route, which this release of {PROVIDER} does not serve: it stays native."
    return [_finding(
        dep, "native-bedrock-identity", "info", "model",
        f"native bedrock/ deployment signing as {dep.identity} ({why}). Moving it to {PREFIX} (`litellm-xacct "
        "migrate`) changes: identity, region and endpoints come only from this entry (native bedrock/ lets a "
        "request body override aws_role_name and endpoints on LiteLLM 1.82.3, keys and region on 1.108.7, and "
        "fills unset fields from the gateway's AWS_* environment); credentials are refreshed before they expire "
        "instead of on a waiting request; each response carries an audit record of the signing account; and "
        "`check --live` can prove the account before go-live." + caveat)]


def client_side_auth_everywhere(ctx: Context) -> list[Finding]:
    """``configurable_clientside_auth_params`` on any deployment, whatever its provider."""
    found = []
    for i, entry in enumerate(ctx.doc["model_list"]):
        params = _mapping(_mapping(entry).get("litellm_params"))
        found += client_side_auth_params(i, str(_mapping(entry).get("model_name")), params)
    return found


def client_side_credentials(ctx: Context) -> list[Finding]:
    """Proxy-wide switches that let callers supply credentials, and opt-ins LiteLLM does not read where they
    are (stated intent, worth removing)."""
    doc = ctx.doc
    found = []
    general = _settings(doc, "general_settings")
    if general.get("allow_client_side_credentials"):
        found.append(Finding(
            "client-side-credentials", "error", "general_settings.allow_client_side_credentials",
            "general_settings.allow_client_side_credentials lets every caller send credentials, api_base and "
            "other deployment fields in the request body, overriding the deployment's. Fix: remove it."))
    misplaced = [("litellm_settings", "allow_client_side_credentials"),
                 ("litellm_settings", "configurable_clientside_auth_params"),
                 ("general_settings", "configurable_clientside_auth_params")]
    for section, key in misplaced:
        if _settings(doc, section).get(key):
            found.append(Finding(
                "client-side-credentials", "warning", f"{section}.{key}",
                f"{section}.{key} asks LiteLLM to accept caller-supplied credential fields (it has no effect "
                "in this section today, but would in the right one). Fix: remove it."))
    return found
