"""Engine tables: api_endpoints (with a revision bumped by triggers on every write) and api_keys."""

from engine.migrate import dialect_step

# NOTE: the same text as the engine's datetime adapter (six fractional digits): mixed formats
# compare unequal for the same instant, which broke keyset cursors over timestamp ties.
SQLITE_NOW = "(strftime('%Y-%m-%d %H:%M:%f000', 'now'))"

ENDPOINT_COLUMNS = """
    method VARCHAR(10) NOT NULL,
    path VARCHAR(255) NOT NULL,
    operation_id VARCHAR(100) NOT NULL,
    summary VARCHAR(255) NOT NULL DEFAULT '',
    description TEXT,
    tags TEXT,
    action VARCHAR(10) NOT NULL,
    handler VARCHAR(100),
    crud_config TEXT,
    path_schema TEXT,
    query_schema TEXT,
    body_schema TEXT,
    response_schema TEXT,
    responses TEXT,
    required_role VARCHAR(20) NOT NULL DEFAULT 'admin',
    is_active BOOLEAN NOT NULL DEFAULT 1,
    revision INTEGER NOT NULL DEFAULT 1,
"""

steps = [
    dialect_step(
        sqlite=[
            f"""CREATE TABLE api_endpoints (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                {ENDPOINT_COLUMNS}
                created_at DATETIME(6) NOT NULL DEFAULT {SQLITE_NOW},
                updated_at DATETIME(6) NOT NULL DEFAULT {SQLITE_NOW},
                UNIQUE (method, path),
                UNIQUE (operation_id))""",
            "CREATE TABLE api_endpoints_state (id INTEGER PRIMARY KEY, revision INTEGER NOT NULL)",
            "INSERT INTO api_endpoints_state (id, revision) VALUES (1, 1)",
            f"""CREATE TRIGGER api_endpoints_after_update AFTER UPDATE ON api_endpoints
                FOR EACH ROW BEGIN
                  UPDATE api_endpoints SET revision = OLD.revision + 1, updated_at = {SQLITE_NOW}
                   WHERE id = NEW.id;
                  UPDATE api_endpoints_state SET revision = revision + 1 WHERE id = 1;
                END""",
            """CREATE TRIGGER api_endpoints_after_insert AFTER INSERT ON api_endpoints
                FOR EACH ROW BEGIN
                  UPDATE api_endpoints_state SET revision = revision + 1 WHERE id = 1;
                END""",
            """CREATE TRIGGER api_endpoints_after_delete AFTER DELETE ON api_endpoints
                FOR EACH ROW BEGIN
                  UPDATE api_endpoints_state SET revision = revision + 1 WHERE id = 1;
                END""",
            f"""CREATE TABLE api_keys (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                name VARCHAR(100) NOT NULL UNIQUE,
                key_hash CHAR(64) NOT NULL UNIQUE,
                key_prefix VARCHAR(16) NOT NULL,
                role VARCHAR(20) NOT NULL,
                created_at DATETIME(6) NOT NULL DEFAULT {SQLITE_NOW},
                last_used_at DATETIME(6),
                revoked_at DATETIME(6))""",
        ],
        mysql=[
            f"""CREATE TABLE api_endpoints (
                id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                {ENDPOINT_COLUMNS}
                created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                    ON UPDATE CURRENT_TIMESTAMP(6),
                UNIQUE KEY uq_api_endpoints_method_path (method, path),
                UNIQUE KEY uq_api_endpoints_operation (operation_id)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin""",
            """CREATE TABLE api_endpoints_state (id INT NOT NULL PRIMARY KEY,
                revision BIGINT NOT NULL) ENGINE=InnoDB""",
            "INSERT INTO api_endpoints_state (id, revision) VALUES (1, 1)",
            """CREATE TRIGGER api_endpoints_before_update BEFORE UPDATE ON api_endpoints
                FOR EACH ROW SET NEW.revision = OLD.revision + 1""",
            """CREATE TRIGGER api_endpoints_after_update AFTER UPDATE ON api_endpoints
                FOR EACH ROW UPDATE api_endpoints_state SET revision = revision + 1 WHERE id = 1""",
            """CREATE TRIGGER api_endpoints_after_insert AFTER INSERT ON api_endpoints
                FOR EACH ROW UPDATE api_endpoints_state SET revision = revision + 1 WHERE id = 1""",
            """CREATE TRIGGER api_endpoints_after_delete AFTER DELETE ON api_endpoints
                FOR EACH ROW UPDATE api_endpoints_state SET revision = revision + 1 WHERE id = 1""",
            """CREATE TABLE api_keys (
                id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                name VARCHAR(100) NOT NULL,
                key_hash CHAR(64) NOT NULL,
                key_prefix VARCHAR(16) NOT NULL,
                role VARCHAR(20) NOT NULL,
                created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                last_used_at DATETIME(6) NULL,
                revoked_at DATETIME(6) NULL,
                UNIQUE KEY uq_api_keys_name (name),
                UNIQUE KEY uq_api_keys_hash (key_hash)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
        ],
        rollback_sqlite=["DROP TABLE api_keys", "DROP TABLE api_endpoints",
                         "DROP TABLE api_endpoints_state"],
        rollback_mysql=["DROP TABLE api_keys", "DROP TABLE api_endpoints",
                        "DROP TABLE api_endpoints_state"],
    ),
]
