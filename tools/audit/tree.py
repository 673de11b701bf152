"""Walking the project tree without descending into environments, caches or VCS folders."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

SKIPPED = {".git", ".venv", "venv", "node_modules", "build", "dist", "__pycache__",
           ".mypy_cache", ".ruff_cache", ".pytest_cache"}


def files(root: Path, suffix: str = "", skip: frozenset[str] = frozenset()) -> Iterator[Path]:
    """Files under `root` ending with `suffix`, sorted, outside SKIPPED and `skip` folders."""
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED and d not in skip
                         and not d.endswith(".egg-info"))
        for name in sorted(names):
            if name.endswith(suffix):
                yield Path(folder) / name
