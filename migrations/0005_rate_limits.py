"""Rate limits: a `rate_limit` JSON column on api_endpoints and the shared counters.

`rate_limit_counters` holds one row per bucket (endpoint + API key name or client address):
the current fixed window's start and count, in Unix seconds. Expired rows are deleted by the
servers themselves (engine/ratelimit.py).
"""

from engine.migrate import dialect_step

__depends__ = {"0004_events"}

COUNTER_COLUMNS = """
    window_start BIGINT NOT NULL,
    count INTEGER NOT NULL,
    expires_at BIGINT NOT NULL
"""
COMMON = [
    "ALTER TABLE api_endpoints ADD COLUMN rate_limit TEXT",
    "CREATE INDEX ix_rate_limit_counters_expires ON rate_limit_counters (expires_at)",
]
ROLLBACK = ["DROP TABLE rate_limit_counters", "ALTER TABLE api_endpoints DROP COLUMN rate_limit"]

steps = [
    dialect_step(
        sqlite=[
            f"""CREATE TABLE rate_limit_counters (
                bucket VARCHAR(191) NOT NULL PRIMARY KEY,
                {COUNTER_COLUMNS})""",
            *COMMON,
        ],
        mysql=[
            f"""CREATE TABLE rate_limit_counters (
                bucket VARCHAR(191) NOT NULL PRIMARY KEY,
                {COUNTER_COLUMNS}
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin""",
            *COMMON,
        ],
        rollback_sqlite=ROLLBACK,
        rollback_mysql=ROLLBACK,
    ),
]
