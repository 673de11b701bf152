"""Yoyo migrations: the dialect-aware step helper and the `taskmanager migrate` commands."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from yoyo import get_backend, read_migrations, step

from engine.config import Config
from engine.db import yoyo_url

LOCK_TIMEOUT_SECONDS = 60


def dialect_of(raw_connection: Any) -> str:
    """`sqlite` or `mysql`, from the DB-API connection yoyo hands to a step."""
    return "sqlite" if type(raw_connection).__module__.startswith("sqlite3") else "mysql"


def _runner(statements: dict[str, Sequence[str]]) -> Any:
    def run(raw_connection: Any) -> None:
        cursor = raw_connection.cursor()
        for sql in statements[dialect_of(raw_connection)]:
            cursor.execute(sql)
        cursor.close()

    return run


def dialect_step(*, sqlite: Sequence[str], mysql: Sequence[str],
                 rollback_sqlite: Sequence[str] = (), rollback_mysql: Sequence[str] = ()) -> Any:
    """A yoyo step whose SQL differs by dialect (each a list of single statements)."""
    return step(_runner({"sqlite": sqlite, "mysql": mysql}),
                _runner({"sqlite": rollback_sqlite, "mysql": rollback_mysql}))


class Migrator:
    """The project's migrations against one database, always under yoyo's lock."""

    def __init__(self, config: Config) -> None:
        self.backend = get_backend(yoyo_url(config.database_url))
        self.migrations = read_migrations(config.migrations_dir)
        self.directory = Path(config.migrations_dir)

    def pending(self) -> list[Any]:
        return list(self.backend.to_apply(self.migrations))

    def applied(self) -> list[Any]:
        return [m for m in self.migrations if self.backend.is_applied(m)]

    def apply(self) -> list[str]:
        with self.backend.lock(LOCK_TIMEOUT_SECONDS):
            todo = self.backend.to_apply(self.migrations)
            self.backend.apply_migrations(todo)
        return [m.id for m in todo]

    def rollback(self, count: int | None = 1) -> list[str]:
        with self.backend.lock(LOCK_TIMEOUT_SECONDS):
            todo = self.backend.to_rollback(self.migrations)
            if count is not None:
                todo = todo[:count]
            self.backend.rollback_migrations(todo)
        return [m.id for m in todo]

    def reapply(self, count: int = 1) -> list[str]:
        rolled_back = self.rollback(count)
        self.apply()
        return rolled_back

    def new(self, message: str) -> Path:
        number = len(list(self.directory.glob("[0-9]*.py"))) + 1
        slug = "_".join(message.lower().split())[:40] or "change"
        path = self.directory / f"{number:04d}_{slug}.py"
        stamp = datetime.now(UTC).strftime("%Y-%m-%d")
        previous = sorted(p.stem for p in self.directory.glob("[0-9]*.py"))
        depends = f'__depends__ = {{"{previous[-1]}"}}\n' if previous else ""
        path.write_text(
            f'"""{message} ({stamp})."""\n\nfrom engine.migrate import dialect_step\n\n'
            f"{depends}\nsteps = [\n    dialect_step(\n        sqlite=[],\n        mysql=[],\n"
            f"        rollback_sqlite=[],\n        rollback_mysql=[],\n    ),\n]\n")
        return path


def run_command(config: Config, action: str, count: int | None, message: str) -> int:
    """Carry out `taskmanager migrate ACTION`; return the exit code."""
    migrator = Migrator(config)
    if action == "apply":
        done = migrator.apply()
        print(f"applied {len(done)} migration(s)" + "".join(f"\n  {m}" for m in done))
    elif action == "rollback":
        done = migrator.rollback(count)
        print(f"rolled back {len(done)} migration(s)" + "".join(f"\n  {m}" for m in done))
    elif action == "reapply":
        done = migrator.reapply(count or 1)
        print("reapplied " + ", ".join(done))
    elif action == "new":
        print(migrator.new(message))
    elif action == "list":
        for migration in migrator.migrations:
            state = "applied" if migrator.backend.is_applied(migration) else "pending"
            print(f"{state:8} {migration.id}")
    elif action == "status":
        pending = migrator.pending()
        print(f"{len(migrator.applied())} applied, {len(pending)} pending")
        for migration in pending:
            print(f"  pending {migration.id}")
        return 1 if pending else 0
    else:  # pragma: no cover (argparse restricts the choices)
        print(f"unknown action {action}", file=sys.stderr)
        return 2
    return 0
