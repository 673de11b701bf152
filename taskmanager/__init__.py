"""TaskManager's Python SDK: `TaskManagerClient` for producers, `Worker` for consumers."""

from taskmanager import errors
from taskmanager.client import TaskManagerClient
from taskmanager.context import TaskContext
from taskmanager.errors import TaskCancelled, TaskManagerError
from taskmanager.models import Progress, Task, TaskStatus
from taskmanager.transport import RetryPolicy
from taskmanager.worker import Worker

__all__ = ["Progress", "RetryPolicy", "Task", "TaskCancelled", "TaskContext",
           "TaskManagerClient", "TaskManagerError", "TaskStatus", "Worker", "errors"]
