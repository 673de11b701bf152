"""Terminal output: aligned tables, JSON for scripts, ages and progress bars."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, default=str, ensure_ascii=False)


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str],
          headers: Sequence[str] | None = None) -> str:
    """Rows as left-aligned columns under upper-case headers."""
    titles = [h.upper() for h in (headers or columns)]
    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(t), *(len(r[i]) for r in cells)]) for i, t in enumerate(titles)]
    lines = [titles, *cells]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip()
                     for line in lines)


def age(seconds: float | None) -> str:
    """3s, 4m12s, 2h03m, 1d02h."""
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def bar(percent: int, width: int) -> str:
    """`[#######.............]` for `percent` of 100."""
    inner = max(1, width - 2)
    filled = round(inner * max(0, min(100, percent)) / 100)
    return "[" + "#" * filled + "." * (inner - filled) + "]"
