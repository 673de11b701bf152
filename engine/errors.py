"""Typed API errors: each carries an HTTP status and a stable code; rendered in one place."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """The request failed."""

    status = 500
    code = "INTERNAL_ERROR"
    headers: dict[str, str] = {}  # noqa: RUF012 (read-only class default)

    def __init__(self, message: str | None = None, *, code: str | None = None,
                 details: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip()
        if code:
            self.code = code
        self.details = details
        if headers:
            self.headers = {**self.headers, **headers}
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"success": False, "error": self.message, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


class BadRequest(ApiError):
    """The request is invalid."""

    status = 400
    code = "BAD_REQUEST"


class ValidationFailed(BadRequest):
    """The request does not match the endpoint's schema."""

    code = "VALIDATION_FAILED"


class Unauthorized(ApiError):
    """A valid API key is required (X-API-Key or Authorization: Bearer)."""

    status = 401
    code = "UNAUTHORIZED"
    headers = {"WWW-Authenticate": 'Bearer realm="taskmanager"'}  # noqa: RUF012


class Forbidden(ApiError):
    """This API key's role may not call this endpoint."""

    status = 403
    code = "FORBIDDEN"


class NotFound(ApiError):
    """Not found."""

    status = 404
    code = "NOT_FOUND"


class MethodNotAllowed(ApiError):
    """This method is not allowed on this path."""

    status = 405
    code = "METHOD_NOT_ALLOWED"


class Conflict(ApiError):
    """The resource is not in a state that allows this change."""

    status = 409
    code = "CONFLICT"


class PayloadTooLarge(ApiError):
    """The request body is larger than the server accepts."""

    status = 413
    code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(ApiError):
    """The request body must be JSON (Content-Type: application/json)."""

    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"


class RateLimited(ApiError):
    """Too many requests; retry after the number of seconds in Retry-After."""

    status = 429
    code = "RATE_LIMITED"


class ServiceUnavailable(ApiError):
    """The service is temporarily unavailable; retry later."""

    status = 503
    code = "SERVICE_UNAVAILABLE"
    headers = {"Retry-After": "5"}  # noqa: RUF012


class EndpointDisabled(ServiceUnavailable):
    """This endpoint is switched off."""

    code = "ENDPOINT_DISABLED"
    headers = {"Retry-After": "60"}  # noqa: RUF012


class DatabaseUnavailable(ServiceUnavailable):
    """The database is unavailable; retry later."""

    code = "DATABASE_UNAVAILABLE"


class DatabaseFull(DatabaseUnavailable):
    """The database has no space left; nothing was written. Retry later."""

    code = "DATABASE_FULL"
    headers = {"Retry-After": "30"}  # noqa: RUF012
