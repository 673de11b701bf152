"""JSON Schema validation of path, query and body, with one `details` entry per violation."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import SchemaError
from jsonschema.exceptions import ValidationError as SchemaViolation

from engine.errors import BadRequest, ValidationFailed
from engine.schema_fastpath import compile_check

_FORMATS = FormatChecker()
_INTEGER = re.compile(r"^[+-]?\d{1,30}$")
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}
MAX_JSON_DEPTH = 64
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _is_int64(checker: Any, instance: Any) -> bool:
    # NOTE: every value a schema calls an integer must fit a BIGINT: larger ones made SQLite
    # raise OverflowError (a 500) when bound.
    integer = Draft202012Validator.TYPE_CHECKER.is_type(instance, "integer")
    return bool(integer and INT64_MIN <= instance <= INT64_MAX)


_SchemaValidator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_int64))
_VALID_CACHE_SIZE = 128  # remembered valid instances per validator
_CACHEABLE_ITEMS, _CACHEABLE_TEXT = 8, 64
_CACHEABLE_SCALARS = (str, int, float, bool, type(None))


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
        self._validator = _SchemaValidator(self.schema, format_checker=_FORMATS)
        self._certainly_valid = compile_check(self.schema)
        self._properties: Mapping[str, Any] = self.schema.get("properties", {})
        self._valid: set[tuple[Any, ...]] = set()

    def validate(self, instance: Any) -> Any:
        # PERF: most requests repeat a few small path/query objects ({} above all); a verdict
        # depends only on the schema and the exact instance, so known-valid ones skip jsonschema.
        key = _cache_key(instance)
        if key is not None and key in self._valid:
            return instance
        if self._certainly_valid is not None and self._certainly_valid(instance):
            return instance
        errors = sorted(self._validator.iter_errors(instance), key=lambda e: list(e.path))
        if errors:
            details = [detail for error in errors for detail in self._details(error)]
            raise ValidationFailed(f"Invalid {self.location}: {details[0]['message']}",
                                   details=details)
        if key is not None:
            if len(self._valid) >= _VALID_CACHE_SIZE:
                self._valid.clear()
            self._valid.add(key)
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


def _cache_key(instance: Any) -> tuple[Any, ...] | None:
    """A type-exact key (so 1, 1.0 and True differ) for a small flat object, else None."""
    if type(instance) is not dict or len(instance) > _CACHEABLE_ITEMS:
        return None
    key = []
    for name, value in instance.items():
        kind = type(value)
        if kind not in _CACHEABLE_SCALARS or type(name) is not str \
                or len(name) > _CACHEABLE_TEXT or (kind is str and len(value) > _CACHEABLE_TEXT):
            return None
        key.append((name, kind, value))
    return tuple(key)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # e.g. 1e400: JSON has no infinity
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


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
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float,
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
