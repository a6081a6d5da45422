"""What a migration produces: the report's :class:`Note` lines, the :class:`DefaultProposal` for each model
group without a ``default`` deployment, the :class:`Migration` result, and :class:`MigrateError`."""

from __future__ import annotations

from dataclasses import dataclass, field


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
