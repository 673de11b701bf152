"""Task logs: levelled lines a worker sends for its task, and one per status change.

`level_no` (debug 10, info 20, warning 30, error 40) makes a minimum-level read a numeric `>=`;
`level` keeps the name for readers. Lines are read per task in id order: (task_id, id).
"""

from engine.migrate import dialect_step

__depends__ = {"0008_sqlite_timestamp_form"}

SQLITE_NOW = "(strftime('%Y-%m-%d %H:%M:%f000', 'now'))"
MYSQL_TABLE = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
INDEX = "CREATE INDEX ix_task_logs_task ON task_logs (task_id, id)"
DROP = ["DROP TABLE task_logs"]

steps = [
    dialect_step(
        sqlite=[
            f"""CREATE TABLE task_logs (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                task_id INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
                attempt INTEGER NOT NULL DEFAULT 0,
                level VARCHAR(10) NOT NULL,
                level_no SMALLINT NOT NULL,
                message TEXT NOT NULL,
                data TEXT,
                created_at DATETIME(6) NOT NULL DEFAULT {SQLITE_NOW})""",
            INDEX,
        ],
        mysql=[
            f"""CREATE TABLE task_logs (
                id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                task_id BIGINT NOT NULL,
                attempt INT NOT NULL DEFAULT 0,
                level VARCHAR(10) NOT NULL,
                level_no SMALLINT NOT NULL,
                message TEXT NOT NULL,
                data MEDIUMTEXT NULL,
                created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                CONSTRAINT fk_logs_task FOREIGN KEY (task_id) REFERENCES tasks (id)
                    ON DELETE CASCADE) {MYSQL_TABLE}""",
            INDEX,
        ],
        rollback_sqlite=DROP,
        rollback_mysql=DROP,
    ),
]
