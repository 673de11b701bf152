"""A forked process (a gunicorn worker) never talks over its parent's database connection."""

from __future__ import annotations

import os

from engine.db import Connection


def _identity(conn: Connection) -> int:
    """MySQL: the server's id of this session; SQLite: the connection object's."""
    if conn.dialect == "mysql":
        return int(conn.fetchval("SELECT CONNECTION_ID()"))
    return id(conn.raw)


def test_a_forked_child_opens_its_own_connection_and_the_parent_keeps_its_own(empty_database):
    db = empty_database.db
    parent = db.run(_identity, write=False)
    assert db.run(_identity, write=False) == parent  # reused while nothing forks
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running pytest's teardown
        try:
            os.write(write, str(db.run(_identity, write=False)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = int(pipe.read() or 0)
    os.waitpid(pid, 0)
    assert child not in (0, parent)
    assert db.run(_identity, write=False) == parent
