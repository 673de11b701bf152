"""TaskManager tables: task_types, tasks, task_dependencies, task_history, task_events.

Claim indexes: the claim reads `status='pending'` rows in the requested order straight from an
index and stops after LIMIT rows (no filesort, which under FOR UPDATE would lock every scanned
row). `neg_priority` (= -priority, generated) lets `priority DESC, id ASC` be one forward scan on
every supported server (MariaDB before 10.8 ignores DESC in index definitions). InnoDB and SQLite
append the primary key to secondary indexes, so `(status)` also orders by id.
"""

from engine.migrate import dialect_step

__depends__ = {"0001_engine_tables"}

SQLITE_NOW = "(strftime('%Y-%m-%d %H:%M:%f000', 'now'))"
MYSQL_TABLE = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

TYPE_COLUMNS = """
    name VARCHAR(255) NOT NULL,
    version VARCHAR(50) NOT NULL DEFAULT '1',
    description TEXT,
    param_schema TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT 1,
    max_attempts INTEGER NOT NULL DEFAULT 3,
    lease_seconds INTEGER NOT NULL DEFAULT 300,
    retry_backoff_seconds INTEGER NOT NULL DEFAULT 10,
    retry_backoff_max_seconds INTEGER NOT NULL DEFAULT 3600,
    priority INTEGER NOT NULL DEFAULT 0,
    usage_count BIGINT NOT NULL DEFAULT 0,
"""

TASK_COLUMNS = """
    status VARCHAR(16) NOT NULL DEFAULT 'pending',
    params TEXT NOT NULL,
    dedupe_key CHAR(64) NOT NULL,
    dedupe_active CHAR(64),
    priority INTEGER NOT NULL DEFAULT 0,
    neg_priority INTEGER GENERATED ALWAYS AS (-priority) STORED,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 3,
    lease_seconds INTEGER NOT NULL DEFAULT 300,
    run_after DATETIME(6) NOT NULL,
    deps_pending INTEGER NOT NULL DEFAULT 0,
    claimed_by VARCHAR(255),
    claimed_at DATETIME(6),
    lease_expires_at DATETIME(6),
    heartbeat_at DATETIME(6),
    cancel_requested BOOLEAN NOT NULL DEFAULT 0,
    result TEXT,
    error TEXT,
    error_code VARCHAR(64),
"""

TASK_INDEXES = [
    "CREATE UNIQUE INDEX uq_tasks_dedupe_active ON tasks (dedupe_active)",
    "CREATE INDEX ix_tasks_status ON tasks (status)",
    "CREATE INDEX ix_tasks_type_status ON tasks (type_id, status)",
    "CREATE INDEX ix_tasks_status_prio ON tasks (status, neg_priority)",
    "CREATE INDEX ix_tasks_type_status_prio ON tasks (type_id, status, neg_priority)",
    "CREATE INDEX ix_tasks_status_attempts ON tasks (status, attempts)",
    "CREATE INDEX ix_tasks_type_status_attempts ON tasks (type_id, status, attempts)",
    "CREATE INDEX ix_tasks_lease ON tasks (status, lease_expires_at)",
    "CREATE INDEX ix_tasks_parent ON tasks (parent_id, status)",
    "CREATE INDEX ix_tasks_claimed_by ON tasks (claimed_by, status)",
    "CREATE INDEX ix_task_dependencies_on ON task_dependencies (depends_on_id)",
    "CREATE INDEX ix_task_history_task ON task_history (task_id, id)",
    "CREATE INDEX ix_task_events_task ON task_events (task_id, id)",
    "CREATE INDEX ix_task_events_unpublished ON task_events (published_at, id)",
]

# The list endpoint reads this view (type name joined in); 0003 adds the progress columns.
TASK_LIST_VIEW = """CREATE VIEW task_list AS
    SELECT t.id, tt.name AS type, t.type_id, t.status, t.params, t.priority, t.attempts,
           t.max_attempts, t.claimed_by, t.claimed_at, t.lease_expires_at, t.heartbeat_at,
           t.run_after, t.cancel_requested, t.parent_id, t.error, t.error_code,
           t.created_at, t.updated_at, t.completed_at
      FROM tasks t JOIN task_types tt ON tt.id = t.type_id"""

DROP = ["DROP VIEW task_list", "DROP TABLE task_events", "DROP TABLE task_history",
        "DROP TABLE task_dependencies", "DROP TABLE tasks", "DROP TABLE task_types"]

steps = [
    dialect_step(
        sqlite=[
            f"""CREATE TABLE task_types (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                {TYPE_COLUMNS}
                created_at DATETIME(6) NOT NULL DEFAULT {SQLITE_NOW},
                updated_at DATETIME(6) NOT NULL DEFAULT {SQLITE_NOW},
                UNIQUE (name))""",
            f"""CREATE TABLE tasks (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                type_id INTEGER NOT NULL REFERENCES task_types (id),
                parent_id INTEGER REFERENCES tasks (id) ON DELETE SET NULL,
                {TASK_COLUMNS}
                created_at DATETIME(6) NOT NULL DEFAULT {SQLITE_NOW},
                updated_at DATETIME(6) NOT NULL DEFAULT {SQLITE_NOW},
                completed_at DATETIME(6))""",
            """CREATE TABLE task_dependencies (
                task_id INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
                depends_on_id INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
                PRIMARY KEY (task_id, depends_on_id))""",
            f"""CREATE TABLE task_history (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                task_id INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
                status_change VARCHAR(50) NOT NULL,
                worker_id VARCHAR(255),
                message TEXT,
                attempt INTEGER NOT NULL DEFAULT 0,
                progress INTEGER,
                step VARCHAR(255),
                created_at DATETIME(6) NOT NULL DEFAULT {SQLITE_NOW})""",
            f"""CREATE TABLE task_events (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                task_id INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
                event_type VARCHAR(50) NOT NULL,
                transition VARCHAR(120) NOT NULL,
                payload TEXT NOT NULL,
                created_at DATETIME(6) NOT NULL DEFAULT {SQLITE_NOW},
                published_at DATETIME(6),
                UNIQUE (task_id, transition))""",
            *TASK_INDEXES,
            TASK_LIST_VIEW,
        ],
        mysql=[
            f"""CREATE TABLE task_types (
                id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                {TYPE_COLUMNS}
                created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                    ON UPDATE CURRENT_TIMESTAMP(6),
                UNIQUE KEY uq_task_types_name (name)) {MYSQL_TABLE}""",
            f"""CREATE TABLE tasks (
                id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                type_id INT NOT NULL,
                parent_id BIGINT NULL,
                {TASK_COLUMNS}
                created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                    ON UPDATE CURRENT_TIMESTAMP(6),
                completed_at DATETIME(6) NULL,
                CONSTRAINT fk_tasks_type FOREIGN KEY (type_id) REFERENCES task_types (id),
                CONSTRAINT fk_tasks_parent FOREIGN KEY (parent_id) REFERENCES tasks (id)
                    ON DELETE SET NULL) {MYSQL_TABLE}""",
            f"""CREATE TABLE task_dependencies (
                task_id BIGINT NOT NULL,
                depends_on_id BIGINT NOT NULL,
                PRIMARY KEY (task_id, depends_on_id),
                CONSTRAINT fk_deps_task FOREIGN KEY (task_id) REFERENCES tasks (id)
                    ON DELETE CASCADE,
                CONSTRAINT fk_deps_on FOREIGN KEY (depends_on_id) REFERENCES tasks (id)
                    ON DELETE CASCADE) {MYSQL_TABLE}""",
            f"""CREATE TABLE task_history (
                id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                task_id BIGINT NOT NULL,
                status_change VARCHAR(50) NOT NULL,
                worker_id VARCHAR(255) NULL,
                message TEXT NULL,
                attempt INT NOT NULL DEFAULT 0,
                progress INT NULL,
                step VARCHAR(255) NULL,
                created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                CONSTRAINT fk_history_task FOREIGN KEY (task_id) REFERENCES tasks (id)
                    ON DELETE CASCADE) {MYSQL_TABLE}""",
            f"""CREATE TABLE task_events (
                id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                task_id BIGINT NOT NULL,
                event_type VARCHAR(50) NOT NULL,
                transition VARCHAR(120) NOT NULL,
                payload TEXT NOT NULL,
                created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                published_at DATETIME(6) NULL,
                UNIQUE KEY uq_task_events_transition (task_id, transition),
                CONSTRAINT fk_events_task FOREIGN KEY (task_id) REFERENCES tasks (id)
                    ON DELETE CASCADE) {MYSQL_TABLE}""",
            *TASK_INDEXES,
            TASK_LIST_VIEW,
        ],
        rollback_sqlite=DROP,
        rollback_mysql=DROP,
    ),
]
