"""Unused code in the audited folders, found by vulture with the generated whitelist."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import vulture

from tools.audit.report import FINDING, Finding
from tools.audit.tree import files as tree_files
from tools.audit.whitelist import Whitelist, build


def python_files(root: Path) -> Iterator[Path]:
    """The project's .py files but its tests: the code whose use of a name counts."""
    return tree_files(root, ".py", skip=frozenset({"tests"}))


def _fixed_arguments(files: list[Path], whitelist: Whitelist) -> set[tuple[str, int, str]]:
    """(file, line, name) of the arguments of callables whose caller fixes the signature."""
    fixed = set()
    for path in files:
        try:
            tree = ast.parse(path.read_text(), str(path))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) \
                    and node.name in whitelist.fixed_signatures:
                arguments = node.args
                for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                            arguments.vararg, arguments.kwarg]:
                    if arg is not None:
                        fixed.add((str(path.resolve()), arg.lineno, arg.arg))
    return fixed


def unused_code(root: Path, folders: list[str], handlers: Mapping[str, Any],
                commands: Mapping[str, Any], min_confidence: int = 60) -> list[Finding]:
    files = list(python_files(root))
    whitelist = build(root, files, handlers, commands)
    scanner = vulture.Vulture()
    scanner.scavenge([str(f) for f in files])
    scanner.scan(whitelist.source(), filename="<audit whitelist>")
    targets = [(root / folder).resolve() for folder in folders]
    fixed = _fixed_arguments(files, whitelist)
    found = []
    for item in scanner.get_unused_code(min_confidence=min_confidence):
        path = Path(item.filename).resolve()
        if not any(path.is_relative_to(t) for t in targets):
            continue
        if (str(path), item.first_lineno, item.name) in fixed:
            continue
        where = f"{path.relative_to(root.resolve()).as_posix()}:{item.first_lineno}"
        found.append(Finding("dead-code", FINDING, f"{where} {item.name}",
                             f"{item.message} ({item.confidence}% confidence)",
                             "no use of the name anywhere in the project's code", removal=True))
    return found
