"""Adopting the PHP TaskManager's database, part 2: copy its rows into our tables.

Runs after 0010 set the PHP tables aside and our 0001-0003 created ours (see engine/baseline.py).
Ids are kept, so every old task, type and history row keeps its URL. Mapping:
- task_types: param_schema_json -> param_schema; retry policy and lease take our defaults, which
  are the PHP system's (max 3 attempts, 300 s claim timeout); usage_count = its tasks.
- tasks: params_json -> params, result_json -> result, error_message -> error, the status ENUM
  becomes our VARCHAR; a claimed task gets a lease ending 300 s after its claim (the old
  timeout), so a worker that vanished loses it as with any lease; dedupe_key is recomputed in
  our canonical form, and unfinished tasks hold it in dedupe_active (the first one when two
  collide), so creating the same task again through our API deduplicates against them.
- task_history: copied; attempt 0, no progress/step (the PHP rows did not keep them).
Timestamps are read with the session in UTC (MySQL TIMESTAMPs are stored in UTC); zero or null
ones fall back to created_at or now. After the counts match, the copied legacy_task* tables are
dropped; legacy_api_endpoints (and its validations) stays for reference: its `:param` routes are
not ours, which `taskmanager seed` provides. There is no rollback: restore a backup instead.
"""

import hashlib
import json

from yoyo import step

__depends__ = {"0003_task_progress", "0010_php_set_aside"}

BATCH = 2000
UNFINISHED = ("pending", "claimed")


def ts(column):
    """A legacy TIMESTAMP, or NULL when it was never set (zero date)."""
    return f"IF({column} >= '1970-01-02', {column}, NULL)"


CREATED = f"COALESCE({ts('t.created_at')}, UTC_TIMESTAMP(6))"
UPDATED = f"COALESCE({ts('t.updated_at')}, {CREATED})"
CLAIMED = f"COALESCE({ts('t.claimed_at')}, {UPDATED})"
COPY_TYPES = f"""INSERT INTO task_types (id, name, version, param_schema, is_active, usage_count,
        created_at, updated_at)
    SELECT t.id, t.name, t.version, t.param_schema_json, COALESCE(t.is_active, 1),
        (SELECT COUNT(*) FROM legacy_tasks x WHERE x.type_id = t.id), {CREATED}, {UPDATED}
    FROM legacy_task_types t ORDER BY t.id"""
COPY_TASKS = f"""INSERT INTO tasks (id, type_id, status, params, dedupe_key, priority, attempts,
        run_after, claimed_by, claimed_at, lease_expires_at, heartbeat_at, result, error,
        created_at, updated_at, completed_at, progress, progress_updated_at)
    SELECT t.id, t.type_id, COALESCE(NULLIF(CAST(t.status AS CHAR), ''), 'pending'),
        t.params_json, t.dedupe_key, COALESCE(t.priority, 0), COALESCE(t.attempts, 0),
        {CREATED}, t.claimed_by, {ts('t.claimed_at')},
        IF(t.status = 'claimed', {CLAIMED} + INTERVAL 300 SECOND, NULL),
        IF(t.status = 'claimed', {CLAIMED}, NULL),
        t.result_json, t.error_message, {CREATED}, {UPDATED},
        IF(t.status IN ('completed', 'failed'), COALESCE({ts('t.completed_at')}, {UPDATED}),
           NULL),
        LEAST(GREATEST(COALESCE(t.progress, 0), 0), 100), IF(t.progress > 0, {UPDATED}, NULL)
    FROM legacy_tasks t ORDER BY t.id"""
COPY_HISTORY = f"""INSERT INTO task_history (id, task_id, status_change, worker_id, message,
        created_at)
    SELECT t.id, t.task_id, t.status_change, t.worker_id, t.message, {CREATED}
    FROM legacy_task_history t ORDER BY t.id"""
TASK_KEYS = ("SELECT t.id, tt.name, t.params, t.status, t.dedupe_key FROM tasks t "
             "JOIN task_types tt ON tt.id = t.type_id WHERE t.id > %s ORDER BY t.id LIMIT %s")
# NOTE: updated_at = updated_at stops MySQL's ON UPDATE from stamping every row with now.
SET_KEYS = ("UPDATE tasks SET dedupe_key = %s, dedupe_active = %s, updated_at = updated_at "
            "WHERE id = %s")
COPIED = {"task_types": "legacy_task_types", "tasks": "legacy_tasks",
          "task_history": "legacy_task_history"}


def dedupe_key(type_name, params_text):
    """Our key: sha256(type + NUL + canonical JSON); None when params are not JSON."""
    try:
        params = json.loads(params_text)
    except ValueError:
        return None
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{type_name}\0{canonical}".encode()).hexdigest()


def rekey(cursor):
    active, last = set(), 0
    while True:
        cursor.execute(TASK_KEYS, (last, BATCH))
        rows = cursor.fetchall()
        if not rows:
            return
        updates = []
        for task_id, name, params, status, old_key in rows:
            key = dedupe_key(name, params) or old_key
            unfinished = status in UNFINISHED and key not in active
            if unfinished:
                active.add(key)
            updates.append((key, key if unfinished else None, task_id))
        cursor.executemany(SET_KEYS, updates)
        last = rows[-1][0]


def import_rows(conn):
    cursor = conn.cursor()
    cursor.execute("SET time_zone = '+00:00'")
    for sql in (COPY_TYPES, COPY_TASKS, COPY_HISTORY):
        cursor.execute(sql)
    rekey(cursor)
    for ours, theirs in COPIED.items():
        cursor.execute(f"SELECT (SELECT COUNT(*) FROM {ours}), (SELECT COUNT(*) FROM {theirs})")
        copied, original = cursor.fetchone()
        if copied != original:
            raise RuntimeError(f"{ours} has {copied} rows after the copy, {theirs} {original}")
    cursor.execute("DROP TABLE legacy_task_history, legacy_tasks, legacy_task_types")
    cursor.close()


steps = [step(import_rows)]
