"""`metrics`: Prometheus text: queue gauges from the database, request and claim histograms."""

from __future__ import annotations

from engine.db import Connection, utcnow
from engine.metrics import CLAIM_WAIT, CONTENT_TYPE, REQUESTS, render
from engine.registry import Request, Result, handler
from handlers.lifecycle import Status
from handlers.stats import COUNTS, TYPES, oldest_pending

QUEUE_HELP = [
    "# HELP taskmanager_tasks Tasks in the database by type and status.",
    "# TYPE taskmanager_tasks gauge",
]
OLDEST_HELP = [
    "# HELP taskmanager_oldest_pending_age_seconds Age of the oldest pending task, by type.",
    "# TYPE taskmanager_oldest_pending_age_seconds gauge",
]


def _label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def queue_lines(conn: Connection) -> list[str]:
    """Queue depth by type and status (every status, zeros included) and oldest pending age."""
    names = {row["id"]: row["name"] for row in conn.fetchall(TYPES)}
    counts = {(type_id, str(status)): 0 for type_id in names for status in Status}
    for row in conn.fetchall(COUNTS):
        counts[(row["type_id"], row["status"])] = int(row["n"])
    lines = list(QUEUE_HELP)
    for (type_id, status), count in sorted(counts.items(),
                                        key=lambda item: (names.get(item[0][0], ""), item[0][1])):
        name = _label(names.get(type_id, str(type_id)))
        lines.append(f'taskmanager_tasks{{type="{name}",status="{status}"}} {count}')
    lines += OLDEST_HELP
    for type_id, age in sorted(oldest_pending(conn, utcnow()).items()):
        name = _label(names.get(type_id, str(type_id)))
        lines.append(f'taskmanager_oldest_pending_age_seconds{{type="{name}"}} {age}')
    return lines


@handler("metrics", write=False)
def metrics(request: Request, conn: Connection) -> Result:
    text = "\n".join(queue_lines(conn)) + "\n" + render(REQUESTS, CLAIM_WAIT)
    return Result(text, content_type=CONTENT_TYPE)
