"""PostgreSQL statements of 0005_rate_limits (kept apart: see engine/checksums.py COMPANIONS)."""

APPLY = [
    """CREATE TABLE rate_limit_counters (
        bucket VARCHAR(191) NOT NULL PRIMARY KEY,
        window_start BIGINT NOT NULL,
        count INTEGER NOT NULL,
        expires_at BIGINT NOT NULL)""",
    "ALTER TABLE api_endpoints ADD COLUMN rate_limit TEXT",
    "CREATE INDEX ix_rate_limit_counters_expires ON rate_limit_counters (expires_at)",
]
ROLLBACK = ["DROP TABLE rate_limit_counters", "ALTER TABLE api_endpoints DROP COLUMN rate_limit"]

STEPS = [(APPLY, ROLLBACK)]
