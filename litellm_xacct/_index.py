"""The gateway's ``bedrock-xacct`` deployments, indexed once per router model list.

Per-request isolation and authority checks are dictionary look-ups in an :class:`Index` (deployment id ->
group, tags, binding; the department set; groups with a ``default``), so their cost does not grow with the
number of deployments. The index is rebuilt when the router's model list changes: a different list
object, a different length, or a different first/last entry (deployments added through the proxy's API
are appended; an update replaces the entry object).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._errors import ConfigError
from ._isolation import DEFAULT_TAG, tag_list
from ._names import PROVIDER

#: Where a department deployment names who may use it (``model_info`` cannot be overridden from a body).
BINDING_FIELD = "xacct_callers"
_BINDING_KEYS = ("teams", "key_aliases", "tags")


@dataclass(frozen=True)
class Binding:
    """``model_info.xacct_callers``: the callers a department deployment serves."""

    teams: frozenset[str] = frozenset()  # LiteLLM team ids or team aliases
    key_aliases: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()  # tags a key / team carries (e.g. from custom_auth)


@dataclass(frozen=True)
class Deployment:
    """One ``bedrock-xacct`` deployment as isolation sees it."""

    id: str
    group: str
    tags: frozenset[str]  # litellm_params.tags: the routing tags
    info_tags: frozenset[str]  # model_info.tags: a mistake when ``tags`` is empty
    binding: Binding | None
    params: Any = field(repr=False, compare=False)  # the router's own litellm_params (dict or model)


@dataclass(frozen=True)
class Index:
    deployments: dict[str, Deployment]
    departments: frozenset[str]
    default_groups: frozenset[str]  # model groups with a ``default``-tagged bedrock-xacct deployment
    groups: frozenset[str]  # model groups with a bedrock-xacct deployment
    bindings: dict[str, tuple[Binding, ...]]  # department -> the bindings of its deployments
    tag_filtering: bool
    errors: tuple[ConfigError, ...] = ()  # invalid bindings: every request fails closed with the first
    #: ``(kind, name)`` -> departments binding it, kind: team | key_alias | tag (so a look-up, not a scan)
    callers: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)

    def bound_departments(self) -> frozenset[str]:
        return frozenset(d for d, b in self.bindings.items() if b)


def _mapping(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    dumped = value.model_dump() if hasattr(value, "model_dump") else None
    return dumped if isinstance(dumped, Mapping) else {}


def parse_binding(label: str, value: Any) -> Binding:
    """Validate ``model_info.xacct_callers``; :class:`ConfigError` names the field and the fix."""
    where = f"model_info.{BINDING_FIELD}"
    example = f"{where}: {{teams: [team-alias], key_aliases: [key-alias], tags: [tag]}}"
    if not isinstance(value, Mapping):
        raise ConfigError(label, where, f"is {type(value).__name__}, not a mapping", f"write {example}")
    unknown = sorted(str(k) for k in value if k not in _BINDING_KEYS)
    if unknown:
        raise ConfigError(label, f"{where}.{unknown[0]}", "is not a binding field",
                          f"use only {', '.join(_BINDING_KEYS)}: {example}")
    parsed: dict[str, frozenset[str]] = {}
    for key in _BINDING_KEYS:
        items = value.get(key)
        if items is None:
            continue
        if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
            raise ConfigError(label, f"{where}.{key}", f"is {items!r}, not a list of non-empty strings",
                              f"write {key}: [name, ...]")
        if key == "tags" and DEFAULT_TAG in items:
            raise ConfigError(label, f"{where}.tags", f"lists {DEFAULT_TAG!r}, which every untagged caller has",
                              "bind a tag your keys or teams carry")
        parsed[key] = frozenset(i.strip() for i in items)
    if not any(parsed.values()):
        raise ConfigError(label, where, "names no caller", f"write {example}, or remove it")
    return Binding(**parsed)


def _deployment(entry: Any) -> tuple[Deployment | None, ConfigError | None]:
    entry = _mapping(entry)
    raw_params = entry.get("litellm_params")
    params, info = _mapping(raw_params), _mapping(entry.get("model_info"))
    model = params.get("model")
    if not (isinstance(model, str) and model.startswith(f"{PROVIDER}/")):
        return None, None
    group = str(entry.get("model_name"))
    binding, error = None, None
    if info.get(BINDING_FIELD) is not None:
        try:
            binding = parse_binding(group, info[BINDING_FIELD])
        except ConfigError as exc:
            error = exc
    tags = frozenset(tag_list(params.get("tags")))
    dep = Deployment(str(info.get("id")), group, tags, frozenset(tag_list(info.get("tags"))), binding,
                     raw_params)
    if binding is not None and not (tags - {DEFAULT_TAG}):
        error = ConfigError(group, f"model_info.{BINDING_FIELD}", "is set on a deployment without a department "
                            "tag in litellm_params.tags", "put it on the department's deployment, or add its tag")
    return dep, error


def build(model_list: Any, tag_filtering: bool) -> Index:
    """An :class:`Index` of the ``bedrock-xacct`` deployments in a router's ``model_list``."""
    deployments: dict[str, Deployment] = {}
    errors: list[ConfigError] = []
    for entry in model_list or []:
        dep, error = _deployment(entry)
        if error is not None:
            errors.append(error)
        if dep is not None:
            deployments[dep.id] = dep
    departments = frozenset(t for d in deployments.values() for t in d.tags) - {DEFAULT_TAG}
    bindings: dict[str, list[Binding]] = {d: [] for d in departments}
    for dep in deployments.values():
        for tag in dep.tags & departments:
            if dep.binding is not None:
                bindings[tag].append(dep.binding)
    callers: dict[tuple[str, str], set[str]] = {}
    for department, found in bindings.items():
        for binding in found:
            for kind, names in (("team", binding.teams), ("key_alias", binding.key_aliases), ("tag", binding.tags)):
                for name in names:
                    callers.setdefault((kind, name), set()).add(department)
    return Index(deployments, departments,
                 frozenset(d.group for d in deployments.values() if DEFAULT_TAG in d.tags),
                 frozenset(d.group for d in deployments.values()),
                 {k: tuple(v) for k, v in bindings.items()}, tag_filtering, tuple(errors),
                 {k: frozenset(v) for k, v in callers.items()})


_lock = threading.Lock()
_cache: dict[str, Any] = {}


def _version(model_list: Any) -> tuple[int, int, int, int]:
    if not isinstance(model_list, list) or not model_list:
        return (id(model_list), 0, 0, 0)
    return (id(model_list), len(model_list), id(model_list[0]), id(model_list[-1]))


def for_router(router: Any) -> Index:
    """The index of ``router``'s model list, rebuilt only when that list changed (see the module docstring)."""
    model_list = getattr(router, "model_list", None)
    key = (id(router), _version(model_list), getattr(router, "enable_tag_filtering", None) is True)
    cached = _cache.get("entry")
    if cached is not None and cached[0] == key:
        index: Index = cached[1]
        return index
    with _lock:
        index = build(model_list, key[2])
        _cache["entry"] = (key, index)
    return index
