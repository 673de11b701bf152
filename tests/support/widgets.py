"""A small test table (`test_widgets`) for the generic CRUD actions; see endpoints_test.yaml."""

from __future__ import annotations

from pathlib import Path

from tests.support import rawdb

SEED_FILE = Path(__file__).with_name("endpoints_test.yaml")
HANDLER_MODULES = "handlers,tests.support.boom_handlers"
COLORS = ("red", "green", "blue")
COUNT = 37

CREATE = {
    "sqlite": """CREATE TABLE test_widgets (
        id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(50) NOT NULL UNIQUE,
        color VARCHAR(20) NOT NULL, size INTEGER NOT NULL, note VARCHAR(50), tags TEXT)""",
    "mysql": """CREATE TABLE test_widgets (
        id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50) NOT NULL UNIQUE,
        color VARCHAR(20) NOT NULL, size INT NOT NULL, note VARCHAR(50) NULL, tags TEXT NULL
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
}


def widget(number: int) -> tuple[str, str, int, str | None, str]:
    """Row `number` (1-based): repeated colours, sizes and notes, so sorts have ties."""
    note = None if number % 4 == 0 else f"note {number % 3}"
    return (f"w{number:02d}", COLORS[number % 3], number % 7, note, f'["t{number % 2}"]')


def create_table(url: str, dialect: str) -> None:
    rawdb.execute(url, CREATE[dialect])
    with rawdb.raw_connection(url) as conn:
        cursor = conn.cursor()
        sql = "INSERT INTO test_widgets (name, color, size, note, tags) VALUES (?, ?, ?, ?, ?)"
        if dialect == "mysql":
            sql = sql.replace("?", "%s")
        cursor.executemany(sql, [widget(n) for n in range(1, COUNT + 1)])
        cursor.close()
