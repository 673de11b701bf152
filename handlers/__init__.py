"""TaskManager's custom handlers; importing this package registers them all by name."""

from handlers import (  # noqa: F401
    admin,
    artefacts,
    cancel,
    claim,
    complete,
    event_stream,
    events,
    health,
    metrics,
    progress,
    rerun,
    schedule_tick,
    schedules,
    stats,
    task_create,
    task_logs,
    task_read,
    task_types,
    workers,
)
