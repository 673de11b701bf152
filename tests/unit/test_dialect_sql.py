"""Every per-dialect SQL table (a dict keyed by dialect name) covers all three dialects."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest

PACKAGES = ["engine", "handlers", "relay", "tools.audit"]
DIALECTS = {"sqlite", "mysql", "postgresql"}


def modules() -> list[ModuleType]:
    found = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        found.append(package)
        for info in pkgutil.iter_modules(package.__path__, package_name + "."):
            found.append(importlib.import_module(info.name))
    return found


@pytest.mark.parametrize("module", modules(), ids=lambda m: m.__name__)
def test_sql_by_dialect_names_every_dialect(module: ModuleType) -> None:
    partial = [name for name, value in vars(module).items()
               if isinstance(value, dict) and len(DIALECTS & set(value)) >= 2
               and not DIALECTS <= set(value)]
    assert not partial, (f"{module.__name__}: {partial} give SQL for some dialects only; add the "
                         f"missing ones ({sorted(DIALECTS)})")
