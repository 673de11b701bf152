"""TaskManager's custom handlers; importing this package registers them all by name."""

from handlers import (  # noqa: F401
    admin,
    cancel,
    claim,
    complete,
    health,
    progress,
    task_create,
    task_read,
    task_types,
)
