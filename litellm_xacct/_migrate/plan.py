"""The whole transformation: :func:`migrate_text` (YAML text in, :class:`~.result.Migration` out, no file
access) and :class:`_Migrator`, which adds the config-wide steps to the per-deployment ones: moving
``enable_tag_filtering`` to ``router_settings``, wiring the handler and the guard, proposing defaults."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .. import _yamledit as ye
from .._names import PROVIDER, SHIM_MODULE
from .entries import _EntryMigrator, _tags_of, _where, _yaml_scalar
from .result import DefaultProposal, MigrateError, Migration

DEFAULT_TAG = "default"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Migrator(_EntryMigrator):
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
