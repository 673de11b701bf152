"""Content hashes of applied migrations (`migrate validate`/`status`) and `apply --dry-run`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from yoyo import read_migrations

from engine import migration_sql
from engine.migrate import run_command
from tests.conftest import ROOT, fresh_database, run_cli
from tests.conftest import TestDatabase as Db
from tests.support.rawdb import fetchall

# NOTE: yoyo's MySQL backend still passes PyMySQL the deprecated `db=` argument.
pytestmark = pytest.mark.filterwarnings("ignore:'db' is deprecated:DeprecationWarning")
NEW_MIGRATION = '''"""A test migration."""

from engine.migrate import dialect_step

__depends__ = {"0003_task_progress"}

steps = [dialect_step(sqlite=["CREATE TABLE zz_probe (id INTEGER PRIMARY KEY)"],
                      mysql=["CREATE TABLE zz_probe (id INT PRIMARY KEY) ENGINE=InnoDB"],
                      postgresql=["CREATE TABLE zz_probe (id INTEGER PRIMARY KEY)"],
                      rollback_postgresql=["DROP TABLE zz_probe"],
                      rollback_sqlite=["DROP TABLE zz_probe"],
                      rollback_mysql=["DROP TABLE zz_probe"])]
'''


def copy_migrations(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(ROOT / "migrations", target,
                    ignore=shutil.ignore_patterns("__pycache__"))
    return target


def migrate(db: Db, capsys: pytest.CaptureFixture[str], action: str, count: int | None = None,
            dry_run: bool = False) -> tuple[int, str, str]:
    """`taskmanager migrate ACTION` in this process (the real CLI is slower to start)."""
    code = run_command(db.config, action, count, "", dry_run)
    out, err = capsys.readouterr()
    return code, out, err


def test_editing_an_applied_migration_fails_validate(dialect: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    folder = copy_migrations(tmp_path)
    with fresh_database(dialect, tmp_path, seed=False, migrations_dir=str(folder)) as db:
        code, out, _ = migrate(db, capsys, "validate")
        assert code == 0 and "match their files" in out
        hashes = fetchall(db.url, "SELECT migration_id, path FROM _migration_hashes "
                                  "ORDER BY migration_id")
        assert ("0002_task_tables", "0002_task_tables.py") in hashes

        edited = folder / "0002_task_tables.py"
        edited.write_text(edited.read_text() + "\n# an innocent-looking edit\n")
        result = run_cli(["migrate", "validate"], db.env, check=False)
        assert result.returncode == 1
        assert "modified 0002_task_tables (0002_task_tables.py)" in result.stderr

        code, out, _ = migrate(db, capsys, "status")
        assert code == 1 and "1 modified, 0 missing" in out
        assert "modified 0002_task_tables" in out
        code, _, err = migrate(db, capsys, "apply")
        assert code == 1 and "refused" in err and "0002_task_tables" in err
        code, _, err = migrate(db, capsys, "rollback", 1)
        assert code == 1 and "refused" in err and "0002_task_tables" in err

        (folder / "0003_task_progress.py").rename(tmp_path / "moved.py")
        code, _, err = migrate(db, capsys, "validate")
        assert code == 1
        assert "missing  0003_task_progress (0003_task_progress.py)" in err
        # NOTE: by the files, the last applied migration would now be another one
        applied = fetchall(db.url, "SELECT COUNT(*) FROM _yoyo_migration")[0][0]
        code, _, err = migrate(db, capsys, "rollback", 1)
        assert code == 1 and "refused" in err and "0003_task_progress" in err
        assert fetchall(db.url, "SELECT COUNT(*) FROM _yoyo_migration")[0][0] == applied


def test_rollback_forgets_and_apply_records(dialect: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    folder = copy_migrations(tmp_path)
    (folder / "0099_probe.py").write_text(NEW_MIGRATION)
    with fresh_database(dialect, tmp_path, seed=False, migrations_dir=str(folder)) as db:
        assert migrate(db, capsys, "rollback", 1)[1].endswith("0099_probe\n")
        assert not fetchall(db.url, "SELECT 1 FROM _migration_hashes "
                                    "WHERE migration_id = '0099_probe'")
        (folder / "0099_probe.py").write_text(NEW_MIGRATION + "# edited while rolled back\n")
        code, out, _ = migrate(db, capsys, "status")
        assert code == 1 and "pending  0099_probe" in out
        assert migrate(db, capsys, "apply")[0] == 0
        assert migrate(db, capsys, "validate")[0] == 0


def test_dry_run_prints_the_dialects_sql_and_runs_nothing(
        dialect: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = copy_migrations(tmp_path)
    with fresh_database(dialect, tmp_path, migrate=False, migrations_dir=str(folder)) as db:
        code, out, _ = migrate(db, capsys, "apply", dry_run=True)
        assert code == 0 and "-- 0001_engine_tables" in out
        assert "CREATE TABLE api_endpoints" in out
        assert ("AUTO_INCREMENT" in out) is (dialect == "mysql")
        assert "0 applied" in migrate(db, capsys, "status")[1]

        run_cli(["migrate", "apply"], db.env)
        (folder / "0099_probe.py").write_text(NEW_MIGRATION)
        code, out, _ = migrate(db, capsys, "apply", dry_run=True)
        assert out.startswith(f"-- 0099_probe ({dialect})\n")
        expected = ("CREATE TABLE zz_probe (id INT PRIMARY KEY) ENGINE=InnoDB;"
                    if dialect == "mysql" else "CREATE TABLE zz_probe (id INTEGER PRIMARY KEY);")
        assert expected in out and "0001_engine_tables" not in out
        code, out, _ = migrate(db, capsys, "status")
        assert code == 1 and "pending  0099_probe" in out


def test_a_python_step_is_shown_as_a_comment(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "0001_py.py").write_text(
        "from yoyo import step\n\ndef fill(conn):\n    pass\n\n"
        "steps = [step(fill), step('SELECT 1')]\n")
    script = migration_sql.render(list(read_migrations(str(folder))), "sqlite")
    assert script == ("-- 0001_py (sqlite)\n-- Python step fill(): its SQL is decided when it "
                      "runs\nSELECT 1;\n")


def test_released_migrations_keep_their_bytes_and_postgresql_hashes_its_companion(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """PostgreSQL's statements of the migrations that predate it live beside them, so the files
    (and the hashes SQLite and MySQL databases recorded) stay as released; on PostgreSQL an
    edit of the companion is an edit of the migration."""
    for path in sorted((ROOT / "migrations").glob("[0-9]*.py")):
        text = path.read_text()
        companion = ROOT / "migrations" / "postgresql" / path.name
        if "dialect_step(" in text:  # a Python step (0008) decides per dialect itself
            assert "postgresql=" in text or companion.is_file(), f"{path.name}: no PostgreSQL"
    folder = copy_migrations(tmp_path)
    with fresh_database("postgresql", tmp_path, seed=False, migrations_dir=str(folder)) as db:
        assert migrate(db, capsys, "validate")[0] == 0
        edited = folder / "postgresql" / "0002_task_tables.py"
        edited.write_text(edited.read_text() + "\n# an innocent-looking edit\n")
        code, _, err = migrate(db, capsys, "validate")
        assert code == 1 and "modified 0002_task_tables" in err
