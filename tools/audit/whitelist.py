"""Names that are used although no Python code calls them, fed to vulture as a whitelist.

Registered handlers and CLI commands are called through a registry by name; Falcon calls
responders (`on_get`, `on_get_suffix`) and middleware hooks (`process_request`, ...) and reads
the attributes set on its request, response and option objects (`resp.media`); frameworks call
the methods a class overrides from a library base class (gunicorn's `load_config`); entry
points in pyproject.toml are called by their installers; yoyo reads `steps` and `__depends__`.
The signatures of these callables are fixed by their callers, so their unused arguments are not
findings either; nor are those of functions handed to a library as callbacks.
"""

from __future__ import annotations

import ast
import importlib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import falcon

RESPONDER = re.compile(r"^on_(get|head|post|put|patch|delete|options|websocket)(_\w+)?$")
MIDDLEWARE = re.compile(r"^process_(request|resource|response|startup|shutdown)(_ws)?$")
YOYO_NAMES = ("steps", "__depends__", "__transactional__")


@dataclass
class Whitelist:
    """Used names, why each is used, and the functions whose arguments are fixed by a caller."""

    reasons: dict[str, str] = field(default_factory=dict)
    fixed_signatures: set[str] = field(default_factory=set)

    def add(self, names: Iterable[str], reason: str, fixed: bool = False) -> None:
        for name in names:
            self.reasons.setdefault(name, reason)
            if fixed:
                self.fixed_signatures.add(name)

    def source(self) -> str:
        """Python text in vulture's whitelist style: each used name as an attribute of `_`."""
        return "".join(f"_.{name}  # {reason}\n" for name, reason in sorted(self.reasons.items()))


def _entry_points(pyproject: Path) -> list[str]:
    if not pyproject.is_file():
        return []
    project = tomllib.loads(pyproject.read_text()).get("project", {})
    targets = list(project.get("scripts", {}).values())
    for group in project.get("entry-points", {}).values():
        targets += list(group.values())
    return [t.split(":", 1)[1].split(".")[-1].split("(")[0].strip() for t in targets if ":" in t]


def _imports(tree: ast.Module) -> dict[str, str]:
    """Local name -> dotted path, from the module's top-level imports."""
    names = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = alias.name.split(".")[0] \
                    if not alias.asname else alias.name
    return names


def _resolve(dotted: str) -> Any:
    module, _, attr = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError):
        return None


def _library_base(base: ast.expr, imports: Mapping[str, str], ours: set[str]) -> Any:
    """The imported class `base` names, when it comes from outside the project."""
    parts = []
    while isinstance(base, ast.Attribute):
        parts.append(base.attr)
        base = base.value
    if not isinstance(base, ast.Name) or base.id not in imports:
        return None
    dotted = ".".join([imports[base.id], *reversed(parts)])
    if dotted.split(".")[0] in ours:
        return None
    found = _resolve(dotted)
    return found if isinstance(found, type) else None


def _callbacks(tree: ast.Module) -> set[str]:
    """Names passed to a call as values (`redefine("integer", _is_int64)`): their caller is
    the library that receives them, so their arguments are its protocol, used or not."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for value in [*node.args, *(k.value for k in node.keywords)]:
                if isinstance(value, ast.Name):
                    names.add(value.id)
                elif isinstance(value, ast.Attribute):
                    names.add(value.attr)
    return names


def _from_code(tree: ast.Module, ours: set[str], whitelist: Whitelist) -> None:
    imports = _imports(tree)
    whitelist.fixed_signatures |= _callbacks(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        methods = [n.name for n in node.body
                   if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        # a class attribute a library base reads (psycopg's `Dumper.oid`)
        attributes = [target.id for n in node.body if isinstance(n, ast.Assign)
                      for target in n.targets if isinstance(target, ast.Name)]
        whitelist.add([m for m in methods if RESPONDER.match(m)], "Falcon responder", True)
        whitelist.add([m for m in methods if MIDDLEWARE.match(m)], "Falcon middleware", True)
        for base in node.bases:
            library = _library_base(base, imports, ours)
            if library is not None:
                whitelist.add([m for m in [*methods, *attributes] if hasattr(library, m)],
                              f"overrides {library.__module__}.{library.__qualname__}", True)


def build(root: Path, files: Iterable[Path], handlers: Mapping[str, Any],
          commands: Mapping[str, Any]) -> Whitelist:
    whitelist = Whitelist()
    whitelist.add([h.func.__name__ for h in handlers.values()], "registered handler", True)
    whitelist.add([f.__name__ for f in commands.values()], "CLI command", True)
    whitelist.add(_entry_points(root / "pyproject.toml"), "entry point in pyproject.toml", True)
    falcon_api = [*dir(falcon.RequestOptions()), *dir(falcon.ResponseOptions()),
                  *dir(falcon.Request), *dir(falcon.Response)]
    whitelist.add([n for n in falcon_api if not n.startswith("_")],
                  "Falcon reads it (request/response/option attribute)")
    whitelist.add(YOYO_NAMES, "read by yoyo")
    ours = {p.name for p in root.iterdir() if p.is_dir() or p.suffix == ".py"}
    ours = {name.removesuffix(".py") for name in ours}
    for path in files:
        try:
            _from_code(ast.parse(path.read_text(), str(path)), ours, whitelist)
        except (SyntaxError, UnicodeDecodeError):
            continue  # vulture reports files it cannot parse itself
    return whitelist
