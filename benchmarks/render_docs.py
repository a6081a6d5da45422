"""Copy the committed benchmark results into the docs pages that embed them.

A page embeds ``benchmarks/results/<name>.txt`` between two marker lines::

    <!-- results:<name> -->
    ...the file's content, verbatim...
    <!-- /results -->

``python benchmarks/render_docs.py`` rewrites every such block in README.md and docs/*.md from its file;
``--check`` changes nothing and exits 1 if a block differs from its file (tests/test_docs.py checks the
same). A result file that no page embeds is listed, not an error: embed it when a page should quote it.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
BLOCK = re.compile(r"(<!-- results:(?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- /results -->)", re.S)


def pages() -> list[Path]:
    """Every page that may embed results: the README and docs/*.md."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def results() -> dict[str, str]:
    """name -> content of each committed result file."""
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(RESULTS.glob("*.txt"))}


def blocks(text: str) -> list[tuple[str, str]]:
    """(name, embedded content) of each marked block, surrounding blank lines dropped."""
    return [(m["name"], m["body"].strip("\n") + "\n") for m in BLOCK.finditer(text)]


def render(text: str, files: dict[str, str]) -> str:
    """``text`` with each marked block replaced by its file; a marker naming no file raises KeyError."""
    def fill(m: re.Match[str]) -> str:
        if m["name"] not in files:
            raise KeyError(f"results:{m['name']}: no benchmarks/results/{m['name']}.txt")
        return f"{m[1]}\n{files[m['name']].strip(chr(10))}\n\n{m[4]}"
    return BLOCK.sub(fill, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a page is out of date")
    args = parser.parse_args(argv)
    files, stale, used = results(), [], set()
    for page in pages():
        text = page.read_text(encoding="utf-8")
        used |= {name for name, _ in blocks(text)}
        new = render(text, files)
        if new != text:
            stale.append(page.relative_to(ROOT))
            if not args.check:
                page.write_text(new, encoding="utf-8")
    for name in sorted(set(files) - used):
        print(f"note: benchmarks/results/{name}.txt is embedded by no page", file=sys.stderr)
    for page in stale:
        print(f"{'out of date' if args.check else 'rewrote'}: {page}", file=sys.stderr)
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
