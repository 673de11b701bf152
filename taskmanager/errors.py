"""Typed client errors: one base class, one subclass per HTTP status, each carrying `code`."""

from __future__ import annotations

from typing import Any


class TaskManagerError(Exception):
    """The TaskManager server refused the request or could not be reached."""

    status: int | None = None
    code = "ERROR"

    def __init__(self, message: str | None = None, *, code: str | None = None,
                 status: int | None = None, details: list[dict[str, Any]] | None = None,
                 retry_after: float | None = None, request_id: str | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip()
        if code:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details or []
        self.retry_after = retry_after
        self.request_id = request_id
        super().__init__(self.message)

    def __str__(self) -> str:
        where = f"HTTP {self.status} " if self.status else ""
        return f"{self.message} ({where}{self.code})"


class BadRequest(TaskManagerError):
    """The request is invalid."""

    status = 400
    code = "BAD_REQUEST"


class Unauthorized(TaskManagerError):
    """A valid API key is required (TASKMANAGER_API_KEY)."""

    status = 401
    code = "UNAUTHORIZED"


class Forbidden(TaskManagerError):
    """This API key may not do that, or the task belongs to another worker."""

    status = 403
    code = "FORBIDDEN"


class NotFound(TaskManagerError):
    """No such task, type or route."""

    status = 404
    code = "NOT_FOUND"


class MethodNotAllowed(TaskManagerError):
    """The server does not allow this method on this path."""

    status = 405
    code = "METHOD_NOT_ALLOWED"


class Conflict(TaskManagerError):
    """The task is not in a state that allows this change."""

    status = 409
    code = "CONFLICT"


class PayloadTooLarge(TaskManagerError):
    """The request body is larger than the server accepts."""

    status = 413
    code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(TaskManagerError):
    """The server wants a JSON body."""

    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"


class RateLimited(TaskManagerError):
    """Too many requests; retry after `retry_after` seconds."""

    status = 429
    code = "RATE_LIMITED"


class ServerError(TaskManagerError):
    """The server failed to answer the request."""

    status = 500
    code = "INTERNAL_ERROR"


class ServiceUnavailable(TaskManagerError):
    """The endpoint is switched off or the database is down; retry later."""

    status = 503
    code = "SERVICE_UNAVAILABLE"


class ConnectionFailed(TaskManagerError):
    """The server could not be reached (refused, reset or timed out)."""

    code = "CONNECTION_FAILED"


class WaitTimeout(TaskManagerError, TimeoutError):
    """The task did not finish within the timeout."""

    code = "WAIT_TIMEOUT"


class TaskCancelled(TaskManagerError):
    """The task was cancelled; a handler raises this to stop early."""

    code = "CANCELLED"


BY_STATUS: dict[int, type[TaskManagerError]] = {
    cls.status: cls for cls in (BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed,
                                Conflict, PayloadTooLarge, UnsupportedMediaType, RateLimited,
                                ServerError, ServiceUnavailable)
    if cls.status is not None
}

# Worth retrying: the server said it did nothing and asked to come back, or it is restarting.
TRANSIENT: tuple[type[TaskManagerError], ...] = (ConnectionFailed, ServiceUnavailable,
                                                 RateLimited, ServerError)


def for_status(status: int) -> type[TaskManagerError]:
    """The error class of an HTTP status (any other 4xx is BadRequest, 5xx ServerError)."""
    if status in BY_STATUS:
        return BY_STATUS[status]
    return ServerError if status >= 500 else BadRequest


def from_response(status: int, body: Any, headers: Any) -> TaskManagerError:
    """The typed error of a failed response, with the envelope's `error`, `code`, `details`."""
    body = body if isinstance(body, dict) else {}
    retry_after = None
    raw = headers.get("Retry-After") if headers is not None else None
    if raw:
        try:
            retry_after = float(raw)
        except ValueError:
            retry_after = None
    return for_status(status)(
        body.get("error") or f"The server answered HTTP {status}.",
        code=body.get("code"), status=status, details=body.get("details"),
        retry_after=retry_after,
        request_id=headers.get("X-Request-ID") if headers is not None else None)
