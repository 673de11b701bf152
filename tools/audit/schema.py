"""The live database's tables and views with their columns, on every supported dialect."""

from __future__ import annotations

from engine.db import Connection

COLUMNS = {
    "sqlite": ("SELECT m.name AS tbl, p.name AS col FROM sqlite_master m "
               "JOIN pragma_table_info(m.name) p WHERE m.type IN ('table', 'view')"),
    "mysql": ("SELECT table_name AS tbl, column_name AS col FROM information_schema.columns "
              "WHERE table_schema = DATABASE()"),
    "postgresql": ("SELECT table_name AS tbl, column_name AS col FROM information_schema.columns "
                   "WHERE table_schema = current_schema()"),
}


def read_schema(conn: Connection) -> dict[str, set[str]]:
    """table or view name -> its column names."""
    tables: dict[str, set[str]] = {}
    for row in conn.fetchall(COLUMNS[conn.dialect]):
        tables.setdefault(row["tbl"], set()).add(row["col"])
    return tables
