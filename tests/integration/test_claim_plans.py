"""Every claim variant reads its queue index in order: no sort, no table scan, on each database.

A filesorted `SELECT … FOR UPDATE` locks every row it scans (MariaDB aborted under 16 claimers
that way), and on SQLite a sort reads the whole queue. The plans are read with 2,000 queued and
2,000 finished tasks (statistics gathered), so a planner that costs by size chooses as it would.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

import pytest

from handlers.claim import INDEXES, _candidates_sql
from tests.conftest import DIALECTS, fresh_database
from tests.support import rawdb

NOW = "2026-01-02 03:04:05.000000"
VARIANTS = [(column, descending, by_type, excluded)
            for column, descending, by_type in itertools.product(
                ("neg_priority", "attempts", None), (False, True), (True, False))
            for excluded in ((0,) if by_type else (0, 2))]
ANALYZE = {"sqlite": "ANALYZE", "mysql": "ANALYZE TABLE tasks", "postgresql": "ANALYZE tasks"}


@pytest.fixture(scope="module", params=DIALECTS)
def queued(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    with fresh_database(str(request.param), tmp_path_factory.mktemp("plans")) as database:
        yield _fill(database)


def _fill(database: Any) -> tuple[Any, list[int]]:
    with rawdb.raw_connection(database.url) as conn:
        cursor = conn.cursor()
        insert, _ = rawdb._statement(conn, "INSERT INTO task_types (name, param_schema, "
                                           "created_at, updated_at) VALUES (?, '{}', ?, ?)", [])
        for name in ("T.A", "T.B", "T.C"):
            cursor.execute(insert, (name, NOW, NOW))
        cursor.execute("SELECT id FROM task_types ORDER BY id")
        types = [row[0] for row in cursor.fetchall()]
        sql, _ = rawdb._statement(conn, (
            "INSERT INTO tasks (type_id, status, params, dedupe_key, dedupe_active, priority, "
            "attempts, run_after, created_at, updated_at) VALUES (?, ?, '{}', ?, ?, ?, ?, ?, ?, "
            "?)"), [])
        rows = [(types[n % 3], status, f"k{n}", f"k{n}" if status == "pending" else None,
                 n % 7, n % 3, NOW, NOW, NOW)
                for n, status in enumerate(["pending", "completed"] * 2000)]
        cursor.executemany(sql, rows)
        if database.dialect == "sqlite":
            conn.commit()
        cursor.execute(ANALYZE[database.dialect])
        if database.dialect == "mysql":
            cursor.fetchall()
        cursor.close()
    return database, types


def _plan(database, sql: str, params: list) -> list[str]:
    prefix = {"sqlite": "EXPLAIN QUERY PLAN ", "mysql": "EXPLAIN ",
              "postgresql": "EXPLAIN "}[database.dialect]
    rows = rawdb.fetchall(database.url, prefix + sql, params)
    if database.dialect == "sqlite":
        return [str(row[-1]) for row in rows]
    if database.dialect == "mysql":  # id, select_type, table, type, possible_keys, key, ...
        return [f"key={row[5]} extra={row[-1]}" for row in rows]
    return [str(row[0]) for row in rows]


@pytest.mark.parametrize(("column", "descending", "by_type", "excluded"), VARIANTS)
def test_the_claim_reads_its_index_in_order(queued, column, descending, by_type, excluded):
    database, types = queued
    sql = _candidates_sql(database.dialect, column, descending, by_type, excluded)
    now = datetime(2026, 1, 2, 3, 4, 5)
    params = ([types[0], now, 50] if by_type else [now, *types[1:1 + excluded], 50])
    plan = _plan(database, sql, params)
    text = " | ".join(plan)
    index = INDEXES[(column, by_type)]
    if database.dialect == "sqlite":
        assert any(f"USING INDEX {index}" in line for line in plan), text
        assert "TEMP B-TREE" not in text, text
    elif database.dialect == "mysql":
        assert f"key={index}" in text and "filesort" not in text.lower(), text
    else:
        assert "Sort" not in text and "Seq Scan" not in text, text
        assert "LockRows" in text and "Index" in text, text
