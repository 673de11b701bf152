"""Yoyo migrations: the dialect-aware step helper and the `taskmanager migrate` commands."""

from __future__ import annotations

import inspect
import runpy
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from yoyo import get_backend, read_migrations, step

from engine import baseline, migration_sql
from engine.checksums import Ledger, backend_dialect, companion_path
from engine.config import Config
from engine.db import use_sqlite_types, yoyo_url

LOCK_TIMEOUT_SECONDS = 60


class MigrationError(Exception):
    """Migrating would be unsafe: an applied migration changed, or the database is foreign."""


def dialect_of(raw_connection: Any) -> str:
    """`sqlite`, `mysql` or `postgresql`, from the DB-API connection yoyo hands to a step."""
    module = type(raw_connection).__module__
    if module.startswith("sqlite3"):
        return "sqlite"
    return "postgresql" if module.startswith("psycopg") else "mysql"


def _runner(statements: dict[str, Sequence[str] | None]) -> Any:
    def run(raw_connection: Any) -> None:
        dialect = dialect_of(raw_connection)
        todo = statements[dialect]
        if todo is None:
            raise MigrationError(f"this migration has no {dialect} statements (dialect_step "
                                 f"without `{dialect}=`)")
        cursor = raw_connection.cursor()
        for sql in todo:
            cursor.execute(sql)
        cursor.close()

    run.statements = statements  # type: ignore[attr-defined]  # read by `apply --dry-run`
    return run


def dialect_step(*, sqlite: Sequence[str], mysql: Sequence[str],
                 postgresql: Sequence[str] | None = None,
                 rollback_sqlite: Sequence[str] = (), rollback_mysql: Sequence[str] = (),
                 rollback_postgresql: Sequence[str] | None = None) -> Any:
    """A yoyo step whose SQL differs by dialect (each a list of single statements).

    Without `postgresql`, the statements come from the migration's companion file (see
    `checksums.COMPANIONS`): its `STEPS`, one `(apply, rollback)` pair per dialect_step, in
    order. With neither, the step refuses to run on PostgreSQL (rather than skip its change).
    """
    if postgresql is None:
        caller = inspect.currentframe()
        module = caller.f_back.f_globals if caller and caller.f_back else {}
        postgresql, rollback_postgresql = _companion_step(module)
    rollback_pg = rollback_postgresql if postgresql is None or rollback_postgresql else ()
    return step(_runner({"sqlite": sqlite, "mysql": mysql, "postgresql": postgresql}),
                _runner({"sqlite": rollback_sqlite, "mysql": rollback_mysql,
                         "postgresql": rollback_pg}))


def _companion_step(module: dict[str, Any]) -> tuple[Any, Any]:
    """The next `(apply, rollback)` PostgreSQL pair of the migration module now loading."""
    path = companion_path(module.get("__file__", ""))
    if not module.get("__file__") or not path.is_file():
        return None, None
    index = module.get("_postgresql_steps", 0)
    module["_postgresql_steps"] = index + 1
    steps = runpy.run_path(str(path))["STEPS"]
    return steps[index] if index < len(steps) else (None, None)


def postgres_types(sql: str) -> str:
    """Column text shared with MySQL/SQLite in PostgreSQL's types (booleans are SMALLINT 0/1)."""
    return sql.replace("DATETIME(6)", "TIMESTAMP(6)").replace("BOOLEAN", "SMALLINT")


# PostgreSQL's column default for "now": UTC, the naive form every timestamp is stored in.
POSTGRES_NOW = "(now() AT TIME ZONE 'UTC')"


class Migrator:
    """The project's migrations against one database, always under yoyo's lock."""

    def __init__(self, config: Config) -> None:
        self.backend = get_backend(yoyo_url(config.database_url))
        self.migrations = read_migrations(config.migrations_dir)
        self.directory = Path(config.migrations_dir)
        self.ledger = Ledger(self.backend, self.directory)
        self.dialect = backend_dialect(self.backend)

    def close(self) -> None:
        self.backend.connection.close()
        use_sqlite_types()  # yoyo replaced the process's datetime adapter (see there)

    def known(self) -> dict[str, Any]:
        """Every migration file by id: ours and the adoption (baseline) ones."""
        return {m.id: m for m in [*self.migrations, *baseline.read_adoption(self.directory)]}

    def validate(self) -> list[Any]:
        """Applied migrations edited or missing since they ran (empty when all is well)."""
        return self.ledger.check(self.known())[0]

    def baseline(self) -> list[str]:
        with self.backend.lock(LOCK_TIMEOUT_SECONDS):
            return baseline.run(self)

    def pending(self) -> list[Any]:
        return list(self.backend.to_apply(self.migrations))

    def applied(self) -> list[Any]:
        return [m for m in self.migrations if self.backend.is_applied(m)]

    def apply(self) -> list[str]:
        with self.backend.lock(LOCK_TIMEOUT_SECONDS):
            problems, unrecorded = self.ledger.check(self.known())
            if problems:
                raise MigrationError("\n".join(map(str, problems)))
            baseline.check_not_foreign(self.backend, self.dialect, self.applied())
            todo = self.backend.to_apply(self.migrations)
            self.backend.apply_migrations(todo)
            known = self.known()
            self.ledger.record([*todo, *(known[i] for i in unrecorded)])
        return [m.id for m in todo]

    def rollback(self, count: int | None = 1) -> list[str]:
        with self.backend.lock(LOCK_TIMEOUT_SECONDS):
            # NOTE: as apply: with an applied migration edited or missing, "the last applied"
            # is not what the files say, and rolling back by them undoes the wrong one.
            problems = self.ledger.check(self.known())[0]
            if problems:
                raise MigrationError("\n".join(map(str, problems)))
            todo = self.backend.to_rollback(self.migrations)
            if count is not None:
                todo = todo[:count]
            self.backend.rollback_migrations(todo)
            self.ledger.forget(m.id for m in todo)
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
            f"        postgresql=[],\n        rollback_sqlite=[],\n        rollback_mysql=[],\n"
            f"        rollback_postgresql=[],\n    ),\n]\n")
        return path


def _status(migrator: Migrator) -> int:
    """Every migration with its state; exit 1 when any is pending, modified or missing."""
    problems, _ = migrator.ledger.check(migrator.known())
    by_id = {p.migration_id: p for p in problems}
    pending = {m.id for m in migrator.pending()}
    lines = [f"  {'pending' if m.id in pending else 'applied':8} {m.id}"
             for m in migrator.migrations if m.id not in by_id]
    lines += [f"  {p}" for p in problems]
    modified = sum(p.kind == "modified" for p in problems)
    print(f"{len(migrator.migrations) - len(pending) - modified} applied, {len(pending)} pending, "
          f"{modified} modified, {len(problems) - modified} missing")
    print("\n".join(lines))
    return 1 if pending or problems else 0


def _validate(migrator: Migrator) -> int:
    problems = migrator.validate()
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print("migrate validate: applied migrations no longer match their files; restore "
              "them and put the change in a new migration", file=sys.stderr)
        return 1
    print(f"migrate validate: {len(migrator.applied())} applied migration(s) match their files")
    return 0


def run_command(config: Config, action: str, count: int | None, message: str,
                dry_run: bool = False) -> int:
    """Carry out `taskmanager migrate ACTION`; return the exit code."""
    migrator = Migrator(config)
    try:
        return _run(migrator, action, count, message, dry_run)
    except (MigrationError, baseline.BaselineError) as exc:
        print(f"migrate {action} refused:\n{exc}", file=sys.stderr)
        return 1 if isinstance(exc, MigrationError) else 2
    finally:
        migrator.close()


def _run(migrator: Migrator, action: str, count: int | None, message: str,
         dry_run: bool) -> int:
    if action == "apply" and dry_run:
        print(migration_sql.render(list(migrator.pending()), migrator.dialect), end="")
    elif action == "apply":
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
        return _status(migrator)
    elif action == "validate":
        return _validate(migrator)
    elif action == "baseline":
        done = migrator.baseline()
        print(f"adopted the database: ran {len(done)} migration(s)"
              + "".join(f"\n  {m}" for m in done)
              + "\nnext: `taskmanager migrate apply` (newer migrations), `taskmanager seed`")
    else:  # pragma: no cover (argparse restricts the choices)
        print(f"unknown action {action}", file=sys.stderr)
        return 2
    return 0
