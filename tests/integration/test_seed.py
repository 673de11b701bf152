"""`taskmanager seed`: the diff it prints, its flags, and bad files that write nothing."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import cli
from tests.conftest import DIALECTS, fresh_database, run_cli
from tests.conftest import TestDatabase as Db
from tests.support import rawdb
from tests.support.widgets import HANDLER_MODULES

ENTRY = """
  - method: {method}
    path: {path}
    operation_id: {op}
    summary: {summary}
    action: custom
    handler: test_whoami
    role: any
"""


@pytest.fixture(scope="module", params=DIALECTS)
def migrated(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Db]:
    """A migrated database per dialect, shared by this module."""
    with fresh_database(str(request.param), tmp_path_factory.mktemp("seed"), seed=False,
                        handler_modules=HANDLER_MODULES) as db:
        yield db


@pytest.fixture
def unseeded(migrated: Db) -> Db:
    """The shared database with an empty endpoint table."""
    rawdb.execute(migrated.url, "DELETE FROM api_endpoints")
    return migrated


@pytest.fixture
def seeder(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """`taskmanager seed` through cli.main in this process (starting one costs ~0.3 s).

    The real command runs as a subprocess in test_diff_output and the exit-code tests.
    """

    def run(db: Db, path: Path, *flags: str,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        for name in list(os.environ):
            if name.startswith("TASKMANAGER_") and not name.startswith("TASKMANAGER_TEST_"):
                monkeypatch.delenv(name)
        for name, value in db.env.items():
            monkeypatch.setenv(name, value)
        code = cli.main(["seed", "--file", str(path), *flags])
        out, err = capsys.readouterr()
        assert code == 0 or not check, out + err
        return subprocess.CompletedProcess(["seed"], code, out, err)

    return run


def seed_file(tmp_path: Path, *entries: str, name: str = "seed.yaml") -> Path:
    path = tmp_path / name
    path.write_text("endpoints:\n" + "".join(entries))
    return path


def entry(path: str, op: str, summary: str = "A test endpoint", method: str = "GET",
          **extra: object) -> str:
    text = ENTRY.format(method=method, path=path, op=op, summary=summary)
    return text + "".join(f"    {key}: {value}\n" for key, value in extra.items())


def seed(db: Db, path: Path, *flags: str, check: bool = True):
    return run_cli(["seed", "--file", str(path), *flags], db.env, check=check)


def snapshot(db: Db) -> list[tuple]:
    rows = rawdb.fetchall(db.url, "SELECT * FROM api_endpoints ORDER BY id")
    state = rawdb.fetchall(db.url, "SELECT * FROM api_endpoints_state")
    return [*rows, *state]


def active(db: Db, path: str) -> bool:
    return bool(rawdb.fetchval(db.url, "SELECT is_active FROM api_endpoints WHERE path = ?",
                               [path]))


def test_diff_output(unseeded, tmp_path):
    first = seed_file(tmp_path, entry("/api/a", "opA"), entry("/api/b", "opB"))
    out = seed(unseeded, first).stdout.splitlines()
    assert out == ["+ added     GET /api/a", "+ added     GET /api/b",
                   "2 added, 0 changed, 0 unchanged, 0 only in DB, 0 pruned"]
    again = seed(unseeded, first).stdout.splitlines()
    assert again == ["0 added, 0 changed, 2 unchanged, 0 only in DB, 0 pruned"]

    second = seed_file(tmp_path, entry("/api/a", "opA", summary="Changed text"),
                       entry("/api/c", "opC", method="POST"), name="second.yaml")
    out = seed(unseeded, second).stdout.splitlines()
    assert "+ added     POST /api/c" in out
    assert "~ changed   GET /api/a (summary)" in out
    assert "? only in DB GET /api/b (kept; --prune deletes it)" in out
    assert out[-1] == "1 added, 1 changed, 0 unchanged, 1 only in DB, 0 pruned"
    assert rawdb.fetchval(unseeded.url, "SELECT summary FROM api_endpoints WHERE path = ?",
                          ["/api/a"]) == "Changed text"
    assert active(unseeded, "/api/b")  # kept


def test_dry_run_writes_nothing(unseeded, tmp_path, seeder):
    seeder(unseeded, seed_file(tmp_path, entry("/api/a", "opA"), entry("/api/b", "opB")))
    before = snapshot(unseeded)
    changed = seed_file(tmp_path, entry("/api/a", "opA", summary="New"),
                        entry("/api/z", "opZ"), name="changed.yaml")
    for flags in (["--dry-run"], ["--dry-run", "--prune", "--reset-active"]):
        result = seeder(unseeded, changed, *flags)
        assert "dry run: nothing written" in result.stdout
        assert "+ added     GET /api/z" in result.stdout
        assert "~ changed   GET /api/a (summary)" in result.stdout
        assert snapshot(unseeded) == before


def test_prune_deletes_rows_not_in_the_file(unseeded, tmp_path, seeder):
    seeder(unseeded, seed_file(tmp_path, entry("/api/a", "opA"), entry("/api/b", "opB")))
    only_a = seed_file(tmp_path, entry("/api/a", "opA"), name="only-a.yaml")
    out = seeder(unseeded, only_a, "--prune").stdout.splitlines()
    assert "- pruned    GET /api/b" in out
    assert not any(line.startswith("?") for line in out)
    assert out[-1] == "0 added, 0 changed, 1 unchanged, 1 only in DB, 1 pruned"
    paths = rawdb.fetchall(unseeded.url, "SELECT path FROM api_endpoints")
    assert paths == [("/api/a",)]


def test_is_active_survives_reseed_unless_reset(unseeded, tmp_path, seeder):
    path = seed_file(tmp_path, entry("/api/a", "opA"),
                     entry("/api/off", "opOff", is_active="false"))
    seeder(unseeded, path)
    assert active(unseeded, "/api/a") and not active(unseeded, "/api/off")
    rawdb.execute(unseeded.url, "UPDATE api_endpoints SET is_active = 0 WHERE path = '/api/a'")
    rawdb.execute(unseeded.url, "UPDATE api_endpoints SET is_active = 1 WHERE path = '/api/off'")

    kept = seeder(unseeded, path).stdout.splitlines()
    assert kept == ["0 added, 0 changed, 2 unchanged, 0 only in DB, 0 pruned"]
    assert not active(unseeded, "/api/a") and active(unseeded, "/api/off")

    reset = seeder(unseeded, path, "--reset-active").stdout.splitlines()
    assert "~ changed   GET /api/a (is_active)" in reset
    assert "~ changed   GET /api/off (is_active)" in reset
    assert active(unseeded, "/api/a") and not active(unseeded, "/api/off")


def test_the_real_seed_file_is_valid_and_idempotent(unseeded):
    first = run_cli(["seed"], unseeded.env).stdout.splitlines()
    assert first[-1].endswith(" added, 0 changed, 0 unchanged, 0 only in DB, 0 pruned")
    again = run_cli(["seed"], unseeded.env).stdout.splitlines()
    assert again[-1].startswith("0 added, 0 changed, ")
    assert again[-1].endswith(" unchanged, 0 only in DB, 0 pruned")


def test_a_rate_limit_is_stored_with_its_scope_and_changes_are_seen(unseeded, tmp_path, seeder):
    limited = seed_file(tmp_path, entry("/api/a", "opA",
                                        rate_limit="{requests: 5, window_seconds: 60}"))
    seeder(unseeded, limited)
    stored = rawdb.fetchval(unseeded.url, "SELECT rate_limit FROM api_endpoints")
    assert json.loads(stored) == {"requests": 5, "window_seconds": 60, "scope": "key"}
    assert seeder(unseeded, limited).stdout.splitlines()[-1].startswith("0 added, 0 changed")
    changed = seed_file(tmp_path, entry("/api/a", "opA",
                                        rate_limit="{requests: 9, window_seconds: 60}"))
    assert "~ changed   GET /api/a (rate_limit)" in seeder(unseeded, changed).stdout
    assert "~ changed   GET /api/a (rate_limit)" in seeder(unseeded, seed_file(
        tmp_path, entry("/api/a", "opA"))).stdout
    assert rawdb.fetchval(unseeded.url, "SELECT rate_limit FROM api_endpoints") is None


def test_etag_is_stored_and_changes_are_seen(unseeded, tmp_path, seeder):
    seeder(unseeded, seed_file(tmp_path, entry("/api/a", "opA", etag="true")))
    assert rawdb.fetchval(unseeded.url, "SELECT etag FROM api_endpoints") == 1
    off = seeder(unseeded, seed_file(tmp_path, entry("/api/a", "opA"))).stdout
    assert "~ changed   GET /api/a (etag)" in off
    assert rawdb.fetchval(unseeded.url, "SELECT etag FROM api_endpoints") == 0


def _bad(path: str = "/api/x", op: str = "opX", **extra: object) -> str:
    return entry(path, op, **extra)


CRUD_PARENT_WITHOUT_PATH = """
  - method: GET
    path: /api/bad
    operation_id: opBad
    summary: Parent without a path filter
    action: list
    role: admin
    crud: {table: task_history, columns: [id], parent: {table: tasks}}
"""
CRUD_BAD_PARENT = """
  - method: GET
    path: /api/bad/{id}
    operation_id: opBad
    summary: Bad parent table
    action: list
    role: admin
    path_schema: {type: object, properties: {id: {type: integer}}, required: [id]}
    crud: {table: task_history, columns: [id], path_filters: {id: task_id},
           parent: {table: "tasks; DROP TABLE tasks"}}
"""
CRUD_BAD_CHILDREN = """
  - method: GET
    path: /api/bad/{id}
    operation_id: opBad
    summary: Bad children column
    action: list
    role: admin
    path_schema: {type: object, properties: {id: {type: integer}}, required: [id]}
    crud: {table: task_logs, columns: [id], path_filters: {id: task_id},
           parent: {table: tasks, children: {column: "parent_id OR 1=1"}}}
"""
CRUD_MAPPED_RANGE = """
  - method: GET
    path: /api/bad
    operation_id: opBad
    summary: A map on two operators
    action: list
    role: admin
    crud: {table: task_logs, columns: [id],
           filters: {level_no: {ops: [gte, lte], param: level, map: {low: 1}}}}
"""
CRUD_BAD_TABLE = """
  - method: GET
    path: /api/bad
    operation_id: opBad
    summary: Bad table
    action: list
    role: admin
    crud: {table: "api_keys; DROP TABLE api_keys", columns: [id]}
"""
CRUD_BAD_COLUMN = """
  - method: GET
    path: /api/bad
    operation_id: opBad
    summary: Bad column
    action: list
    role: admin
    crud: {table: api_keys, columns: [id, "key_hash AS k"]}
"""
CRUD_NULL_OP = """
  - method: GET
    path: /api/bad
    operation_id: opBad
    summary: Bare null operator
    action: list
    role: admin
    crud: {table: api_keys, columns: [id], filters: {revoked_at: {ops: [null]}}}
"""
CRUD_BAD_FILTER_SCHEMA = """
  - method: GET
    path: /api/bad
    operation_id: opBad
    summary: Bad filter schema
    action: list
    role: admin
    crud: {table: api_keys, columns: [id], filters: {name: {ops: [eq], schema: {type: 12}}}}
"""
CRUD_MISSING = """
  - method: GET
    path: /api/bad
    operation_id: opBad
    summary: No crud
    action: get
    role: admin
"""

# (file text after "endpoints:", the bad entry's label, words the message must contain)
BAD_FILES = {
    "unknown key": (_bad(summry="typo"), "entry 2 (GET /api/x)", ["summry"]),
    "unknown handler": (_bad().replace("test_whoami", "no_such_handler"),
                        "entry 2 (GET /api/x)", ["unknown handler", "no_such_handler"]),
    "invalid json schema": (_bad(body_schema="{type: 12}"), "entry 2 (GET /api/x)",
                            ["body_schema", "not a valid JSON Schema"]),
    "invalid path schema fields": (_bad(path="/api/x/{id}", path_schema=(
        "{type: object, properties: {key: {type: string}}}")), "entry 2 (GET /api/x/{id})",
        ["path_schema", "id"]),
    "duplicate method+path": (_bad(path="/api/new", op="opOther"), "entry 2 (GET /api/new)",
                              ["duplicate method+path", "first at entry 2"]),
    "duplicate operation_id": (_bad(op="opA"), "entry 2 (GET /api/x)",
                               ["duplicate operation_id", "opA"]),
    "bad crud table": (CRUD_BAD_TABLE, "entry 2 (GET /api/bad)", ["invalid identifiers"]),
    "crud parent without a path filter": (CRUD_PARENT_WITHOUT_PATH, "entry 2 (GET /api/bad)",
                                          ["parent", "path_filters"]),
    "bad crud parent": (CRUD_BAD_PARENT, "entry 2 (GET /api/bad/{id})",
                        ["invalid identifiers", "DROP TABLE"]),
    "bad crud children column": (CRUD_BAD_CHILDREN, "entry 2 (GET /api/bad/{id})",
                                 ["invalid identifiers", "1=1"]),
    "crud map on two operators": (CRUD_MAPPED_RANGE, "entry 2 (GET /api/bad)",
                                  ["exactly one operator"]),
    "bad crud column": (CRUD_BAD_COLUMN, "entry 2 (GET /api/bad)", ["key_hash AS k"]),
    "bare null operator": (CRUD_NULL_OP, "entry 2 (GET /api/bad)", ["None", "null"]),
    "bad filter schema": (CRUD_BAD_FILTER_SCHEMA, "entry 2 (GET /api/bad)", ["12"]),
    "crud missing": (CRUD_MISSING, "entry 2 (GET /api/bad)", ["crud"]),
    "bad role": (_bad().replace("role: any", "role: root"), "entry 2 (GET /api/x)", ["root"]),
    "bad method": (_bad(method="TRACE"), "entry 2 (TRACE /api/x)", ["TRACE"]),
    "bad path": (_bad(path="/api/x", op="opX") + _bad(path="/v1/x", op="opV"),
                 "entry 4 (GET /v1/x)", ["/v1/x"]),
    "rate limit of 0 requests": (_bad(rate_limit="{requests: 0, window_seconds: 60}"),
                                 "entry 2 (GET /api/x)", ["rate_limit.requests", "0"]),
    "rate limit without a window": (_bad(rate_limit="{requests: 5}"), "entry 2 (GET /api/x)",
                                    ["rate_limit", "window_seconds", "required"]),
    "rate limit window too long": (_bad(rate_limit="{requests: 5, window_seconds: 90000}"),
                                   "entry 2 (GET /api/x)", ["rate_limit.window_seconds"]),
    "rate limit bad scope": (_bad(rate_limit="{requests: 5, window_seconds: 60, scope: user}"),
                             "entry 2 (GET /api/x)", ["rate_limit.scope", "user"]),
    "rate limit unknown key": (_bad(rate_limit="{requests: 5, window_seconds: 60, per: ip}"),
                               "entry 2 (GET /api/x)", ["rate_limit", "per"]),
    "etag on a POST": (_bad(method="POST", etag="true"), "entry 2 (POST /api/x)",
                       ["etag", "GET"]),
    "etag not a boolean": (_bad(etag="sometimes"), "entry 2 (GET /api/x)", ["etag"]),
    "conflicting path templates": (_bad(path="/api/c/{id}", op="opC1")
                                   + _bad(path="/api/c/{key}/x", op="opC2"),
                                   "entry 4 (GET /api/c/{key}/x)", ["conflicts"]),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_seed_file_writes_nothing(unseeded, tmp_path, case, seeder):
    before = snapshot(unseeded)
    text, label, words = BAD_FILES[case]
    # Entries 1 and 2 would add rows if anything were written.
    bad = seed_file(tmp_path, entry("/api/a", "opA"), entry("/api/new", "opNew"), text)
    label = label.replace("entry 2", "entry 3")
    result = seeder(unseeded, bad, check=False)
    code, out, err = result.returncode, result.stdout, result.stderr
    assert code == 2, out + err
    assert "nothing written" in err
    problem = next((line for line in err.splitlines() if label in line), None)
    assert problem, f"no line names {label!r}:\n{err}"
    assert str(bad) in problem
    for word in words:
        assert word in problem, f"{word!r} missing from: {problem}"
    assert snapshot(unseeded) == before
    assert out == ""


def test_bad_seed_file_exit_code_of_the_real_command(unseeded, tmp_path):
    before = snapshot(unseeded)
    bad = seed_file(tmp_path, entry("/api/a", "opA"), _bad().replace("test_whoami", "ghost"))
    result = seed(unseeded, bad, check=False)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{bad}: entry 2 (GET /api/x): unknown handler 'ghost'" in result.stderr
    assert snapshot(unseeded) == before


@pytest.mark.parametrize(("text", "words"), [
    ("endpoint:\n  - {}\n", ["endpoint"]),
    ("endpoints: [\n", ["cannot read YAML"]),
    ("endpoints:\n  - just a string\n", ["entry 1", "mapping"]),
])
def test_bad_file_structure(unseeded, tmp_path, text, words, seeder):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    result = seeder(unseeded, path, check=False)
    code, err = result.returncode, result.stderr
    assert code == 2
    assert str(path) in err
    for word in words:
        assert word in err


def test_missing_file(unseeded, tmp_path, seeder):
    result = seeder(unseeded, tmp_path / "nope.yaml", check=False)
    code, err = result.returncode, result.stderr
    assert code == 2
    assert "nope.yaml" in err


def test_every_problem_is_reported_at_once(unseeded, tmp_path, seeder):
    bad = seed_file(tmp_path, _bad(summry="x"), _bad("/api/y", "opY").replace(
        "test_whoami", "ghost"))
    result = seeder(unseeded, bad, check=False)
    code, err = result.returncode, result.stderr
    assert code == 2
    assert "entry 1 (GET /api/x)" in err and "entry 2 (GET /api/y)" in err


def test_seed_on_an_unmigrated_database_fails_cleanly(empty_database, tmp_path):
    path = seed_file(tmp_path, entry("/api/a", "opA").replace("test_whoami", "health"))
    result = seed(empty_database, path, check=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert "migrate" in result.stderr.lower()


def test_operation_id_held_by_a_row_only_in_the_db(unseeded, tmp_path, seeder):
    """Moving a path but keeping its operation_id: the old row still holds the id."""
    seeder(unseeded, seed_file(tmp_path, entry("/api/old", "opMoved"), entry("/api/b", "opB")))
    before = snapshot(unseeded)
    moved = seed_file(tmp_path, entry("/api/b", "opB"), entry("/api/new", "opMoved"),
                      name="moved.yaml")
    result = seeder(unseeded, moved, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "nothing written" in result.stderr and "opMoved" in result.stderr
    assert "--prune" in result.stderr
    assert snapshot(unseeded) == before
    out = seeder(unseeded, moved, "--prune").stdout.splitlines()
    assert "+ added     GET /api/new" in out and "- pruned    GET /api/old" in out
