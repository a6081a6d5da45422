"""Migrating one ``model_list`` entry: which native Bedrock deployments can move to ``bedrock-xacct/`` and why
the others stay, and :class:`_EntryMigrator`, which moves tags, converts the model and completes a
``bedrock-xacct`` deployment (``custom_llm_provider``, ``api_key``, ``model_info.base_model``)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .. import _yamledit as ye
from .._config import signer
from .._names import PROVIDER
from .result import Migration, Note

NATIVE = "bedrock"
#: Native routes bedrock-xacct serves under the same name. Others (llama/, deepseek_r1/, agent/, ...) it does not.
_ROUTES = ("converse", "invoke")
_ARN = re.compile(r"^arn:aws(?:-[a-z]+)*:bedrock:")


def _where(index: int, entry: Mapping[str, Any]) -> str:
    return f"model_list[{index}] ({entry.get('model_name')})"


def _native_model(params: Mapping[str, Any]) -> str | None:
    """The part after ``bedrock/`` of a native Bedrock deployment's model (None if not native Bedrock)."""
    model = params.get("model")
    if not isinstance(model, str):
        return None
    if model.startswith(NATIVE + "/"):
        return model[len(NATIVE) + 1:]
    if params.get("custom_llm_provider") == NATIVE and not model.startswith(PROVIDER + "/"):
        return model
    return None


def _source(params: Mapping[str, Any]) -> str:
    """Which identity a deployment without a role signs with (for the report)."""
    found = signer(params)
    if found.source == "static-keys":
        return "its static access keys"
    if found.source == "profile":
        return f"profile {found.value!r}"
    if found.source == "web-identity":
        return "a web identity token (LiteLLM needs aws_role_name to use one)"
    return "the gateway's own AWS identity"


def _unconvertible(rest: str, params: Mapping[str, Any]) -> str | None:
    """Why a native Bedrock deployment stays native (None: it can move)."""
    if "*" in rest:
        return ("a wildcard deployment lets every caller choose any model id on that role's account, and "
                "wildcard routing to bedrock-xacct is untested; list each model as its own deployment to move it")
    if params.get("api_key"):
        return ("authenticates with a Bedrock API key (api_key, a bearer token of one account); bedrock-xacct "
                "signs with a role's SigV4 credentials. Remove api_key and set aws_role_name to move it")
    role = params.get("aws_role_name")
    if not isinstance(role, str) or not role.strip():
        return (f"no aws_role_name: it signs with {_source(params)}, in that identity's own account; moving it "
                "changes nothing about who pays. Set aws_role_name and run migrate again to move it")
    route, _, model_id = rest.partition("/")
    if model_id and not rest.startswith("arn:") and route not in _ROUTES:
        return (f"LiteLLM's bedrock/{route}/ route has no bedrock-xacct counterpart (bedrock-xacct serves "
                "bedrock-xacct/<id>, converse/<id> and invoke/<id>)")
    if not rest:
        return "the model id is empty"
    return None


def _model_id(rest: str) -> str:
    route, _, model_id = rest.partition("/")
    return model_id if route in _ROUTES and model_id else rest


def _yaml_scalar(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _as_seq(tags: list[str]) -> Any:
    """The moved tags keep the list object (and so its [flow] style and quoting) the user wrote."""
    return tags if isinstance(tags, ye.CommentedSeq) else ye.flow_seq(list(tags))


def _tags_of(params: Mapping[str, Any]) -> list[str]:
    tags = params.get("tags")
    return [str(t) for t in tags] if isinstance(tags, list) else []


class _EntryMigrator:
    """The per-deployment half of the migration: records what was changed or skipped, and rewrites one
    ``model_list`` entry in place. :class:`~.plan._Migrator` adds the config-wide steps."""

    def __init__(self, doc: Any, defaults: Sequence[int] | None) -> None:
        self.doc = doc
        self.chosen_defaults = list(defaults or [])
        self.blank_lines = False
        self.emptied_settings = False
        self.result = Migration(text="")

    def change(self, where: str, text: str) -> None:
        self.result.changes.append(Note(where, text))

    def skip(self, where: str, text: str) -> None:
        self.result.skipped.append(Note(where, text))

    # -- per deployment

    def deployment(self, index: int, entry: Any) -> None:
        if not isinstance(entry, ye.CommentedMap):
            self.skip(f"model_list[{index}]", "not a mapping; left as it is")
            return
        where = _where(index, entry)
        params = entry.get("litellm_params")
        if not isinstance(params, ye.CommentedMap):
            self.skip(where, "litellm_params is missing or not a mapping; left as it is")
            return
        self.move_tags(where, entry, params)
        rest = _native_model(params)
        if rest is not None:
            reason = _unconvertible(rest, params)
            if reason:
                self.skip(where, f"stays on native bedrock/: {reason}")
            else:
                self.convert(where, entry, params, rest)
        if str(params.get("model", "")).startswith(PROVIDER + "/"):
            self.fix_xacct(where, entry, params)

    def move_tags(self, where: str, entry: ye.CommentedMap, params: ye.CommentedMap) -> None:
        info = entry.get("model_info")
        if not isinstance(info, ye.CommentedMap) or "tags" not in info:
            return
        tags = info["tags"]
        if isinstance(tags, str):
            tags = [tags]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            self.skip(where, f"model_info.tags is {tags!r}, not a list of strings; left as it is")
            return
        existing = params.get("tags")
        if existing is not None and not isinstance(existing, list):
            self.skip(where, f"litellm_params.tags is {existing!r}, not a list; model_info.tags left as they are")
            return
        comment = ye.eol_comment(info, "tags")
        _, following = ye.pop(info, "tags")  # something is returned only when model_info is now empty
        if not info:
            last = list(entry.keys())[-1] == "model_info"
            _, more = ye.pop(entry, "model_info")
            if last:
                ye.adopt(entry, following or more)
        if existing is None:
            ye.append(params, "tags", _as_seq(tags))
            if comment:
                params.yaml_add_eol_comment("# " + comment, "tags")
            merged = list(tags)
        else:
            added = [t for t in tags if t not in existing]
            existing.extend(added)
            merged = [str(t) for t in existing]
        self.change(where, f"tags {merged} now in litellm_params (LiteLLM routes on litellm_params.tags; "
                           "under model_info they route nothing)")

    def convert(self, where: str, entry: ye.CommentedMap, params: ye.CommentedMap, rest: str) -> None:
        if not params.get("aws_region_name"):
            self.skip(where, "moved, but aws_region_name is missing: native bedrock/ took the region from the "
                             f"gateway's environment, {PROVIDER} takes it only from the deployment. Set it (e.g. "
                             "aws_region_name: os.environ/AWS_REGION_NAME)")
        dropped = [f for f in ("aws_external_id", "aws_session_tags") if params.get(f)]
        if params.get("aws_web_identity_token") and dropped:
            self.skip(where, f"moved, but {' and '.join(dropped)} with aws_web_identity_token: native bedrock/ dropped "
                             "them silently (AssumeRoleWithWebIdentity takes neither) and bedrock-xacct refuses them. "
                             "Remove them, or assume the web-identity role first (xacct_role_chain) and this role "
                             "second")
        old = params["model"]
        params["model"] = ye.same_style(old, f"{PROVIDER}/{rest}")
        text = f"model {old} -> {PROVIDER}/{rest} (the role is assumed by bedrock-xacct, on every LiteLLM release)"
        if params.get("custom_llm_provider") == NATIVE:
            _, following = ye.pop(params, "custom_llm_provider")
            ye.adopt(params, following)
            text += "; custom_llm_provider: bedrock removed (it hands the deployment back to native Bedrock)"
        self.change(where, text)

    def fix_xacct(self, where: str, entry: ye.CommentedMap, params: ye.CommentedMap) -> None:
        provider = params.get("custom_llm_provider")
        if provider is not None and provider != PROVIDER:
            _, following = ye.pop(params, "custom_llm_provider")
            ye.adopt(params, following)
            self.change(where, f"custom_llm_provider: {provider} removed (it makes LiteLLM serve this deployment "
                               f"with {provider}, never {PROVIDER})")
        if params.get("api_key"):
            self.skip(where, f"api_key is ignored by {PROVIDER} (it signs with the role); left in place: "
                             "remove it by hand")
        info = entry.get("model_info")
        if isinstance(info, Mapping) and info.get("base_model"):
            return
        model_id = _model_id(str(params["model"])[len(PROVIDER) + 1:])
        if _ARN.match(model_id):
            self.skip(where, f"model_info.base_model not set: cannot tell which model {model_id} serves; set it "
                             "to that model's id or requests are priced at 0")
            return
        if info is None:
            ye.append(entry, "model_info", ye.CommentedMap([("base_model", model_id)]))
        elif isinstance(info, ye.CommentedMap):
            ye.append(info, "base_model", model_id)
        else:
            self.skip(where, "model_info is not a mapping; base_model not set")
            return
        self.change(where, f"model_info.base_model: {model_id} (prices {PROVIDER} requests as that model)")
