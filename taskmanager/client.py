"""`TaskManagerClient`: the producer's and operator's side of the HTTP API."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from taskmanager.errors import WaitTimeout
from taskmanager.models import Task
from taskmanager.transport import Reply, RetryPolicy, Transport

if TYPE_CHECKING:
    from taskmanager.worker import Worker

TYPE_OPTIONS = ("version", "description", "is_active", "max_attempts", "lease_seconds",
                "retry_backoff_seconds", "retry_backoff_max_seconds", "priority", "max_concurrent")


def _task_body(type: str, params: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    body = {"type": type, "params": {} if params is None else params}
    body.update({k: v for k, v in options.items() if v is not None})
    return body


class TaskManagerClient:
    """Talks to one TaskManager server; reuse it (it keeps connections open), then `close()`.

    Args:
        base_url: e.g. `http://127.0.0.1:8000` (without `/api`).
        api_key: sent as `X-API-Key`; None when the server runs without auth.
        timeout: seconds per HTTP request (or a `(connect, read)` pair).
        retry: how transient failures are retried (see `taskmanager.transport`).
    """

    def __init__(self, base_url: str, api_key: str | None = None,
                 timeout: float | tuple[float, float] = 10.0,
                 retry: RetryPolicy | None = None) -> None:
        self.transport = Transport(base_url, api_key, timeout, retry)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> TaskManagerClient:
        """A client for TASKMANAGER_URL with TASKMANAGER_API_KEY."""
        from taskmanager.settings import client_settings

        url, key = client_settings(environ)
        return cls(url, key, **kwargs)

    @property
    def base_url(self) -> str:
        return self.transport.base_url

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> TaskManagerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Reply:
        """Any API call: `path` under the base URL, e.g. `/api/tasks/1`."""
        return self.transport.call(method, path, **kwargs)

    # -- service --------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return dict(self.call("GET", "/api/health").data)

    def stats(self, window_seconds: int = 300) -> dict[str, Any]:
        """Counts per type and status, oldest pending age, claims over the window."""
        params = {"window_seconds": window_seconds}
        return dict(self.call("GET", "/api/stats", params=params).data)

    # -- task types -----------------------------------------------------------------------

    def register_type(self, name: str, param_schema: Mapping[str, Any] | None = None,
                      **options: Any) -> dict[str, Any]:
        """Create or update a type; options: version, max_attempts, lease_seconds, ...

        Returns the type, with `created` true when it did not exist before.
        """
        unknown = set(options) - set(TYPE_OPTIONS)
        if unknown:
            raise TypeError(f"unknown task type option(s): {', '.join(sorted(unknown))}")
        body = {"name": name, "param_schema": dict(param_schema or {"type": "object"}),
                **{k: v for k, v in options.items() if v is not None}}
        reply = self.call("POST", "/api/task-types/register", body=body)
        return {**reply.data, "created": reply.status == 201}

    def get_type(self, name: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/api/task-types/{name}").data)

    def list_types(self, active_only: bool = False, limit: int = 500) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if active_only:
            params["active_only"] = "true"
        return list(self.call("GET", "/api/task-types", params=params).data)

    # -- tasks ----------------------------------------------------------------------------

    def create_task(self, type: str, params: Any = None, *, priority: int | None = None,
                    run_after: str | None = None, parent_id: int | None = None,
                    depends_on: list[int] | None = None) -> dict[str, Any]:
        """Create a task: `{id, status, dedupe_key}`, or `deduplicated: true` for a twin.

        NOTE: retried like an idempotent call: the server's dedupe turns a repeat into the same
        task (unless the first one already finished in between).
        """
        options = {"priority": priority, "run_after": run_after, "parent_id": parent_id,
                   "depends_on": depends_on}
        reply = self.call("POST", "/api/tasks", body=_task_body(type, params, options))
        return {**reply.data, "deduplicated": bool(reply.data.get("deduplicated"))}

    def create_tasks(self, tasks: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Create up to 1000 tasks in one transaction; each item like `create_task`'s kwargs."""
        items = [_task_body(t["type"], t.get("params"), {k: v for k, v in t.items()
                                                         if k not in ("type", "params")})
                 for t in tasks]
        return list(self.call("POST", "/api/tasks/bulk", body={"tasks": items}).data)

    def get_task(self, task_id: int) -> Task:
        return Task.from_row(self.call("GET", f"/api/tasks/{int(task_id)}").data)

    def get_task_if_changed(self, task_id: int,
                            etag: str | None) -> tuple[Task | None, str | None]:
        """`(task, etag)`; `(None, etag)` when the task is unchanged since `etag` (304)."""
        headers = {"If-None-Match": etag} if etag else None
        reply = self.call("GET", f"/api/tasks/{int(task_id)}", headers=headers)
        if reply.status == 304:
            return None, reply.etag or etag
        return Task.from_row(reply.data), reply.etag

    def rerun(self, task_id: int, *, params: Any = None, priority: int | None = None,
              run_after: str | None = None) -> dict[str, Any]:
        """Queue a finished task again: `{id, status, dedupe_key, rerun_of}` (+ `deduplicated`).

        `params`, `priority`, `run_after` override the old task's (None keeps them).
        """
        body = {k: v for k, v in (("params", params), ("priority", priority),
                                  ("run_after", run_after)) if v is not None}
        reply = self.call("POST", f"/api/tasks/{int(task_id)}/rerun", body=body)
        return {**reply.data, "deduplicated": bool(reply.data.get("deduplicated"))}

    def add_artefact(self, task_id: int, worker_id: str, name: str, uri: str, *,
                     size_bytes: int | None = None, sha256: str | None = None,
                     media_type: str | None = None) -> dict[str, Any]:
        """Record an artefact of a task `worker_id` holds (a repeat of the same one is fine)."""
        body = {"worker_id": worker_id, "name": name, "uri": uri,
                **{k: v for k, v in (("size_bytes", size_bytes), ("sha256", sha256),
                                     ("media_type", media_type)) if v is not None}}
        return dict(self.call("POST", f"/api/tasks/{int(task_id)}/artefacts", body=body).data)

    def list_tasks(self, *, status: str | None = None, type: str | None = None,
                   limit: int = 50, **filters: Any) -> list[Task]:
        """Tasks, newest first; filters as the API names them (`type__like`, `parent_id`...)."""
        return self._page(status, type, limit, filters)[0]

    def iter_tasks(self, *, status: str | None = None, type: str | None = None,
                   page_size: int = 200, **filters: Any) -> Iterator[Task]:
        """Every matching task, fetched page by page with the keyset cursor."""
        while True:
            tasks, cursor = self._page(status, type, page_size, filters)
            yield from tasks
            if not cursor:
                return
            filters = {**filters, "cursor": cursor}

    def _page(self, status: str | None, type: str | None, limit: int,
              filters: dict[str, Any]) -> tuple[list[Task], str | None]:
        params = {"status": status, "type": type, "limit": limit, **filters}
        params = {k: ",".join(map(str, v)) if isinstance(v, list | tuple) else v
                  for k, v in params.items() if v is not None}
        reply = self.call("GET", "/api/tasks", params=params)
        return [Task.from_row(row) for row in reply.data], (reply.meta or {}).get("next_cursor")

    def task_history(self, task_id: int, limit: int = 1000) -> list[dict[str, Any]]:
        """History rows of a task, oldest first (the progress log)."""
        path = f"/api/tasks/{int(task_id)}/history"
        return list(self.call("GET", path, params={"limit": limit}).data)

    def task_logs(self, task_id: int, level: str | None = None, include_children: bool = False,
                  after: int | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Log lines of a task, oldest first: `level` is a minimum (debug, info, warning,
        error); `include_children` adds its children's lines; `after` (a line id) only newer.
        """
        params: dict[str, Any] = {"limit": limit}
        if level is not None:
            params["level"] = level
        if include_children:
            params["include_children"] = "true"
        if after is not None:
            params["after"] = int(after)
        return list(self.call("GET", f"/api/tasks/{int(task_id)}/logs", params=params).data)

    def cancel_task(self, task_id: int) -> dict[str, Any]:
        """Pending → cancelled at once; claimed → `cancel_requested` for its worker."""
        return dict(self.call("POST", f"/api/tasks/{int(task_id)}/cancel").data)

    def wait(self, task_id: int, timeout: float | None = None, poll_interval: float = 0.5,
             max_poll_interval: float = 5.0) -> Task:
        """Poll until the task is finished and return it; `WaitTimeout` after `timeout` s.

        Polls are conditional (If-None-Match): an unchanged task costs a bodyless 304.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = poll_interval
        task, etag = None, None
        while True:
            changed, etag = self.get_task_if_changed(task_id, etag)
            task = changed or task
            assert task is not None  # the first poll sends no tag, so it has a body
            if task.finished:
                return task
            if deadline is not None and time.monotonic() + pause > deadline:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeout(f"Task {task_id} is still {task.status} after "
                                      f"{timeout}s.")
                pause = remaining
            time.sleep(pause)
            pause = min(max_poll_interval, pause * 1.5)

    def worker(self, worker_id: str | None = None, **options: Any) -> Worker:
        """A `Worker` that claims through this client."""
        from taskmanager.worker import Worker

        return Worker(self, worker_id, **options)
