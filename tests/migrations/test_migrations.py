"""Migrations apply, roll back completely and apply again to the same schema, on every DB."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ROOT, run_cli
from tests.support import rawdb

MIGRATIONS = sorted(p.stem for p in (ROOT / "migrations").glob("[0-9]*.py"))
ENGINE_TABLES = {"api_endpoints", "api_endpoints_state", "api_keys"}
ENGINE_TRIGGERS = {
    "sqlite": {"api_endpoints_after_update", "api_endpoints_after_insert",
               "api_endpoints_after_delete"},
    "mysql": {"api_endpoints_before_update", "api_endpoints_after_update",
              "api_endpoints_after_insert", "api_endpoints_after_delete"},
    "postgresql": {"api_endpoints_before_update", "api_endpoints_after_update",
                   "api_endpoints_after_insert", "api_endpoints_after_delete"},
}
POSTGRES_SCHEMA = {
    "columns": "SELECT table_name, column_name, data_type, is_nullable, column_default, "
               "generation_expression FROM information_schema.columns "
               "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes "
               "WHERE schemaname = 'public' ORDER BY tablename, indexname",
    "triggers": "SELECT trigger_name, event_manipulation, action_timing, event_object_table, "
                "action_statement FROM information_schema.triggers "
                "WHERE trigger_schema = 'public' ORDER BY trigger_name, event_manipulation",
    "functions": "SELECT p.proname, p.prosrc FROM pg_proc p JOIN pg_namespace n "
                 "ON n.oid = p.pronamespace WHERE n.nspname = 'public' ORDER BY p.proname",
    "views": "SELECT viewname, definition FROM pg_views WHERE schemaname = 'public' "
             "ORDER BY viewname",
}


def bookkeeping(name: str) -> bool:
    """yoyo's tables and the migration hash ledger, which outlive a full rollback."""
    return "yoyo" in name or name.startswith("_")


def schema(url: str, dialect: str) -> dict[str, list[tuple]]:
    """Tables, columns, indexes and triggers, without yoyo's own bookkeeping."""
    if dialect == "sqlite":
        rows = rawdb.fetchall(url, "SELECT type, name, tbl_name, sql FROM sqlite_master "
                                   "WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
        return {"objects": [r for r in rows if not bookkeeping(r[2])]}
    if dialect == "postgresql":
        return {key: [r for r in rawdb.fetchall(url, sql) if not bookkeeping(r[0])]
                for key, sql in POSTGRES_SCHEMA.items()}
    name = url.rsplit("/", 1)[1]
    query = {
        "columns": "SELECT table_name, column_name, column_type, is_nullable, column_default "
                   "FROM information_schema.columns WHERE table_schema = ? "
                   "ORDER BY table_name, ordinal_position",
        "indexes": "SELECT table_name, index_name, non_unique, seq_in_index, column_name "
                   "FROM information_schema.statistics WHERE table_schema = ? "
                   "ORDER BY table_name, index_name, seq_in_index",
        "triggers": "SELECT trigger_name, event_manipulation, action_timing, "
                    "event_object_table, action_statement FROM information_schema.triggers "
                    "WHERE trigger_schema = ? ORDER BY trigger_name",
    }
    return {key: [r for r in rawdb.fetchall(url, sql, [name]) if not bookkeeping(r[0])]
            for key, sql in query.items()}


def tables(url: str, dialect: str) -> set[str]:
    if dialect == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        return {r[0] for r in rawdb.fetchall(url, sql)}
    if dialect == "postgresql":
        return {r[0] for r in rawdb.fetchall(
            url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    return {r[0] for r in rawdb.fetchall(url, "SHOW TABLES")}


def triggers(url: str, dialect: str) -> set[str]:
    if dialect == "sqlite":
        return {r[0] for r in rawdb.fetchall(
            url, "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    if dialect == "postgresql":
        return {r[0] for r in rawdb.fetchall(
            url, "SELECT trigger_name FROM information_schema.triggers")}
    return {r[0] for r in rawdb.fetchall(url, "SHOW TRIGGERS")}


def status(db) -> tuple[int, str]:
    result = run_cli(["migrate", "status"], db.env, check=False)
    return result.returncode, result.stdout


def states(text: str) -> dict[str, str]:
    """{migration id: state} from `migrate status` or `migrate list` output."""
    found = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) == 2 and words[1] in MIGRATIONS:
            found[words[1]] = words[0]
    return found


def listed(db) -> dict[str, str]:
    return states(run_cli(["migrate", "list"], db.env).stdout)


def test_apply_rollback_apply(empty_database):
    """status/list before and after; apply; roll back one; roll back all; apply again."""
    db, dialect = empty_database, empty_database.dialect
    code, out = status(db)
    assert code == 1, "status must exit 1 while migrations are pending"
    assert out.startswith(f"0 applied, {len(MIGRATIONS)} pending")
    assert states(out) == dict.fromkeys(MIGRATIONS, "pending")
    assert listed(db) == dict.fromkeys(MIGRATIONS, "pending")

    applied = run_cli(["migrate", "apply"], db.env).stdout
    assert f"applied {len(MIGRATIONS)} migration(s)" in applied
    code, out = status(db)
    assert code == 0, out
    assert out.startswith(f"{len(MIGRATIONS)} applied, 0 pending")
    assert states(out) == dict.fromkeys(MIGRATIONS, "applied")
    assert listed(db) == dict.fromkeys(MIGRATIONS, "applied")
    assert ENGINE_TABLES <= tables(db.url, dialect)
    assert ENGINE_TRIGGERS[dialect] <= triggers(db.url, dialect)
    assert rawdb.fetchval(db.url, "SELECT revision FROM api_endpoints_state WHERE id = 1") == 1
    first = schema(db.url, dialect)

    assert "applied 0 migration(s)" in run_cli(["migrate", "apply"], db.env).stdout

    out = run_cli(["migrate", "rollback"], db.env).stdout
    assert f"rolled back 1 migration(s)\n  {MIGRATIONS[-1]}" in out
    code, text = status(db)
    assert code == 1 and states(text) == {**dict.fromkeys(MIGRATIONS, "applied"),
                                          MIGRATIONS[-1]: "pending"}

    rolled = run_cli(["migrate", "rollback", "--all"], db.env).stdout
    assert f"rolled back {len(MIGRATIONS) - 1} migration(s)" in rolled
    left = {t for t in tables(db.url, dialect) if not bookkeeping(t)}
    assert not left, f"tables left after rolling back everything: {sorted(left)}"
    assert not triggers(db.url, dialect)
    assert status(db)[0] == 1

    run_cli(["migrate", "apply"], db.env)
    assert schema(db.url, dialect) == first
    assert status(db)[0] == 0


def test_sqlite_timestamps_match_the_engine_format():
    """SQLite stores datetimes as text: SQL defaults must write the engine's six digits.

    `strftime('%Y-%m-%d %H:%M:%f', 'now')` writes milliseconds ("12:00:00.123") while the
    engine writes microseconds ("12:00:00.123000"); the two compare unequal for the same
    instant, which breaks keyset cursors over ties. Write `%f000` instead.
    """
    offenders = []
    for path in sorted((ROOT / "migrations").glob("[0-9]*.py")):
        for match in re.finditer(r"strftime\(\s*'([^']*)'", path.read_text()):
            if "%f" in match.group(1) and "%f000" not in match.group(1):
                offenders.append(f"{Path(path).name}: strftime('{match.group(1)}', ...)")
    assert not offenders, ("SQLite timestamps with 3 fractional digits (use '%f000'):\n"
                           + "\n".join(offenders))


def test_timestamps_written_with_a_t_are_rewritten_in_the_engines_form(empty_database):
    """0008: SQLite text like `2026-01-02T03:04:05` becomes `2026-01-02 03:04:05`, the form every
    query compares with; MySQL's DATETIME holds the same instant either way."""
    db, fix = empty_database, "0008_sqlite_timestamp_form"
    run_cli(["migrate", "apply"], db.env)
    later = len(MIGRATIONS) - MIGRATIONS.index(fix)
    run_cli(["migrate", "rollback", "--count", str(later)], db.env)
    rawdb.execute(db.url, "INSERT INTO task_types (name, param_schema, created_at, updated_at) "
                          "VALUES (?, ?, ?, ?)",
                  ["T.Form", "{}", "2026-01-02T03:04:05.000006", "2026-01-02 03:04:05.000007"])
    run_cli(["migrate", "apply"], db.env)
    text = "TEXT" if db.dialect == "postgresql" else "CHAR"
    assert rawdb.fetchall(db.url, f"SELECT CAST(created_at AS {text}), CAST(updated_at AS {text}) "
                                  "FROM task_types WHERE name = ?", ["T.Form"]) == [
        ("2026-01-02 03:04:05.000006", "2026-01-02 03:04:05.000007")]
    assert rawdb.fetchval(db.url, "SELECT COUNT(*) FROM task_types WHERE created_at < ?",
                          ["2026-01-02 03:04:06"]) == 1
