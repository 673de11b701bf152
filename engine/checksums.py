"""Content hashes of applied migrations: yoyo keeps none, so an edited or lost file goes unseen.

Each applied migration's sha256 (of the file's bytes) is kept in `_migration_hashes`, next to
yoyo's own tables. `check` compares them with the files, as Flyway's `validate` does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.db import dialect_of_url, utcnow

TABLE = "_migration_hashes"
CREATE_TABLE = {
    "sqlite": f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        migration_id VARCHAR(255) NOT NULL PRIMARY KEY,
        path VARCHAR(1000) NOT NULL,
        sha256 CHAR(64) NOT NULL,
        recorded_at DATETIME(6) NOT NULL)""",
    "mysql": f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        migration_id VARCHAR(255) NOT NULL PRIMARY KEY,
        path VARCHAR(1000) NOT NULL,
        sha256 CHAR(64) NOT NULL,
        recorded_at DATETIME(6) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    "postgresql": f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        migration_id VARCHAR(255) NOT NULL PRIMARY KEY,
        path VARCHAR(1000) NOT NULL,
        sha256 CHAR(64) NOT NULL,
        recorded_at TIMESTAMP(6) NOT NULL)""",
}
SELECT_HASHES = f"SELECT migration_id, path, sha256 FROM {TABLE}"
DELETE_HASH = f"DELETE FROM {TABLE} WHERE migration_id = :migration_id"
INSERT_HASH = (f"INSERT INTO {TABLE} (migration_id, path, sha256, recorded_at) "
               "VALUES (:migration_id, :path, :sha256, :recorded_at)")


# Migrations written before PostgreSQL was supported keep their bytes (and so the hashes that
# existing databases recorded); their PostgreSQL statements live in a file of the same name in
# this folder beside them (engine/migrate.py `dialect_step`).
COMPANIONS = "postgresql"


def companion_path(path: str | Path) -> Path:
    """Where the PostgreSQL statements of the migration at `path` are kept, if apart."""
    return Path(path).parent / COMPANIONS / Path(path).name


def file_hash(path: str | Path, dialect: str = "") -> str:
    """sha256 of the migration file; on PostgreSQL, of it and its companion file together."""
    data = Path(path).read_bytes()
    companion = companion_path(path)
    if dialect == "postgresql" and companion.is_file():
        data += companion.read_bytes()
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Problem:
    """An applied migration whose file no longer matches what ran."""

    migration_id: str
    kind: str  # "modified" or "missing"
    path: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind:8} {self.migration_id} ({self.path}): {self.detail}"


def backend_dialect(backend: Any) -> str:
    """The dialect of a yoyo backend (its URL is `yoyo_url`'s)."""
    return dialect_of_url(f"{backend.uri.scheme}://")


class Ledger:
    """The `_migration_hashes` table, read and written through a yoyo backend."""

    def __init__(self, backend: Any, root: Path) -> None:
        self.backend = backend
        self.root = root

    def ensure_table(self) -> None:
        with self.backend.transaction():
            self.backend.execute(CREATE_TABLE[backend_dialect(self.backend)])

    def recorded(self) -> dict[str, tuple[str, str]]:
        """migration id -> (path relative to the migrations folder, sha256)."""
        self.ensure_table()
        rows = self.backend.execute(SELECT_HASHES).fetchall()
        return {row[0]: (row[1], row[2]) for row in rows}

    def applied_ids(self) -> list[str]:
        """Every migration id yoyo has recorded as applied, including ones with no file now."""
        self.backend.get_applied_migration_hashes()  # creates yoyo's tables when missing
        table = self.backend.migration_table
        return [row[0] for row in self.backend.execute(
            f"SELECT migration_id FROM {table} ORDER BY applied_at_utc").fetchall()]

    def _hash(self, path: str) -> str:
        return file_hash(path, backend_dialect(self.backend))

    def _relative(self, path: str) -> str:
        try:
            return Path(path).resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return Path(path).as_posix()

    def record(self, migrations: Iterable[Any]) -> None:
        """Store the current hash of each migration (just applied, or applied before hashes)."""
        self.ensure_table()
        with self.backend.transaction():
            for migration in migrations:
                self.backend.execute(DELETE_HASH, {"migration_id": migration.id})
                self.backend.execute(INSERT_HASH, {
                    "migration_id": migration.id, "path": self._relative(migration.path),
                    "sha256": self._hash(migration.path), "recorded_at": utcnow()})

    def forget(self, migration_ids: Iterable[str]) -> None:
        self.ensure_table()
        with self.backend.transaction():
            for migration_id in migration_ids:
                self.backend.execute(DELETE_HASH, {"migration_id": migration_id})

    def check(self, known: dict[str, Any]) -> tuple[list[Problem], list[str]]:
        """(problems, applied ids that have no hash yet), given the migrations found on disk."""
        recorded = self.recorded()
        problems, unrecorded = [], []
        for migration_id in self.applied_ids():
            entry = recorded.get(migration_id)
            migration = known.get(migration_id)
            if migration is None or not Path(migration.path).is_file():
                path = entry[0] if entry else "?"
                problems.append(Problem(migration_id, "missing", path,
                                        "applied to this database, but the file is gone"))
            elif entry is None:
                unrecorded.append(migration_id)
            elif self._hash(migration.path) != entry[1]:
                problems.append(Problem(
                    migration_id, "modified", self._relative(migration.path),
                    f"edited after it was applied (sha256 {entry[1][:12]}… when applied, "
                    f"{self._hash(migration.path)[:12]}… now)"))
        return problems, unrecorded
