"""The SQL a yoyo migration would run on one dialect, for `migrate apply --dry-run`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def _leaves(step: Any) -> Iterator[Any]:
    """The plain steps inside yoyo's transaction wrappers and step groups."""
    inner = getattr(step, "step", None)
    if inner is not None:
        yield from _leaves(inner)
    elif hasattr(step, "steps"):
        for item in step.steps:
            yield from _leaves(item)
    else:
        yield step


def statements(migration: Any, dialect: str) -> list[str]:
    """Each statement the migration's apply steps run on `dialect`, in order.

    Steps written with `dialect_step` list their SQL per dialect; a plain `step("...")` is its
    SQL; any other Python step is shown as a comment, since its SQL exists only when it runs.
    """
    migration.load()
    out: list[str] = []
    for wrapper in migration.steps:
        for leaf in _leaves(wrapper):
            apply = leaf._apply  # yoyo keeps a step's forward action here
            if not apply:
                continue
            if isinstance(apply, str):
                out.append(apply.strip())
            elif hasattr(apply, "statements") and apply.statements[dialect] is None:
                out.append(f"-- no {dialect} statements: this step refuses to run here")
            elif hasattr(apply, "statements"):
                out.extend(sql.strip() for sql in apply.statements[dialect])
            else:
                name = getattr(apply, "__qualname__", repr(apply))
                out.append(f"-- Python step {name}(): its SQL is decided when it runs")
    return out


def render(migrations: list[Any], dialect: str) -> str:
    """A script of every pending migration's statements, each ended with `;`."""
    if not migrations:
        return "-- nothing to apply\n"
    parts = []
    for migration in migrations:
        parts.append(f"-- {migration.id} ({dialect})")
        for sql in statements(migration, dialect):
            parts.append(sql if sql.startswith("--") else sql + ";")
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"
