"""Recurring schedules and the ledger of the slots they enqueued.

`schedules.next_run_at` is the earliest slot not enqueued yet, so a tick finds the due schedules
with one read of `ix_schedules_due` (is_active, next_run_at). `schedule_runs` has one row per
(schedule, slot): its primary key is what makes a slot enqueue one task however many processes
tick, since the row is inserted in the same transaction as the task and only the insert that
wins creates it.
"""

from engine.migrate import dialect_step

__depends__ = {"0013_claim_eligibility"}

SQLITE_NOW = "(strftime('%Y-%m-%d %H:%M:%f000', 'now'))"
MYSQL_TABLE = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

SCHEDULE_COLUMNS = """
    name VARCHAR(255) NOT NULL,
    type VARCHAR(255) NOT NULL,
    params TEXT NOT NULL,
    cron VARCHAR(255),
    every_seconds INTEGER,
    timezone VARCHAR(64) NOT NULL DEFAULT 'UTC',
    priority INTEGER,
    is_active BOOLEAN NOT NULL DEFAULT 1,
    catch_up VARCHAR(8) NOT NULL DEFAULT 'latest',
    next_run_at DATETIME(6) NOT NULL,
    last_run_at DATETIME(6),
    last_task_id BIGINT,
"""
INDEXES = ["CREATE INDEX ix_schedules_due ON schedules (is_active, next_run_at)"]
DROP = ["DROP TABLE schedule_runs", "DROP TABLE schedules"]

steps = [
    dialect_step(
        sqlite=[
            f"""CREATE TABLE schedules (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                {SCHEDULE_COLUMNS}
                created_at DATETIME(6) NOT NULL DEFAULT {SQLITE_NOW},
                updated_at DATETIME(6) NOT NULL DEFAULT {SQLITE_NOW},
                UNIQUE (name))""",
            f"""CREATE TABLE schedule_runs (
                schedule_id INTEGER NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
                slot_at DATETIME(6) NOT NULL,
                task_id INTEGER,
                created_at DATETIME(6) NOT NULL DEFAULT {SQLITE_NOW},
                PRIMARY KEY (schedule_id, slot_at))""",
            *INDEXES,
        ],
        mysql=[
            f"""CREATE TABLE schedules (
                id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                {SCHEDULE_COLUMNS}
                created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                    ON UPDATE CURRENT_TIMESTAMP(6),
                UNIQUE KEY uq_schedules_name (name)) {MYSQL_TABLE}""",
            f"""CREATE TABLE schedule_runs (
                schedule_id INT NOT NULL,
                slot_at DATETIME(6) NOT NULL,
                task_id BIGINT NULL,
                created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                PRIMARY KEY (schedule_id, slot_at),
                CONSTRAINT fk_schedule_runs_schedule FOREIGN KEY (schedule_id)
                    REFERENCES schedules (id) ON DELETE CASCADE) {MYSQL_TABLE}""",
            *INDEXES,
        ],
        rollback_sqlite=DROP,
        rollback_mysql=DROP,
    ),
]
