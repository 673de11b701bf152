"""JSON Schema validation of path, query and body, with one `details` entry per violation."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError
from jsonschema.exceptions import ValidationError as SchemaViolation

from engine.errors import BadRequest, ValidationFailed

_FORMATS = FormatChecker()
_INTEGER = re.compile(r"^[+-]?\d{1,30}$")
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}
MAX_JSON_DEPTH = 64


def check_schema(schema: Any) -> str | None:
    """None when `schema` is a valid JSON Schema (2020-12), else the reason it is not."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(part) for part in exc.path)
        return f"{exc.message}" + (f" (at {where})" if where else "")
    return None


class Validator:
    """A compiled schema for one part (`path`, `query` or `body`) of a request."""

    def __init__(self, location: str, schema: Mapping[str, Any] | None) -> None:
        self.location = location
        self.schema = dict(schema or {})
        self._validator = Draft202012Validator(self.schema, format_checker=_FORMATS)
        self._properties: Mapping[str, Any] = self.schema.get("properties", {})

    def validate(self, instance: Any) -> Any:
        errors = sorted(self._validator.iter_errors(instance), key=lambda e: list(e.path))
        if errors:
            details = [detail for error in errors for detail in self._details(error)]
            raise ValidationFailed(f"Invalid {self.location}: {details[0]['message']}",
                                   details=details)
        return instance

    def _details(self, error: SchemaViolation) -> list[dict[str, Any]]:
        base = ".".join(str(part) for part in error.absolute_path)
        names: list[str] = []
        if error.validator == "required" and isinstance(error.instance, dict):
            names = [n for n in error.validator_value if n not in error.instance][:1]
        elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = error.schema.get("properties", {})
            names = sorted(n for n in error.instance if n not in known)
        if not names:
            return [self._detail(base, error)]
        return [self._detail(f"{base}.{n}" if base else n, error) for n in names]

    def _detail(self, field: str, error: SchemaViolation) -> dict[str, Any]:
        message = error.message if len(error.message) <= 300 else error.message[:297] + "..."
        if field and error.validator not in ("required", "additionalProperties"):
            message = f"{field}: {message}"
        return {"in": self.location, "field": field or None, "rule": error.validator,
                "message": message}

    def coerce_query(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Turn query-string text into the types the schema declares, so it can validate them."""
        return {name: self._coerce(self._properties.get(name, {}), value)
                for name, value in params.items()}

    def _coerce(self, schema: Mapping[str, Any], value: Any) -> Any:
        kind = schema.get("type")
        if kind == "array":
            parts = value if isinstance(value, list) else str(value).split(",")
            return [self._coerce(schema.get("items", {}), part) for part in parts]
        if isinstance(value, list):  # a repeated parameter that the schema does not allow
            return value
        if kind == "integer" and _INTEGER.match(value):
            return int(value)
        if kind == "number":
            try:
                number = float(value)
            except ValueError:
                return value
            return number if number == number and abs(number) != float("inf") else value
        if kind == "boolean" and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        keys = [key for key, _ in pairs]
        duplicate = next(key for key in keys if keys.count(key) > 1)
        raise ValueError(f"duplicate key {duplicate!r}")
    return result


def parse_json(raw: bytes) -> Any:
    """Parse a request body strictly: UTF-8, no NaN/Infinity, no duplicate keys, bounded depth."""
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, parse_constant=_reject_constant,
                           object_pairs_hook=_no_duplicate_keys)
    except UnicodeDecodeError:
        raise BadRequest("The request body is not valid UTF-8.", code="INVALID_JSON") from None
    except RecursionError:
        raise BadRequest("The JSON body is nested too deeply.", code="INVALID_JSON") from None
    except ValueError as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc}.",
                         code="INVALID_JSON") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise BadRequest(f"The JSON body is nested deeper than {MAX_JSON_DEPTH} levels.",
                         code="INVALID_JSON")
    return value


def _depth(value: Any) -> int:
    stack, deepest = [(value, 1)], 0
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return deepest
