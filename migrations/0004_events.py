"""Events: commit-order cursor for the outbox, relay cursors, and webhooks per task type.

`task_events.seq` is the feed's cursor. On SQLite writers are serialized, so id order is commit
order and a trigger copies the id. On MySQL ids are handed out at INSERT, not at COMMIT, so a
lower id can become visible after a higher one; there `seq` stays NULL until a reader assigns it
after commit (handlers/outbox.py), serialized by the one row of `event_sequence`.
"""

from engine.migrate import dialect_step

__depends__ = {"0003_task_progress"}

SQLITE_NOW = "(strftime('%Y-%m-%d %H:%M:%f000', 'now'))"
MYSQL_TABLE = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

DELIVERY_COLUMNS = """
    status VARCHAR(16) NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(6) NOT NULL,
    url VARCHAR(2048),
    last_status INTEGER,
    last_error TEXT,
    delivered_at DATETIME(6),
"""

COMMON = [
    "UPDATE task_events SET seq = id",
    "CREATE UNIQUE INDEX uq_task_events_seq ON task_events (seq)",
    "CREATE INDEX ix_task_events_task_seq ON task_events (task_id, seq)",
    "ALTER TABLE task_types ADD COLUMN webhook_url VARCHAR(2048)",
    "ALTER TABLE task_types ADD COLUMN webhook_secret VARCHAR(255)",
    "INSERT INTO event_sequence (id, value) SELECT 1, COALESCE(MAX(id), 0) FROM task_events",
    "CREATE INDEX ix_webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at)",
]
ROLLBACK = [
    "DROP TABLE webhook_deliveries",
    "DROP TABLE relay_cursors",
    "DROP TABLE event_sequence",
    "ALTER TABLE task_types DROP COLUMN webhook_secret",
    "ALTER TABLE task_types DROP COLUMN webhook_url",
    "DROP INDEX ix_task_events_task_seq ON task_events",
    "DROP INDEX uq_task_events_seq ON task_events",
    "ALTER TABLE task_events DROP COLUMN seq",
]

steps = [
    dialect_step(
        sqlite=[
            "ALTER TABLE task_events ADD COLUMN seq INTEGER",
            """CREATE TRIGGER tr_task_events_seq AFTER INSERT ON task_events
               WHEN NEW.seq IS NULL
               BEGIN UPDATE task_events SET seq = NEW.id WHERE id = NEW.id; END""",
            "CREATE TABLE event_sequence (id INTEGER PRIMARY KEY, value BIGINT NOT NULL)",
            f"""CREATE TABLE relay_cursors (
                name VARCHAR(64) PRIMARY KEY,
                position BIGINT NOT NULL DEFAULT 0,
                updated_at DATETIME(6) NOT NULL DEFAULT {SQLITE_NOW})""",
            f"""CREATE TABLE webhook_deliveries (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                event_id INTEGER NOT NULL REFERENCES task_events (id) ON DELETE CASCADE,
                task_type_id INTEGER NOT NULL REFERENCES task_types (id) ON DELETE CASCADE,
                {DELIVERY_COLUMNS}
                created_at DATETIME(6) NOT NULL DEFAULT {SQLITE_NOW},
                updated_at DATETIME(6) NOT NULL DEFAULT {SQLITE_NOW},
                UNIQUE (event_id))""",
            *COMMON,
        ],
        mysql=[
            "ALTER TABLE task_events ADD COLUMN seq BIGINT NULL",
            f"""CREATE TABLE event_sequence (
                id INT NOT NULL PRIMARY KEY,
                value BIGINT NOT NULL) {MYSQL_TABLE}""",
            f"""CREATE TABLE relay_cursors (
                name VARCHAR(64) NOT NULL PRIMARY KEY,
                position BIGINT NOT NULL DEFAULT 0,
                updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) {MYSQL_TABLE}""",
            f"""CREATE TABLE webhook_deliveries (
                id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                event_id BIGINT NOT NULL,
                task_type_id INT NOT NULL,
                {DELIVERY_COLUMNS}
                created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                UNIQUE KEY uq_webhook_deliveries_event (event_id),
                CONSTRAINT fk_deliveries_event FOREIGN KEY (event_id) REFERENCES task_events (id)
                    ON DELETE CASCADE,
                CONSTRAINT fk_deliveries_type FOREIGN KEY (task_type_id)
                    REFERENCES task_types (id) ON DELETE CASCADE) {MYSQL_TABLE}""",
            *COMMON,
        ],
        rollback_sqlite=["DROP TRIGGER tr_task_events_seq",
                         *(sql.replace(" ON task_events", "") for sql in ROLLBACK)],
        rollback_mysql=ROLLBACK,
    ),
]
