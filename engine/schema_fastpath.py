"""A fast yes/no check for the common JSON Schema keywords, compiled once per schema.

PERF: jsonschema builds a validator object per subschema it descends into; a bulk complete of 50
items took ~70 us of CPU per item. `compile_check` turns a schema that uses only the keywords
below into nested closures that answer "certainly valid?". A True skips jsonschema; a False (an
invalid instance, or a case the check does not decide, such as 5.0 for an integer) sends the
instance to jsonschema, which decides and reports. So this path may only ever say True for what
jsonschema accepts: any other keyword makes `compile_check` return None (no fast path).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_ANNOTATIONS = {"description", "title", "examples", "default", "deprecated", "readOnly",
                "writeOnly", "$comment"}
_TYPES: dict[str, Check] = {
    # NOTE: bool is an int in Python but not in JSON; integer floats (5.0) are left to jsonschema.
    "integer": lambda v: type(v) is int and INT64_MIN <= v <= INT64_MAX,
    "number": lambda v: type(v) in (int, float),
    "string": lambda v: type(v) is str,
    "boolean": lambda v: type(v) is bool,
    "null": lambda v: v is None,
    "object": lambda v: type(v) is dict,
    "array": lambda v: type(v) is list,
}
_SCALARS = (str, int, float, bool, type(None))


class _Unsupported(Exception):
    pass


def compile_check(schema: Any) -> Check | None:
    """A check that is True only for instances `schema` accepts; None if it cannot build one."""
    try:
        return _compile(schema)
    except _Unsupported:
        return None


def _compile(schema: Any) -> Check:
    if schema is True:
        return lambda value: True
    if not isinstance(schema, dict):
        raise _Unsupported  # False, or not a schema: let jsonschema speak
    unknown = set(schema) - _ANNOTATIONS - set(_KEYWORDS)
    if unknown:
        raise _Unsupported
    checks = [_KEYWORDS[name](schema[name], schema) for name in schema if name in _KEYWORDS]
    checks = [check for check in checks if check is not None]
    return lambda value: all(check(value) for check in checks)


def _type(kinds: Any, _: dict[str, Any]) -> Check:
    names = [kinds] if isinstance(kinds, str) else list(kinds)
    if not all(name in _TYPES for name in names):
        raise _Unsupported
    tests = [_TYPES[name] for name in names]
    return lambda value: any(test(value) for test in tests)


def _enum(values: Any, _: dict[str, Any]) -> Check:
    if not isinstance(values, list) or not all(type(v) in _SCALARS for v in values):
        raise _Unsupported
    typed = {(type(v), v) for v in values}
    return lambda value: type(value) in _SCALARS and (type(value), value) in typed


def _number(test: Callable[[Any, Any], bool]) -> Callable[[Any, dict[str, Any]], Check]:
    def build(bound: Any, _: dict[str, Any]) -> Check:
        if type(bound) not in (int, float):
            raise _Unsupported
        return lambda v: type(v) not in (int, float) or test(v, bound)
    return build


def _length(test: Callable[[int, int], bool], kind: type) -> Callable[..., Check]:
    def build(bound: Any, _: dict[str, Any]) -> Check:
        if type(bound) is not int:
            raise _Unsupported
        return lambda v: type(v) is not kind or test(len(v), bound)
    return build


def _pattern(pattern: Any, _: dict[str, Any]) -> Check:
    if not isinstance(pattern, str):
        raise _Unsupported
    search = re.compile(pattern).search
    return lambda v: type(v) is not str or search(v) is not None


def _required(names: Any, _: dict[str, Any]) -> Check:
    if not isinstance(names, list):
        raise _Unsupported
    return lambda v: type(v) is not dict or all(name in v for name in names)


def _properties(properties: Any, schema: dict[str, Any]) -> Check:
    if not isinstance(properties, dict):
        raise _Unsupported
    checks = {name: _compile(sub) for name, sub in properties.items()}
    extra = schema.get("additionalProperties", True)
    other = (lambda value: False) if extra is False else _compile(extra)

    def check(value: Any) -> bool:
        if type(value) is not dict:
            return True
        return all(checks[k](v) if k in checks else other(v) for k, v in value.items())
    return check


def _additional(extra: Any, schema: dict[str, Any]) -> Check | None:
    if "properties" in schema:
        return None  # checked by _properties
    other = (lambda value: False) if extra is False else _compile(extra)
    return lambda v: type(v) is not dict or all(other(item) for item in v.values())


def _items(items: Any, _: dict[str, Any]) -> Check:
    each = _compile(items)
    return lambda v: type(v) is not list or all(each(item) for item in v)


_KEYWORDS: dict[str, Callable[[Any, dict[str, Any]], Check | None]] = {
    "type": _type, "enum": _enum,
    "minimum": _number(lambda v, b: v >= b), "maximum": _number(lambda v, b: v <= b),
    "exclusiveMinimum": _number(lambda v, b: v > b),
    "exclusiveMaximum": _number(lambda v, b: v < b),
    "minLength": _length(lambda n, b: n >= b, str), "maxLength": _length(lambda n, b: n <= b, str),
    "minItems": _length(lambda n, b: n >= b, list), "maxItems": _length(lambda n, b: n <= b, list),
    "pattern": _pattern, "required": _required, "properties": _properties,
    "additionalProperties": _additional, "items": _items,
}
