"""`taskmanager audit` over a fixture tree and a real database with every kind of finding."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from textwrap import dedent
from typing import Any

from engine.db import utcnow
from tests.conftest import TestDatabase as Db
from tests.conftest import fresh_database, run_cli
from tests.support.rawdb import execute, fetchval
from tests.unit.test_audit_code import make_tree

HANDLERS = '''
"""Fixture handlers: one routed, one that no endpoint names."""
from engine.registry import handler
from fx_handlers import legacy  # noqa: F401


@handler("fx_used", write=False)
def used(request, conn):
    return {"ok": True}


@handler("fx_orphan")
def orphan(request, conn):
    return None


def never_called():
    return 1
'''


def endpoint(path: str, summary: str = "A fixture endpoint", **extra: Any) -> str:
    fields = {"method": "GET", "path": path, "operation_id": "op" + path.replace("/", "_"),
              "summary": summary, "action": "custom", "handler": "fx_used", "role": "any",
              **extra}
    return "  - " + json.dumps(fields) + "\n"


ROWS_CRUD = {"table": "api_keys", "columns": ["id", "name"]}
SEEDED = "endpoints:\n" + "".join([
    endpoint("/api/fx/used"), endpoint("/api/fx/old"), endpoint("/api/fx/recent"),
    endpoint("/api/fx/dbonly"),
    endpoint("/api/fx/rows", action="list", handler=None, crud=ROWS_CRUD)]).replace(
    ', "handler": null', "")
AUDITED = "endpoints:\n" + "".join([
    endpoint("/api/fx/used", summary="Changed in the YAML since the seed"),
    endpoint("/api/fx/old"), endpoint("/api/fx/recent"),
    endpoint("/api/fx/rows", action="list", crud=ROWS_CRUD).replace(
        ', "handler": "fx_used"', ""),
    endpoint("/api/fx/new", handler="fx_missing"),
    endpoint("/api/fx/table", action="list", crud={"table": "no_such_table",
                                                   "columns": ["id"]}).replace(
        ', "handler": "fx_used"', "")])
UPDATE_TRIGGER = "api_endpoints_after_update"
OLD_FILES = """# Old files to remove

<!-- audit:begin -->
<!-- audit:end -->

## Hand-written

- `fx_handlers/legacy.py`: superseded by fx_handlers/__init__.py

## Removal checklist
1. Search, 2. tag, 3. remove.
"""


def tree(root: Path, audited: str = AUDITED, dead: bool = True) -> Path:
    return make_tree(root, {
        "fx_handlers/__init__.py": HANDLERS if dead else HANDLERS.replace(
            "\n\ndef never_called():\n    return 1\n", "").replace(
            "from fx_handlers import legacy  # noqa: F401\n", ""),
        "fx_handlers/legacy.py": "LEGACY = 1\n" if dead else "",
        "seeds.yaml": SEEDED, "audited.yaml": audited,
        "OLD_FILES_TO_REMOVE.md": OLD_FILES if dead else OLD_FILES.replace(
            "- `fx_handlers/legacy.py`: superseded by fx_handlers/__init__.py\n", ""),
    })


def env_for(db: Db, root: Path) -> dict[str, str]:
    return {**db.env, "PYTHONPATH": str(root), "TASKMANAGER_HANDLER_MODULES": "fx_handlers",
            "TASKMANAGER_SEED_FILE": str(root / "seeds.yaml")}


def audit(env: dict[str, str], root: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    result = run_cli(["audit", "--json", "--root", str(root), "--code", "fx_handlers",
                      "--seed-file", str(root / "audited.yaml"), *extra], env, check=False)
    assert result.returncode in (0, 1, 2), result.stderr
    report = json.loads(result.stdout)
    assert report["exit_code"] == result.returncode
    return result.returncode, report


def switch_off(db: Db, path: str, days_ago: int) -> None:
    """Switch the endpoint off as of `days_ago` days."""
    execute(db.url, "UPDATE api_endpoints SET is_active = 0 WHERE path = ?", [path])
    backdate = ("UPDATE api_endpoints SET updated_at = ? WHERE path = ?",
                [utcnow() - timedelta(days=days_ago), path])
    if db.dialect == "mysql":
        execute(db.url, *backdate)
        return
    if db.dialect == "postgresql":  # as SQLite, its BEFORE UPDATE trigger stamps updated_at
        execute(db.url, "ALTER TABLE api_endpoints DISABLE TRIGGER api_endpoints_before_update")
        execute(db.url, *backdate)
        execute(db.url, "ALTER TABLE api_endpoints ENABLE TRIGGER api_endpoints_before_update")
        return
    # NOTE: SQLite's update trigger stamps updated_at with now on every UPDATE.
    trigger = fetchval(db.url, "SELECT sql FROM sqlite_master WHERE name = ?", [UPDATE_TRIGGER])
    execute(db.url, f"DROP TRIGGER {UPDATE_TRIGGER}")
    execute(db.url, *backdate)
    execute(db.url, trigger)


def test_every_kind_of_finding(dialect: str, tmp_path: Path) -> None:
    root = tree(tmp_path / "tree")
    with fresh_database(dialect, tmp_path, seed=False) as db:
        env = env_for(db, root)
        run_cli(["seed"], env)
        switch_off(db, "/api/fx/old", 45)
        switch_off(db, "/api/fx/recent", 2)
        execute(db.url, "UPDATE api_endpoints SET crud_config = ? WHERE path = ?",
                [json.dumps({"table": "api_keys", "columns": ["id", "nope_col"]}),
                 "/api/fx/rows"])
        code, report = audit(env, root)

    found = {(f["section"], f["level"], f["subject"]): f for f in report["findings"]}
    assert code == 2
    assert set(found) == {
        ("handlers", "finding", "handler fx_orphan"),
        ("endpoints", "error", "GET /api/fx/new"),
        ("endpoints", "error", "GET /api/fx/table"),
        ("endpoints", "error", "GET /api/fx/rows"),
        ("inactive", "finding", "GET /api/fx/old"),
        ("inactive", "notice", "GET /api/fx/recent"),
        ("drift", "finding", "GET /api/fx/dbonly"),
        ("drift", "finding", "GET /api/fx/new"),
        ("drift", "finding", "GET /api/fx/table"),
        ("drift", "finding", "GET /api/fx/used"),
        ("drift", "finding", "GET /api/fx/rows"),
        ("dead-code", "finding", "fx_handlers/__init__.py:16 never_called"),
        ("dead-code", "finding", "fx_handlers/legacy.py:1 LEGACY"),
        ("old-files", "finding", "fx_handlers/legacy.py"),
    }
    assert "fx_handlers/__init__.py:11 (orphan)" in found[
        ("handlers", "finding", "handler fx_orphan")]["evidence"]
    assert "'fx_missing'" in found[("endpoints", "error", "GET /api/fx/new")]["reason"]
    assert "'no_such_table' does not exist" in found[
        ("endpoints", "error", "GET /api/fx/table")]["reason"]
    rows = found[("endpoints", "error", "GET /api/fx/rows")]
    assert "['nope_col']" in rows["reason"] and rows["evidence"] == "in the database"
    assert found[("inactive", "finding", "GET /api/fx/old")]["reason"] == \
        "switched off for 45 day(s)"
    assert "summary" in found[("drift", "finding", "GET /api/fx/used")]["reason"]
    assert "fx_handlers/__init__.py:3" in found[
        ("old-files", "finding", "fx_handlers/legacy.py")]["evidence"]


def test_clean_tree_exits_zero_and_notices_fail_only_strict(dialect: str,
                                                             tmp_path: Path) -> None:
    root = tree(tmp_path / "tree", audited=SEEDED.replace(
        endpoint("/api/fx/dbonly"), ""), dead=False)
    (root / "fx_handlers" / "legacy.py").unlink()
    with fresh_database(dialect, tmp_path, seed=False) as db:
        env = env_for(db, root)
        run_cli(["seed"], {**env, "TASKMANAGER_SEED_FILE": str(root / "audited.yaml")})
        code, report = audit(env, root, "--strict")
        assert (code, report["findings"]) == (1, [{
            "section": "handlers", "level": "finding", "subject": "handler fx_orphan",
            "reason": "registered in code, but no endpoint names it",
            "evidence": report["findings"][0]["evidence"], "removal": True}])
        (root / "fx_handlers" / "__init__.py").write_text(
            HANDLERS.split("@handler(\"fx_orphan\")")[0].replace(
                "from fx_handlers import legacy  # noqa: F401\n", ""))
        code, report = audit(env, root, "--strict")
        assert (code, report["findings"]) == (0, [])
        switch_off(db, "/api/fx/recent", 1)
        assert audit(env, root)[0] == 0
        code, report = audit(env, root, "--strict")
        assert code == 1 and [f["level"] for f in report["findings"]] == ["notice"]
        assert audit(env, root, "--strict", "--inactive-days", "1")[0] == 1


def test_write_and_database_option(dialect: str, tmp_path: Path) -> None:
    root = tree(tmp_path / "tree")
    with fresh_database(dialect, tmp_path, seed=False) as db:
        env = env_for(db, root)
        run_cli(["seed"], env)
        switch_off(db, "/api/fx/old", 45)
        elsewhere = {**env, "TASKMANAGER_DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"}
        code, report = audit(elsewhere, root)
        assert code == 2 and report["findings"][0]["section"] == "audit"
        assert "no SQLite database" in report["findings"][0]["reason"]
        assert not (tmp_path / "none.db").exists()
        code, _ = audit(elsewhere, root, "--database", db.url, "--write")
        assert code == 2  # the audited YAML has broken endpoints
        plain = run_cli(["audit", "--root", str(root), "--code", "fx_handlers", "--seed-file",
                         str(root / "audited.yaml"), "--database", db.url], elsewhere,
                        check=False)
    text = (root / "OLD_FILES_TO_REMOVE.md").read_text()
    generated = text.split("<!-- audit:begin -->")[1].split("<!-- audit:end -->")[0]
    assert "| `handler fx_orphan` | registered in code" in generated
    assert "| `GET /api/fx/old` | switched off for 45 day(s) |" in generated
    assert "| `GET /api/fx/dbonly` | only in the database" in generated
    assert "never_called" in generated and "GET /api/fx/new" not in generated
    assert text.split("<!-- audit:end -->")[1] == OLD_FILES.split("<!-- audit:end -->")[1]
    assert plain.returncode == 2
    assert dedent("""\
        Endpoints that cannot be served (2)
          error   GET /api/fx/new: names handler 'fx_missing', which no handler module""") \
        in plain.stdout
