"""Round-trip YAML editing for ``litellm-xacct migrate``: load a user's config with ruamel.yaml, change a few
keys, and write it back with the user's comments, key order, quoting and indentation kept.

ruamel attaches a comment or blank line that *follows* a value to the last key before it. Adding a key after
that one would put the comment above the new key; :func:`append` and :func:`pop` move it so it stays where it
was in the file (e.g. the blank line between two ``model_list`` entries).
"""

from __future__ import annotations

import copy
import io
import re
from collections import Counter
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import ScalarString

__all__ = ["CommentedMap", "CommentedSeq", "adopt", "append", "dump", "eol_comment", "flow_seq", "load", "move", "pop",
           "same_style", "yaml_for"]

_KEY_LINE = re.compile(r"^( *)(?:- )?[^\s#-][^:#]*:\s*(?:#.*)?$")


def _mapping_indent(text: str) -> int:
    """The indentation step the file uses for nested mappings (2 unless it clearly uses another)."""
    steps: Counter[int] = Counter()
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    for line, following in zip(lines, lines[1:], strict=False):
        match = _KEY_LINE.match(line)
        if not match or following.lstrip().startswith("- "):
            continue
        base = len(match.group(1)) + (2 if line.lstrip().startswith("- ") else 0)
        step = len(following) - len(following.lstrip()) - base
        if step > 0:
            steps[step] += 1
    return steps.most_common(1)[0][0] if steps else 2


def _sequence_offset(text: str) -> tuple[int, int]:
    """(sequence indent, dash offset): ``key:\\n  - a`` is (4, 2), ``key:\\n- a`` is (2, 0)."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    for line, following in zip(lines, lines[1:], strict=False):
        if _KEY_LINE.match(line) and not line.lstrip().startswith("- ") and following.lstrip().startswith("- "):
            parent = len(line) - len(line.lstrip())
            dash = len(following) - len(following.lstrip())
            item = following.lstrip()[1:]
            content = dash + 1 + len(item) - len(item.lstrip())  # column of the item's first character
            if dash >= parent:
                return content - parent, dash - parent
    return 4, 2


def yaml_for(text: str) -> YAML:
    """A round-trip loader/dumper set up to write ``text`` back the way it was written."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap the user's long lines
    sequence, offset = _sequence_offset(text)
    yaml.indent(mapping=_mapping_indent(text), sequence=sequence, offset=offset)
    return yaml


def load(yaml: YAML, text: str) -> Any:
    return yaml.load(text)


def dump(yaml: YAML, doc: Any) -> str:
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def flow_seq(items: list[Any]) -> CommentedSeq:
    """A list written ``[a, b]`` (how tags are usually written)."""
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def same_style(old: Any, new: str) -> Any:
    """``new`` quoted the way ``old`` was (plain, 'single' or "double")."""
    return type(old)(new) if isinstance(old, ScalarString) else new


# -- comments that follow a value ------------------------------------------------------------------


def _tail(node: Any) -> tuple[Any, Any, int] | None:
    """(container, key, slot) of the comment entry that holds what follows ``node``'s last line."""
    if isinstance(node, CommentedMap) and node and not node.fa.flow_style():
        key = list(node.keys())[-1]
        deeper = _tail(node[key])
        return deeper if deeper else (node, key, 2)
    if isinstance(node, CommentedSeq) and node and not node.fa.flow_style():
        index = len(node) - 1
        deeper = _tail(node[index])
        return deeper if deeper else (node, index, 0)
    return None


def _take_following(node: Any) -> Any:
    """Detach the lines after ``node``'s last line (blank lines, comments about what comes next); keep an
    end-of-line comment where it is. Returns the detached token or None."""
    where = _tail(node)
    if where is None:
        return None
    container, key, slot = where
    entry = container.ca.items.get(key)
    token = entry[slot] if entry and len(entry) > slot else None
    if token is None or "\n" not in token.value:
        return None
    eol, _, rest = token.value.partition("\n")
    if not rest:
        return None
    moved = copy.copy(token)
    moved.value = rest
    token.value = eol + "\n"
    return moved


def _give_following(node: Any, token: Any) -> None:
    where = _tail(node)
    if token is None or where is None:
        return
    container, key, slot = where
    entry = container.ca.items.setdefault(key, [None, None, None, None] if slot == 2 else [None, None])
    while len(entry) <= slot:
        entry.append(None)
    if entry[slot] is None:
        token.value = "\n" + token.value  # the new owner's own line end comes first
        entry[slot] = token
    else:
        entry[slot].value = entry[slot].value.rstrip("\n") + "\n" + token.value


def eol_comment(mapping: CommentedMap, key: Any) -> str | None:
    """The ``# comment`` at the end of ``key``'s line (for a scalar or flow value), or None."""
    entry = mapping.ca.items.get(key)
    token = entry[2] if entry and len(entry) > 2 else None
    text = token.value.partition("\n")[0].strip() if token is not None else ""
    return text.lstrip("#").strip() if text.startswith("#") else None


def move(source: CommentedMap, key: str, target: CommentedMap, new_key: str | None = None) -> Any:
    """Move ``key`` (value and end-of-line comment) from the end of ``source``'s entries to the end of
    ``target``'s. Returns the value; lines detached when ``source`` empties are returned by :func:`pop`."""
    comment = eol_comment(source, key)
    value, following = pop(source, key)
    append(target, new_key or key, value)
    if comment:
        target.yaml_add_eol_comment("# " + comment, new_key or key)
    return value, following


def adopt(node: Any, following: Any) -> None:
    """Put lines detached by :func:`pop` after ``node``'s last line."""
    _give_following(node, following)


def append(mapping: CommentedMap, key: str, value: Any) -> None:
    """``mapping[key] = value`` at the end, keeping whatever followed the mapping's old last line after it."""
    following = _take_following(mapping) if mapping else None
    mapping[key] = value
    _give_following(mapping, following)


def pop(mapping: CommentedMap, key: str) -> tuple[Any, Any]:
    """Remove ``key``; if it was the last key, what followed it now follows the new last key. Returns (value,
    the detached following lines when the mapping is now empty: give them to its parent with :func:`adopt`)."""
    last = bool(mapping) and list(mapping.keys())[-1] == key
    following = _take_following(mapping) if last else None
    value = mapping.pop(key)
    mapping.ca.items.pop(key, None)
    if following is not None:
        if mapping:
            _give_following(mapping, following)
        else:
            return value, following
    return value, None
