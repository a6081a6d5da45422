"""``litellm-xacct migrate``: turn an existing LiteLLM gateway config that signs Bedrock traffic with native
``bedrock/`` roles into the ``bedrock-xacct`` form, fixing the routing mistakes that spread departments
across accounts, and keeping the file the user wrote (comments, key order, quoting, ``os.environ/``).

:func:`migrate_text` is the whole transformation (text in, :class:`Migration` out, no file access);
:func:`run` is the command: read, migrate, write the output and the shim, print the diff, run ``check``.

What changes, per ``model_list`` entry:

* a native Bedrock deployment (``bedrock/<id>``, ``bedrock/converse/<id>``, ``bedrock/invoke/<id>``, or
  ``custom_llm_provider: bedrock``) that sets ``aws_role_name`` moves to ``bedrock-xacct/`` with the same
  route (whatever its source: the gateway's chain, static keys, a profile, a web identity token); every
  ``aws_*`` field keeps its name and value; ``custom_llm_provider: bedrock`` is removed (it would hand the
  deployment back to native Bedrock); ``model_info.base_model`` is set to the model id for cost tracking;
* ``model_info.tags`` (not routing tags) are merged into ``litellm_params.tags``, on every provider;

and config-wide: ``enable_tag_filtering`` moves from ``litellm_settings`` to ``router_settings`` (and is set
there when deployments carry tags and it is missing), the handler is mapped in
``litellm_settings.custom_provider_map``, the proxy guard is listed in ``litellm_settings.callbacks``, and a
``default`` deployment is proposed for each model group with department tags and none: applied only when
chosen with ``--default-deployment``. What cannot be converted is listed with the reason and left as it was.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _yamledit as ye
from ._config import signer
from ._names import PROVIDER, SHIM_LINE, SHIM_MODULE, SHIM_SOURCE

NATIVE = "bedrock"
DEFAULT_TAG = "default"
#: Shims this package wrote before the guard existed: upgrading one of them loses nothing.
_OLD_SHIM_LINES = ("from litellm_xacct import handler  # noqa: F401", "from litellm_xacct import handler")
#: Native routes bedrock-xacct serves under the same name. Others (llama/, deepseek_r1/, agent/, ...) it does not.
_ROUTES = ("converse", "invoke")
_ARN = re.compile(r"^arn:aws(?:-[a-z]+)*:bedrock:")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Note:
    """One line of the migration report: ``where`` (``model_list[0] (claude-sonnet)`` or a settings key) and
    what was done or why nothing was."""

    where: str
    text: str

    def __str__(self) -> str:
        return f"{self.where}: {self.text}"


@dataclass(frozen=True)
class DefaultProposal:
    """A model group with department tags and no ``default`` deployment. ``candidate`` is the model_list
    index migrate would make default (None: no safe candidate); ``applied`` whether it was."""

    model_name: str
    members: tuple[int, ...]
    candidate: int | None
    reason: str
    applied: bool = False


@dataclass
class Migration:
    """The result of :func:`migrate_text`. ``text`` is the input unchanged when nothing changed."""

    text: str
    changes: list[Note] = field(default_factory=list)
    skipped: list[Note] = field(default_factory=list)
    defaults: list[DefaultProposal] = field(default_factory=list)
    shim_module: str | None = None  # the module the output's handler/guard entries name (None: no bedrock-xacct)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


class MigrateError(Exception):
    """The config cannot be migrated at all (not YAML, no model_list, a bad --default-deployment)."""


# -- the transformation ----------------------------------------------------------------------------


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


class _Migrator:
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

    # -- config-wide

    def settings(self, name: str, *, create: bool) -> ye.CommentedMap | None:
        section = self.doc.get(name)
        if isinstance(section, ye.CommentedMap):
            return section
        if section is not None or not create:
            return None
        section = ye.CommentedMap()
        ye.append(self.doc, name, section)
        if self.blank_lines:
            self.doc.yaml_set_comment_before_after_key(name, before="\n")  # a blank line, as between the others
        return section

    def tag_filtering(self, any_tags: bool) -> None:
        key = "enable_tag_filtering"
        litellm_settings = self.settings("litellm_settings", create=False)
        router = self.doc.get("router_settings")
        if router is not None and not isinstance(router, ye.CommentedMap):
            self.skip("router_settings", "not a mapping; enable_tag_filtering not checked")
            return
        if litellm_settings is not None and key in litellm_settings:
            router = self.settings("router_settings", create=True)
            assert router is not None
            moved = key not in router
            if moved:
                value, _ = ye.move(litellm_settings, key, router)
            else:
                value, _ = ye.pop(litellm_settings, key)
            self.emptied_settings = not litellm_settings
            if not moved:
                self.change("litellm_settings", f"{key}: {_yaml_scalar(value)} removed (LiteLLM ignores it "
                                                f"there; router_settings.{key}: {_yaml_scalar(router[key])} is the "
                                                "one in effect)")
            else:
                self.change("router_settings", f"{key}: {_yaml_scalar(value)} moved here from litellm_settings "
                                               "(where LiteLLM ignores it)")
        router = self.doc.get("router_settings")
        if any_tags and not (isinstance(router, Mapping) and key in router):
            router = self.settings("router_settings", create=True)
            assert router is not None
            ye.append(router, key, True)
            self.change("router_settings", f"{key}: true added (deployments carry tags; without it every request "
                                           "may reach any department's deployment)")
        elif any_tags and isinstance(router, Mapping) and router.get(key) is not True:
            self.skip("router_settings", f"{key} is {router.get(key)!r}: tags do not route. Set it to true "
                                         "(left as you wrote it)")

    def wire(self) -> None:
        """Map the handler and arm the guard, through one shim module beside the config."""
        settings = self.settings("litellm_settings", create=True)
        assert settings is not None
        where = "litellm_settings"
        entries = settings.get("custom_provider_map")
        if entries is None:
            entries = ye.CommentedSeq()
            ye.append(settings, "custom_provider_map", entries)
        if not isinstance(entries, list):
            self.skip(where, "custom_provider_map is not a list; the handler and guard were not wired")
            return
        ours = [e for e in entries if isinstance(e, ye.CommentedMap) and e.get("provider") == PROVIDER]
        module = SHIM_MODULE
        if not ours:
            entry = ye.CommentedMap([("provider", PROVIDER), ("custom_handler", f"{SHIM_MODULE}.handler")])
            entries.append(entry)
            self.change(where, f"custom_provider_map: {PROVIDER} -> {SHIM_MODULE}.handler added")
        else:
            handler = ours[0].get("custom_handler")
            shim, _, attribute = str(handler).rpartition(".")
            if _IDENTIFIER.match(shim) and attribute == "handler":
                module = shim  # the user's own one-line shim beside the config
            else:
                ours[0]["custom_handler"] = ye.same_style(handler, f"{SHIM_MODULE}.handler")
                self.change(where, f"custom_handler {handler} -> {SHIM_MODULE}.handler (LiteLLM 1.82.3 loads "
                                   "custom handlers only from a file beside the config)")
        self.result.shim_module = module
        guard = f"{module}.guard"
        callbacks = settings.get("callbacks")
        if isinstance(callbacks, str):
            if callbacks in (guard, "litellm_xacct.guard"):
                return
            settings["callbacks"] = ye.flow_seq([callbacks, guard])
        elif callbacks is None:
            ye.append(settings, "callbacks", ye.flow_seq([guard]))
        elif isinstance(callbacks, list):
            if guard in callbacks or "litellm_xacct.guard" in callbacks:
                return
            callbacks.append(guard)
        else:
            self.skip(where, f"callbacks is {callbacks!r}, not a list; the guard was not armed")
            return
        self.change(where, f"callbacks: {guard} added (the guard refuses requests that would switch the "
                           "provider, credentials or endpoint before routing)")

    def default_deployments(self, model_list: list[Any]) -> None:
        groups: dict[str, list[int]] = {}
        for i, entry in enumerate(model_list):
            if isinstance(entry, Mapping) and isinstance(entry.get("model_name"), str):
                groups.setdefault(entry["model_name"], []).append(i)

        def tags(i: int) -> list[str]:
            params = model_list[i].get("litellm_params")
            return _tags_of(params) if isinstance(params, Mapping) else []

        owner = {i: name for name, members in groups.items() for i in members}
        for chosen in self.chosen_defaults:
            if chosen not in owner:
                raise MigrateError(f"--default-deployment {chosen}: model_list[{chosen}] does not exist "
                                   f"(0..{len(model_list) - 1})")
        for name, members in groups.items():
            departments = [i for i in members if any(t != DEFAULT_TAG for t in tags(i))]
            if len(members) < 2 or not departments or any(DEFAULT_TAG in tags(i) for i in members):
                continue
            untagged = [i for i in members if not tags(i)]
            if len(untagged) == 1:
                candidate: int | None = untagged[0]
                reason = (f"model_list[{untagged[0]}] is the only deployment of {name!r} without a department tag "
                          "(the gateway's platform deployment)")
                params = model_list[untagged[0]].get("litellm_params") or {}
                if not params.get("aws_role_name"):
                    reason += ("; it assumes no role, so untagged requests would be billed to whatever identity it "
                               "signs with (the gateway's own, for a native bedrock/ deployment)")
            elif untagged:
                candidate, reason = None, (f"several deployments of {name!r} carry no tag ({untagged}): choose one")
            else:
                candidate, reason = None, (f"every deployment of {name!r} carries a department tag: add one for "
                                           "untagged requests (e.g. in the platform account) and tag it default, "
                                           "or choose a department's with --default-deployment N")
            picked = [i for i in self.chosen_defaults if owner[i] == name]
            if len(picked) > 1:
                raise MigrateError(f"--default-deployment: {picked} are all in model group {name!r}; choose one")
            proposal = DefaultProposal(name, tuple(members), candidate, reason)
            if picked:
                self.make_default(picked[0], model_list[picked[0]])
                proposal = DefaultProposal(name, tuple(members), picked[0], reason, applied=True)
            self.result.defaults.append(proposal)
        for chosen in self.chosen_defaults:
            if not any(p.applied and p.candidate == chosen for p in self.result.defaults):
                raise MigrateError(f"--default-deployment {chosen}: model group {owner[chosen]!r} needs no default "
                                   "(it has one already, or no department tags)")

    def make_default(self, index: int, entry: ye.CommentedMap) -> None:
        params = entry["litellm_params"]
        tags = params.get("tags")
        if isinstance(tags, list):
            tags.append(DEFAULT_TAG)
        else:
            ye.append(params, "tags", ye.flow_seq([DEFAULT_TAG]))
        self.change(_where(index, entry), "tagged default (--default-deployment): requests without a department "
                                          "tag go to this deployment only")


def migrate_text(text: str, *, default_deployments: Sequence[int] | None = None) -> Migration:
    """Migrate one config's YAML text (see the module docstring). Raises :class:`MigrateError`."""
    yaml = ye.yaml_for(text)
    try:
        doc = ye.load(yaml, text)
    except Exception as exc:  # ruamel raises many unrelated types for bad YAML
        raise MigrateError(f"invalid YAML: {exc}") from None
    if not isinstance(doc, ye.CommentedMap):
        raise MigrateError("the config must be a YAML mapping")
    model_list = doc.get("model_list")
    if not isinstance(model_list, list):
        raise MigrateError("model_list is missing or not a list; nothing to migrate")
    mig = _Migrator(doc, default_deployments)
    mig.blank_lines = "\n\n" in text
    for index, entry in enumerate(model_list):
        mig.deployment(index, entry)
    any_tags = any(_tags_of(e.get("litellm_params") or {}) for e in model_list if isinstance(e, Mapping))
    mig.default_deployments(model_list)
    mig.tag_filtering(any_tags or bool(default_deployments))
    if any(str((e.get("litellm_params") or {}).get("model", "")).startswith(PROVIDER + "/")
           for e in model_list if isinstance(e, Mapping)):
        mig.wire()
    _unseen(doc, mig)
    settings = doc.get("litellm_settings") if mig.emptied_settings else None
    if isinstance(settings, ye.CommentedMap) and not settings and list(doc.keys())[-1] != "litellm_settings":
        ye.pop(doc, "litellm_settings")  # emptied by the move of enable_tag_filtering
    elif isinstance(settings, ye.CommentedMap) and not settings:
        _, following = ye.pop(doc, "litellm_settings")
        ye.adopt(doc, following)
    result = mig.result
    result.text = ye.dump(yaml, doc) if result.changed else text
    return result


def _unseen(doc: Mapping[str, Any], mig: _Migrator) -> None:
    """Deployments that are not in this file."""
    includes = doc.get("include")
    for name in includes if isinstance(includes, list) else [includes] if includes else []:
        mig.skip(f"include: {name}", "not migrated: migrate rewrites one file. Its deployments are merged into "
                                     "model_list when the proxy starts; convert them the same way by hand, or "
                                     "move them into this file and run migrate again")
    general = doc.get("general_settings")
    if isinstance(general, Mapping) and general.get("store_model_in_db") in (True, "true", "True"):
        mig.skip("general_settings.store_model_in_db", "models added through the UI/API live in LiteLLM's database, "
                                                        "not in this file: migrate cannot see them. Re-create each "
                                                        f"native Bedrock one with model {PROVIDER}/<id>")


# -- the shim beside the config --------------------------------------------------------------------


def write_shim(directory: Path, module: str) -> str:
    """Write ``<module>.py`` (the one-line shim) in ``directory`` unless an equivalent one is there.
    Returns what happened, for the report. Never overwrites a file it did not write."""
    path = directory / f"{module}.py"
    if not path.exists():
        path.write_text(SHIM_SOURCE, encoding="utf-8")
        return f"wrote {path}"
    code = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()
            if ln.strip() and not ln.strip().startswith("#")]
    if code == [SHIM_LINE] or (code and all("import" in c and "guard" in c for c in code[:1])):
        return f"{path} already exports guard and handler"
    if len(code) == 1 and code[0] in _OLD_SHIM_LINES:
        path.write_text(SHIM_SOURCE, encoding="utf-8")
        return f"updated {path} (this package's earlier shim) to also export the guard"
    return (f"left {path} as it is: it is not this package's shim. It must provide `guard` and `handler`, "
            f"e.g. `{SHIM_LINE}`")


# -- the command -----------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG.yaml", help="the LiteLLM proxy config to migrate (never changed "
                                                              "unless --in-place)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", metavar="OUT.yaml",
                       help="where to write the migrated config (default: CONFIG.xacct.yaml beside CONFIG)")
    where.add_argument("--in-place", action="store_true", help="rewrite CONFIG itself")
    parser.add_argument("--default-deployment", metavar="N|none", action="append", default=[],
                        help="make model_list[N] its group's `default` deployment (the one requests without a "
                             "department tag reach); repeat for several groups. `none`: leave groups without one "
                             "and say so. Without it, migrate only proposes one")
    parser.add_argument("--shim-dir", metavar="DIR",
                        help=f"where to write {SHIM_MODULE}.py (default: beside the output; LiteLLM loads it from "
                             "beside the config the proxy runs)")


def _output_path(args: argparse.Namespace, source: Path) -> Path:
    if args.in_place:
        return source
    if args.output:
        return Path(args.output)
    return source.with_name(source.stem + ".xacct" + (source.suffix or ".yaml"))


def _parse_defaults(values: Sequence[str]) -> tuple[list[int], bool]:
    chosen, none = [], False
    for value in values:
        if value.strip().lower() == "none":
            none = True
        elif value.strip().isdigit():
            chosen.append(int(value))
        else:
            raise MigrateError(f"--default-deployment {value!r}: expected a model_list index (0, 1, ...) or none")
    if none and chosen:
        raise MigrateError("--default-deployment none cannot be combined with an index")
    return chosen, none


def run(args: argparse.Namespace, out: Any = None) -> int:
    out = out or sys.stdout
    prog = "litellm-xacct migrate"
    source = Path(args.config)
    target = _output_path(args, source)
    try:
        text = source.read_text(encoding="utf-8")
        if not args.in_place and target.exists() and target.resolve() == source.resolve():
            raise MigrateError(f"{target} is the input: pass --in-place to rewrite it")
        chosen, none = _parse_defaults(args.default_deployment)
        result = migrate_text(text, default_deployments=chosen)
    except OSError as exc:
        print(f"{prog}: error: {source}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except MigrateError as exc:
        print(f"{prog}: error: {source}: {exc}", file=sys.stderr)
        return 2
    diff = difflib.unified_diff(text.splitlines(keepends=True), result.text.splitlines(keepends=True),
                                fromfile=str(source), tofile=str(target))
    diff_text = "".join(diff)
    print(diff_text if diff_text else f"no changes: {source} needs nothing migrate does", file=out)
    print(render_notes(result, none), file=out)
    if "\ninclude:" in "\n" + result.text and target.resolve().parent != source.resolve().parent:
        print(f"note: {target} is not in {source}'s directory: its include: paths are relative to the config's own "
              "directory, so copy the included files beside it", file=out)
    try:
        if not args.in_place or result.changed:
            target.write_text(result.text, encoding="utf-8")
        if result.shim_module:
            print(write_shim(Path(args.shim_dir) if args.shim_dir else target.parent, result.shim_module), file=out)
    except OSError as exc:
        print(f"{prog}: error: cannot write {exc.filename or target}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"wrote {target}" if (not args.in_place or result.changed) else f"{target} unchanged", file=out)
    return _check_output(target, out)


def render_notes(result: Migration, keep_without_default: bool = False) -> str:
    lines = []
    if result.changes:
        lines += ["", "changed:"] + [f"  {n}" for n in result.changes]
    if result.skipped:
        lines += ["", "left for you (not converted, or converted but incomplete):"] + [f"  {n}" for n in result.skipped]
    pending = [p for p in result.defaults if not p.applied]
    if pending:
        lines += ["", "default deployment (requests without a department tag):"]
        for p in pending:
            if keep_without_default:
                lines.append(f"  {p.model_name!r}: left without a default (--default-deployment none): requests "
                             "without a department tag are refused or spread over the group's deployments")
            elif p.candidate is not None:
                lines.append(f"  {p.model_name!r}: proposed model_list[{p.candidate}]: {p.reason}. Not applied: "
                             f"pass --default-deployment {p.candidate} to apply it, or --default-deployment none")
            else:
                lines.append(f"  {p.model_name!r}: no proposal: {p.reason}")
    return "\n".join(lines)


def _check_output(target: Path, out: Any) -> int:
    import logging

    from ._check import UnusableConfig, check, render_text

    logging.getLogger("litellm_xacct").addHandler(logging.NullHandler())
    try:
        report = check(str(target))
    except UnusableConfig as exc:
        print(f"\nlitellm-xacct check: {exc}", file=out)
        return 1
    print("", file=out)
    out.write(render_text(report))
    return 1 if report.summary()["errors"] else 0
