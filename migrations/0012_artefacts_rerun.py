"""Artefacts, reruns and conditional reads.

`task_artefacts`: what a worker produced for a task (name, URI, size, sha256, media type), one
row per name and task; `attempt` tells which attempt wrote it. `tasks.rerun_of`: the finished
task a rerun was made from (no foreign key: SQLite cannot drop a column that has one, and the
link is informational). `api_endpoints.etag`: the engine answers that row's GETs with a strong
ETag and honours If-None-Match.
"""

from engine.migrate import dialect_step

__depends__ = {"0009_task_logs"}

SQLITE_NOW = "(strftime('%Y-%m-%d %H:%M:%f000', 'now'))"
MYSQL_TABLE = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
ARTEFACT_COLUMNS = """
    name VARCHAR(255) NOT NULL,
    uri TEXT NOT NULL,
    size_bytes BIGINT,
    sha256 CHAR(64),
    media_type VARCHAR(255),
    attempt INTEGER NOT NULL DEFAULT 0,
"""
COMMON = [
    "ALTER TABLE tasks ADD COLUMN rerun_of BIGINT",
    "CREATE INDEX ix_tasks_rerun_of ON tasks (rerun_of)",
    "ALTER TABLE api_endpoints ADD COLUMN etag BOOLEAN NOT NULL DEFAULT 0",
]
ROLLBACK = [
    "DROP TABLE task_artefacts",
    "DROP INDEX ix_tasks_rerun_of ON tasks",
    "ALTER TABLE tasks DROP COLUMN rerun_of",
    "ALTER TABLE api_endpoints DROP COLUMN etag",
]

steps = [
    dialect_step(
        sqlite=[
            f"""CREATE TABLE task_artefacts (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                task_id INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
                {ARTEFACT_COLUMNS}
                created_at DATETIME(6) NOT NULL DEFAULT {SQLITE_NOW},
                UNIQUE (task_id, name))""",
            *COMMON,
        ],
        mysql=[
            f"""CREATE TABLE task_artefacts (
                id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                task_id BIGINT NOT NULL,
                {ARTEFACT_COLUMNS}
                created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                UNIQUE KEY uq_task_artefacts_name (task_id, name),
                CONSTRAINT fk_artefacts_task FOREIGN KEY (task_id) REFERENCES tasks (id)
                    ON DELETE CASCADE) {MYSQL_TABLE}""",
            *COMMON,
        ],
        rollback_sqlite=["DROP TABLE task_artefacts", "DROP INDEX ix_tasks_rerun_of",
                         *ROLLBACK[2:]],
        rollback_mysql=ROLLBACK,
    ),
]
