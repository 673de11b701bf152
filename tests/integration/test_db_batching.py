"""Deferred writes and batched round trips keep a transaction's meaning, on every database."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import psycopg
import pymysql
import pytest

from engine.db import Connection

CREATE = "CREATE TABLE batching (id INTEGER PRIMARY KEY, note VARCHAR(100), at DATETIME(6))"
INSERT = "INSERT INTO batching (id, note, at) VALUES (?, ?, ?)"
VALUES = [0, -5, 2**63 - 1, None, True, 1.5, "", "it's \\ 100% \"odd\"\n\x1a", "ünï",
          datetime(2026, 12, 1, 21, 0, 0), datetime(2026, 12, 1, 21, 0, 0, 5),
          datetime(5, 1, 2, 3, 4, 5, 123456)]


@pytest.fixture
def db(empty_database):
    create = CREATE.replace("DATETIME", "TIMESTAMP") if empty_database.dialect == "postgresql" \
        else CREATE
    empty_database.db.run(lambda conn: conn.execute(create))
    return empty_database.db


def test_deferred_writes_are_seen_by_later_reads_and_committed(db):
    def work(conn: Connection) -> list:
        conn.defer(INSERT, [1, "one", datetime(2026, 1, 1)])
        conn.defer_many(INSERT, [(2, "two", None), (3, "three", None)])
        seen = conn.fetchall("SELECT id FROM batching ORDER BY id")
        conn.defer("UPDATE batching SET note = ? WHERE id = ?", ["uno", 1])
        return [row["id"] for row in seen]

    assert db.run(work) == [1, 2, 3]
    rows = db.run(lambda conn: conn.fetchall("SELECT id, note FROM batching ORDER BY id"),
                  write=False)
    assert [(r["id"], r["note"]) for r in rows] == [(1, "uno"), (2, "two"), (3, "three")]


def test_a_failing_deferred_write_rolls_the_whole_transaction_back(db):
    def work(conn: Connection) -> None:
        conn.execute(INSERT, [1, "sent at once", None])
        conn.defer(INSERT, [2, "deferred", None])
        conn.defer(INSERT, [2, "same id again", None])  # fails when sent, with the COMMIT

    with pytest.raises((pymysql.err.IntegrityError, sqlite3.IntegrityError,
                        psycopg.IntegrityError)):
        db.run(work)
    assert db.run(lambda conn: conn.fetchval("SELECT COUNT(*) FROM batching"),
                  write=False) == 0


def test_values_survive_the_round_trip(db):
    def work(conn: Connection) -> list:
        conn.defer_many("INSERT INTO batching (id, note) VALUES (?, ?)",
                        [(n, str(v)) for n, v in enumerate(VALUES)])
        reads = conn.fetch_many([("SELECT ? AS v", [v]) for v in VALUES[:4]])
        return [rows[0]["v"] for rows in reads]

    assert db.run(work) == VALUES[:4]
    for value in VALUES:
        got = db.run(lambda conn, v=value: conn.fetchval("SELECT ?", [v]), write=False)
        if isinstance(value, datetime) and not isinstance(got, datetime):
            got = datetime.fromisoformat(str(got))  # SQLite answers an expression as text
        assert got == value or (value is True and got == 1), (value, got)
