"""`taskmanager migrate baseline`: adopt a database another system created, keeping its rows.

An adoption is a set of yoyo migrations in `<migrations>/baseline/`, a folder a normal `apply`
never reads. Two kinds, told apart by their `__depends__`:

- *set-aside* migrations depend on none of our migrations: they check that the database holds
  the old schema and rename the old tables out of the way (`tasks` -> `legacy_tasks`, ...);
- *import* migrations depend on the migrations of ours whose schema they fill, e.g.
  `__depends__ = {"0003_task_progress", "0010_php_set_aside"}`, and copy the old rows in.

`baseline` runs the set-aside migrations, then our migrations up to the ones the imports depend
on, exactly as a fresh install runs them, then the imports. So the schema is a fresh install's
by construction, not by a hand-kept copy of it (plus whatever the adoption keeps aside, such as
`legacy_api_endpoints`); every migration that ran is recorded by yoyo and hashed like any other.
Migrations newer than the imports' targets stay pending, and `migrate apply` runs them on the
adopted rows as on any other database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yoyo import ancestors, read_migrations
from yoyo.migrations import MigrationList

FOLDER = "baseline"
# NOTE: our first migration creates this table, so finding it with no migration applied means
# another system made this database; applying 0001 there would fail half-way.
MARKER_TABLE = "api_endpoints"
LIST_TABLES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'",
    "mysql": "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()",
    "postgresql": ("SELECT table_name FROM information_schema.tables "
                   "WHERE table_schema = current_schema()"),
}


class BaselineError(Exception):
    """The database cannot be adopted (or must be, before anything else runs)."""


def read_adoption(directory: Path) -> MigrationList:
    folder = directory / FOLDER
    return read_migrations(str(folder)) if folder.is_dir() else MigrationList()


def plan(ours: MigrationList, adoption: MigrationList) -> tuple[list[Any], list[Any], list[Any]]:
    """(set-aside, our migrations the imports need, imports), each in the order to run."""
    our_ids = {m.id for m in ours}
    set_aside = [m for m in adoption if not any(d.id in our_ids for d in m.depends)]
    imports = [m for m in adoption if m not in set_aside]
    needed = {a.id for m in imports for a in ancestors(m, ours) if a.id in our_ids}
    target = [m for m in ours if m.id in needed]
    return set_aside, target, imports


def table_names(backend: Any, dialect: str) -> set[str]:
    return {row[0] for row in backend.execute(LIST_TABLES[dialect]).fetchall()}


def check_not_foreign(backend: Any, dialect: str, applied: list[Any]) -> None:
    """Refuse to apply our first migration over another system's tables."""
    if not applied and MARKER_TABLE in table_names(backend, dialect):
        raise BaselineError(
            f"this database already has an {MARKER_TABLE} table but no migration of ours is "
            "applied: it was made by another system (the PHP TaskManager?). Adopt it with "
            "`taskmanager migrate baseline`, which keeps its rows.")


def run(migrator: Any) -> list[str]:
    """Adopt the database; return the ids of the migrations that ran."""
    if migrator.applied():
        raise BaselineError(f"{len(migrator.applied())} migration(s) are already applied: "
                            "this database is managed already, there is nothing to adopt.")
    if migrator.dialect == "postgresql":
        raise BaselineError("the PHP TaskManager ran on MySQL/MariaDB only: there is no legacy "
                            "PostgreSQL schema to adopt. Start with `taskmanager migrate apply`, "
                            "or adopt the MySQL database and copy its rows over.")
    adoption = read_adoption(migrator.directory)
    if not adoption:
        raise BaselineError(f"no adoption migrations in {migrator.directory / FOLDER}")
    done: list[str] = []
    for group in plan(migrator.migrations, adoption):
        for migration in migrator.backend.to_apply(MigrationList(group)):
            try:
                migrator.backend.apply_one(migration)
            except Exception as exc:
                raise BaselineError(f"{migration.id} failed, so it stopped there: {exc}"
                                    + "".join(f"\n(already ran: {m})" for m in done)) from exc
            migrator.ledger.record([migration])
            done.append(migration.id)
    return done
