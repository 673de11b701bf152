"""Triggers bump a row's revision and the table's revision on every raw SQL change."""

from __future__ import annotations

from tests.support import rawdb

INSERT = ("INSERT INTO api_endpoints (method, path, operation_id, summary, action, handler, "
          "required_role) VALUES ('GET', ?, ?, 'x', 'custom', 'health', 'public')")


def table_revision(url: str) -> int:
    return int(rawdb.fetchval(url, "SELECT revision FROM api_endpoints_state WHERE id = 1"))


def row(url: str, path: str) -> tuple:
    return rawdb.fetchall(url, "SELECT revision, updated_at, is_active FROM api_endpoints "
                          "WHERE path = ? AND method = 'GET'", [path])[0]


def test_raw_update_bumps_row_and_table_revision(shared_database):
    url = shared_database.url
    rawdb.execute(url, INSERT, ["/api/rev/one", "revOne"])
    before, table = row(url, "/api/rev/one"), table_revision(url)
    assert before[0] == 1
    assert rawdb.execute(url, "UPDATE api_endpoints SET is_active = 0 "
                              "WHERE path = '/api/rev/one'") == 1
    after = row(url, "/api/rev/one")
    assert after[0] == before[0] + 1
    assert str(after[1]) >= str(before[1])
    assert table_revision(url) == table + 1
    rawdb.execute(url, "UPDATE api_endpoints SET is_active = 1 WHERE path = '/api/rev/one'")
    assert row(url, "/api/rev/one")[0] == before[0] + 2
    assert table_revision(url) == table + 2


def test_one_statement_over_many_rows_bumps_each(shared_database):
    url = shared_database.url
    for n in range(3):
        rawdb.execute(url, INSERT, [f"/api/rev/many/{n}", f"revMany{n}"])
    revisions = [row(url, f"/api/rev/many/{n}")[0] for n in range(3)]
    table = table_revision(url)
    assert rawdb.execute(url, "UPDATE api_endpoints SET summary = 'y' "
                              "WHERE path LIKE '/api/rev/many/%'") == 3
    assert [row(url, f"/api/rev/many/{n}")[0] for n in range(3)] == [r + 1 for r in revisions]
    assert table_revision(url) == table + 3


def test_insert_and_delete_bump_the_table_revision(shared_database):
    url = shared_database.url
    table = table_revision(url)
    rawdb.execute(url, INSERT, ["/api/rev/gone", "revGone"])
    assert table_revision(url) == table + 1
    rawdb.execute(url, "DELETE FROM api_endpoints WHERE path = '/api/rev/gone'")
    assert table_revision(url) == table + 2


def test_updated_at_uses_the_engine_datetime_format(shared_database):
    """Trigger-written and engine-written timestamps compare equal for equal instants."""
    url = shared_database.url
    rawdb.execute(url, INSERT, ["/api/rev/time", "revTime"])
    rawdb.execute(url, "UPDATE api_endpoints SET summary = 'z' WHERE path = '/api/rev/time'")
    stamp = str(rawdb.fetchval(url, "SELECT updated_at FROM api_endpoints "
                                    "WHERE path = '/api/rev/time'"))
    assert len(stamp.rsplit(".", 1)[1]) == 6, stamp
