"""JSON Schema validation of path, query and body, with one `details` entry per violation."""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import SchemaError
from jsonschema.exceptions import ValidationError as SchemaViolation

from engine.errors import BadRequest, ValidationFailed

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
        self._is_valid = _fast_check(self.schema)
        self._properties: Mapping[str, Any] = self.schema.get("properties", {})
        self._empty_valid = not any(self._validator.iter_errors({}))

    def check_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Coerce path or query text (`coerce_query`) and validate it."""
        if not params and self._empty_valid:  # PERF: most requests have no query at all
            return {}
        return self.validate(self.coerce_query(params))  # type: ignore[no-any-return]

    def validate(self, instance: Any) -> Any:
        # PERF: jsonschema-rs says "valid" in well under a microsecond where jsonschema takes
        # tens (~100 us for a bulk of 50); jsonschema still decides and explains every "invalid".
        if self._is_valid is not None and self._is_valid(instance):
            return instance
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
        message = error.message
        if field and error.validator == "additionalProperties":
            message = self._unknown(field, error.schema)
        elif field and error.validator != "required":
            message = f"{field}: {message}"
        message = message if len(message) <= 300 else message[:297] + "..."
        return {"in": self.location, "field": field or None, "rule": error.validator,
                "message": message}

    def _unknown(self, field: str, schema: Mapping[str, Any]) -> str:
        """`Unknown query parameter 'x'; allowed: a, b`: what a client can send instead."""
        noun = "query parameter" if self.location == "query" else f"{self.location} field"
        allowed = sorted(schema.get("properties", {}))
        return (f"Unknown {noun} {field!r}"
                + (f"; allowed: {', '.join(allowed)}." if allowed else "; none is allowed."))

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


def _fast_check(schema: Mapping[str, Any]) -> Callable[[Any], bool] | None:
    """jsonschema-rs's yes/no for `schema`, at least as strict as our jsonschema rules.

    Only its "valid" is trusted; anything else goes to jsonschema. So it must never accept what
    jsonschema rejects: integers are bounded to BIGINT as `_is_int64` does, and formats are
    checked (jsonschema checks the ones it has checkers for; rs knows them all).
    """
    try:
        return jsonschema_rs.validator_for(  # type: ignore[no-any-return]
            _int64_bounded(schema), validate_formats=True, retriever=_no_remote).is_valid
    except (ValueError, jsonschema_rs.ReferencingError):  # a schema rs does not take
        return None


def _no_remote(uri: str) -> Any:
    # NOTE: rs fetches remote `$ref`s by default; task types bring client-written schemas, so
    # that would let a client make the server fetch any URL. jsonschema never fetches either.
    raise ValueError(f"remote $ref {uri} is not fetched")


def _int64_bounded(schema: Any) -> Any:
    """A copy of `schema` in which every integer-typed subschema also has BIGINT bounds."""
    # NOTE: bounds are added in place (not wrapped in allOf) so `$ref` pointers stay valid;
    # they bind numbers only, so at worst rs rejects more and jsonschema decides.
    bounded = copy.deepcopy(schema)
    stack = [bounded]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        kinds = node.get("type")
        if kinds == "integer" or (isinstance(kinds, list) and "integer" in kinds):
            node["minimum"] = max(node.get("minimum", INT64_MIN), INT64_MIN)
            node["maximum"] = min(node.get("maximum", INT64_MAX), INT64_MAX)
        stack.extend(value for key, value in node.items()
                     if key not in ("const", "enum", "default", "examples"))
    return bounded


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


# PERF: built once; json.loads with any keyword builds a decoder (and its scanner) per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float,
                            object_pairs_hook=_no_duplicate_keys)


def parse_json(raw: bytes) -> Any:
    """Parse a request body strictly: UTF-8, no NaN/Infinity, no duplicate keys, bounded depth."""
    try:
        text = raw.decode("utf-8")
        if text.startswith("\ufeff"):  # as json.loads says it
            raise ValueError("Unexpected UTF-8 BOM (decode using utf-8-sig)")
        value = _DECODER.decode(text)
    except UnicodeDecodeError:
        raise BadRequest("The request body is not valid UTF-8.", code="INVALID_JSON") from None
    except RecursionError:
        raise BadRequest("The JSON body is nested too deeply.", code="INVALID_JSON") from None
    except ValueError as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc}.",
                         code="INVALID_JSON") from None
    # PERF: a body with no more brackets than the limit cannot nest deeper; only others are
    # walked (two C-level counts against a walk of every value).
    brackets = raw.count(b"[") + raw.count(b"{")
    if brackets > MAX_JSON_DEPTH and _depth(value) > MAX_JSON_DEPTH:
        raise BadRequest(f"The JSON body is nested deeper than {MAX_JSON_DEPTH} levels.",
                         code="INVALID_JSON")
    # PERF: the walk only for bodies that escape a surrogate at all (a regex over the text).
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        # NOTE: JSON lets `"\ud800"` through, but no UTF-8 text can hold it: stored, it failed
        # every later answer that carried it (500s after the write had committed).
        raise BadRequest("The JSON body holds a lone UTF-16 surrogate (\\ud800-\\udfff), "
                         "which is not a character.", code="INVALID_JSON")
    return value


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_lone_surrogate(value: Any) -> bool:
    """Any string (key or value) with a surrogate that json.loads could not pair."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


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
