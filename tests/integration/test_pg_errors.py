"""PostgreSQL's errors map to the engine's typed ones, as MySQL's do (engine/db_postgres.py)."""

from __future__ import annotations

import pytest

from engine.errors import BadRequest, DatabaseUnavailable, ValidationFailed
from tests.conftest import fresh_database

INSERT_KEY = "INSERT INTO api_keys (name, key_hash, key_prefix, role) VALUES (?, ?, ?, ?)"


@pytest.fixture
def pg(tmp_path):
    with fresh_database("postgresql", tmp_path, seed=False) as test_db:
        yield test_db.db


def test_a_value_too_long_is_400_and_writes_nothing(pg):
    def work(conn):
        conn.defer(INSERT_KEY, ["fits", "a" * 64, "tm_a", "admin"])
        conn.execute(INSERT_KEY, ["x" * 101, "b" * 64, "tm_b", "admin"])  # name VARCHAR(100)

    with pytest.raises(BadRequest) as raised:
        pg.run(work)
    assert raised.value.code == "VALUE_TOO_LONG"
    assert pg.run(lambda conn: conn.fetchval("SELECT COUNT(*) FROM api_keys"), write=False) == 0


def test_a_value_of_the_wrong_type_is_400_not_500(pg):
    """A forged list cursor can bind 'x' against an integer column: PostgreSQL refuses it."""
    with pytest.raises(BadRequest) as raised:
        pg.run(lambda conn: conn.fetchall("SELECT id FROM api_keys WHERE id > ?", ["x"]),
               write=False)
    assert raised.value.code == "INVALID_VALUE"


def test_a_nul_character_is_400(pg):
    with pytest.raises(ValidationFailed):
        pg.run(lambda conn: conn.fetchall("SELECT id FROM api_keys WHERE name = ?", ["a\x00b"]),
               write=False)


def test_a_missing_table_is_503_and_booleans_read_as_booleans(pg):
    with pytest.raises(DatabaseUnavailable):
        pg.run(lambda conn: conn.fetchall("SELECT * FROM not_migrated_yet"), write=False)
    assert pg.run(lambda conn: conn.fetchval("SELECT CAST(? AS SMALLINT)", [True]),
                  write=False) is True
    new_id = pg.run(lambda conn: conn.insert(INSERT_KEY, ["k", "c" * 64, "tm_c", "admin"]))
    assert new_id == pg.run(lambda conn: conn.fetchval("SELECT id FROM api_keys"), write=False)
