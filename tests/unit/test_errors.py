"""The error hierarchy: each class has a status, a stable code and a default sentence."""

from __future__ import annotations

import pytest

from engine import errors

CLASSES = [errors.BadRequest, errors.ValidationFailed, errors.Unauthorized, errors.Forbidden,
           errors.NotFound, errors.MethodNotAllowed, errors.Conflict, errors.PayloadTooLarge,
           errors.UnsupportedMediaType, errors.ServiceUnavailable, errors.EndpointDisabled,
           errors.DatabaseUnavailable]


@pytest.mark.parametrize("cls", CLASSES)
def test_defaults(cls):
    error = cls()
    assert 400 <= error.status < 600
    assert error.code.isupper() and " " not in error.code
    assert error.message and error.message == (cls.__doc__ or "").strip()
    assert error.body() == {"success": False, "error": error.message, "code": error.code}


def test_statuses():
    assert [c.status for c in CLASSES] == [400, 400, 401, 403, 404, 405, 409, 413, 415, 503,
                                           503, 503]


def test_overrides_do_not_leak_into_the_class():
    error = errors.NotFound("No task 5.", code="TASK_NOT_FOUND",
                            details=[{"field": "id"}], headers={"X-A": "1"})
    assert error.body() == {"success": False, "error": "No task 5.", "code": "TASK_NOT_FOUND",
                            "details": [{"field": "id"}]}
    assert errors.NotFound().code == "NOT_FOUND"
    assert errors.NotFound.headers == {}
    disabled = errors.EndpointDisabled(headers={"X-B": "2"})
    assert disabled.headers == {"Retry-After": "60", "X-B": "2"}
    assert errors.EndpointDisabled.headers == {"Retry-After": "60"}


def test_retry_after_on_every_503():
    for cls in (errors.ServiceUnavailable, errors.EndpointDisabled, errors.DatabaseUnavailable):
        assert int(cls().headers["Retry-After"]) > 0
    assert "WWW-Authenticate" in errors.Unauthorized().headers
