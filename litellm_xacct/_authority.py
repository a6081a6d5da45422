"""Who is calling decides which departments (accounts) a request may reach.

A caller is *bound* to a department when the proxy's auth says so (never the request body):

* its key's, team's or project's tags (``UserAPIKeyAuth.metadata.tags``, ``team_metadata.tags``,
  ``project_metadata.tags``; ``&dept`` counts, ``!dept`` does not) name the department, or
* a deployment of that department lists the caller in ``model_info.xacct_callers`` (team id or alias,
  key alias, or a tag its key or team carries).

A bound caller reaches only its departments: a tag naming another department, ``default``, or ``!`` its
own is refused (403), and its untagged request goes to its department. An unbound caller's department tag
is honoured (tag routing) unless the gateway is strict (``general_settings.xacct_strict_callers: true``):
then it is refused and the caller reaches ``default`` only.

The guard (:mod:`._guard`) decides and writes a :func:`record` into ``proxy_server_request`` (rebuilt by the
proxy for every request, so a caller cannot forge it); the provider re-checks it with :func:`recheck`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from . import _isolation
from ._index import Deployment, Index
from ._isolation import DEFAULT_TAG, split_tag, tag_list

#: Where the guard writes its record, beside its mark (see ``_callerfields.GUARD_KEY``).
AUTHORITY_KEY = "xacct_authority"
#: The gateway setting for strict mode (under ``general_settings``).
STRICT_SETTING = "xacct_strict_callers"


class Refusal(Exception):
    """A request the caller may not make: ``code`` is a short reason (metrics), ``str()`` the message."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class Caller:
    """The authenticated caller, as the proxy's auth produced it."""

    key_alias: str | None = None
    team_id: str | None = None
    team_alias: str | None = None
    key_tags: tuple[str, ...] = ()
    team_tags: tuple[str, ...] = ()
    project_tags: tuple[str, ...] = ()

    @classmethod
    def from_auth(cls, auth: Any) -> Caller:
        """From LiteLLM's ``UserAPIKeyAuth`` (``user_api_key_dict`` in the pre-call hook)."""
        def text(name: str) -> str | None:
            value = getattr(auth, name, None)
            return value if isinstance(value, str) and value else None

        def tags(name: str) -> tuple[str, ...]:
            meta = getattr(auth, name, None)
            return tuple(tag_list(meta.get("tags"))) if isinstance(meta, Mapping) else ()

        return cls(text("key_alias"), text("team_id"), text("team_alias"), tags("metadata"),
                   tags("team_metadata"), tags("project_metadata"))

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Caller:
        raw = record.get("caller")
        raw = raw if isinstance(raw, Mapping) else {}

        def text(name: str) -> str | None:
            value = raw.get(name)
            return value if isinstance(value, str) else None

        return cls(text("key_alias"), text("team_id"), text("team_alias"), tuple(tag_list(raw.get("key_tags"))),
                   tuple(tag_list(raw.get("team_tags"))), tuple(tag_list(raw.get("project_tags"))))

    def name(self) -> str:
        parts = [f"key alias {self.key_alias!r}" if self.key_alias else "",
                 f"team {self.team_alias or self.team_id!r}" if (self.team_alias or self.team_id) else ""]
        return " / ".join(p for p in parts if p) or "an unnamed key"


def bound(caller: Caller, index: Index) -> dict[str, str]:
    """department -> what binds the caller to it (empty: an unbound caller). Look-ups only: the cost does
    not grow with the number of deployments or bindings."""
    found: dict[str, str] = {}
    for where, tags in (("key", caller.key_tags), ("team", caller.team_tags), ("project", caller.project_tags)):
        for tag in tags:
            op, name = split_tag(tag)
            if op != "!" and name in index.departments:
                found.setdefault(name, f"{where} tag {name!r}")
    names: list[tuple[str, str | None]] = [
        ("team", caller.team_id), ("team", caller.team_alias), ("key_alias", caller.key_alias),
        *(("tag", split_tag(t)[1]) for t in (*caller.key_tags, *caller.team_tags, *caller.project_tags))]
    labels = {"team": "team", "key_alias": "key alias", "tag": "tag"}
    for kind, value in names:
        for department in sorted(index.callers.get((kind, value or ""), ())):
            found.setdefault(department, f"{labels[kind]} {value!r} (model_info.xacct_callers)")
    return found


def decide(caller: Caller, tags: list[str], index: Index, strict: bool) -> tuple[dict[str, str], set[str]]:
    """``(bound departments, wanted departments)`` for a caller sending ``tags``; :class:`Refusal` if not
    allowed. ``wanted`` empty: the request is for ``default``."""
    departments = index.departments
    allowed = bound(caller, index)
    if allowed:
        mine = sorted(allowed)
        for tag in tags:
            op, name = split_tag(tag)
            other = name == DEFAULT_TAG or (name in departments and name not in allowed and op != "!")
            if other or (op == "!" and name in allowed):
                raise Refusal("other-department", (
                    f"the caller ({caller.name()}) is bound to department(s) {mine}; the request tag {tag!r} "
                    f"would move it to another account. Fix: send no tag, or one of {mine}"))
        asked = _isolation.departments_named(tags, departments)
        if asked:
            return allowed, asked
        if len(allowed) > 1:
            raise Refusal("several-departments", (
                f"the caller ({caller.name()}) is bound to departments {mine} and the request names none. "
                f"Fix: send one of them as a tag"))
        return allowed, set(allowed)
    if strict:
        named = sorted(_isolation.departments_named(tags, departments))
        if named:
            raise Refusal("unbound-department", (
                f"the caller ({caller.name()}) is bound to no department and this gateway is strict "
                f"(general_settings.{STRICT_SETTING}), so its department tag {named[0]!r} is refused. Fix: send "
                "no department tag (it goes to 'default'), or ask the operator to bind your key or team"))
        return allowed, set()
    return allowed, _isolation.departments_named(tags, departments)


def record(caller: Caller, allowed: Mapping[str, str], wanted: set[str], strict: bool,
           tags: list[str]) -> dict[str, Any]:
    """What the guard writes into ``proxy_server_request[AUTHORITY_KEY]`` (no secret: aliases and tags).
    ``tags``: every tag the request carried before routing (the Router later merges the picked deployment's
    own tags into the request's ``metadata.tags``, so the provider cannot read them there)."""
    return {"caller": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(caller).items()},
            "bound": dict(allowed), "wanted": sorted(wanted), "strict": strict, "tags": list(tags)}


def recheck(record_: Any, dep: Deployment, index: Index, tags: list[str]) -> tuple[str, str] | None:
    """The provider's second look: ``(reason code, problem)`` if ``dep`` must not serve this request.

    ``record_`` is the guard's record; the caller's binding is recomputed from it against ``index``,
    and ``tags`` (what the caller sent) must agree with it."""
    if dep.info_tags and not dep.tags:
        return "model-info-tags", (
            f"this deployment has tags {sorted(dep.info_tags)} under model_info and none in litellm_params, "
            "so LiteLLM routes any request to it. Fix: move tags from model_info into litellm_params")
    if not isinstance(record_, Mapping):
        return "no-record", "the proxy request carries no caller record from the guard"
    caller = Caller.from_record(record_)
    strict = record_.get("strict") is True
    wanted = set(tag_list(record_.get("wanted")))
    try:
        allowed, expected = decide(caller, tags, index, strict)
    except Refusal as exc:
        return exc.code, str(exc)
    if allowed:
        wanted |= expected
        outside = sorted((wanted | (dep.tags & index.departments)) - set(allowed))
        if outside:
            return "other-department", (f"the caller ({caller.name()}) is bound to {sorted(allowed)}, not "
                                        f"{outside}")
    elif not strict:
        wanted |= expected
    problem = _isolation.violation(wanted, dep.tags, index.departments, dep.group in index.default_groups)
    return ("isolation", problem) if problem else None
