"""Which optional parts a command needs, and a clear message when they are missing.

``litellm-xacct demo`` needs the ``demo`` extra (a LiteLLM proxy, moto's STS server, the openai client);
``litellm_xacct.testing`` needs the ``testing`` extra (plus ``proxy`` for :class:`ProxyProcess`). The lists
are read from the installed package metadata (``pyproject.toml``'s extras), never repeated here.
"""

from __future__ import annotations

import re
from importlib import metadata

DIST = "litellm-xacct"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def install_hint(extra: str) -> str:
    return f'pip install "{DIST}[{extra}]"'


class MissingExtra(ModuleNotFoundError):
    """A command's optional dependencies are not installed; ``str()`` names them and the pip command."""

    def __init__(self, what: str, extra: str, missing: list[str]) -> None:
        self.extra = extra
        self.missing = missing
        super().__init__(f"{what} needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not "
                         f"installed. Install them with: {install_hint(extra)}")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(dist: str, extra: str | None) -> list[tuple[str, list[str]]]:
    """(name, extras) of ``dist``'s requirements for ``extra`` (None: the unconditional ones)."""
    found = []
    for line in metadata.requires(dist) or []:
        spec, _, marker = line.partition(";")
        if not _applies(marker.strip(), extra):
            continue
        match = _NAME.match(spec)
        if match:
            extras = [e.strip() for e in (match.group(2) or "").split(",") if e.strip()]
            found.append((match.group(1), extras))
    return found


def _applies(marker: str, extra: str | None) -> bool:
    """Whether a requirement with this environment marker is needed for ``extra`` here."""
    wanted = _EXTRA_MARKER.findall(marker)
    if (extra is None and wanted) or (extra is not None and extra not in wanted):
        return False
    try:
        from packaging.markers import Marker
    except ImportError:  # no packaging: a platform-conditional requirement is not reported as missing
        return not re.search(r"platform|python_|implementation|os_name", marker)
    return not marker or bool(Marker(marker).evaluate({"extra": extra or ""}))


def missing(extra: str, dist: str = DIST) -> list[str]:
    """The distributions ``dist[extra]`` needs that are not installed (following nested extras such as
    ``litellm[proxy]`` and ``moto[server]``). Empty when ``dist`` itself is not installed (a source
    checkout): then the command's own imports decide."""
    try:
        metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        return []
    absent: list[str] = []
    seen: set[tuple[str, str | None]] = set()
    todo: list[tuple[str, str | None]] = [(dist, extra)]
    while todo:
        name, wanted = todo.pop()
        if (_norm(name), wanted) in seen:
            continue
        seen.add((_norm(name), wanted))
        for req, extras in _requirements(name, wanted):
            try:
                metadata.distribution(req)
            except metadata.PackageNotFoundError:
                if req not in absent:
                    absent.append(req)
                continue
            todo += [(req, e) for e in extras]
    return absent


def require(extra: str, what: str) -> None:
    """Raise :class:`MissingExtra` if ``extra``'s requirements are not all installed."""
    absent = missing(extra)
    if absent:
        raise MissingExtra(what, extra, absent)
