"""``python -m litellm_xacct._compat [docs/releases.md]``: rewrite the release-differences page."""

from __future__ import annotations

import sys

from .facts import write

if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "docs/releases.md"
    print(f"{path}: {'rewritten' if write(path) else 'unchanged'}")
