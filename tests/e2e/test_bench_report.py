"""`python -m tools.bench report` runs end to end at a tiny size (timings are not checked).

It needs the `bench` extra (Celery, matplotlib), MariaDB, PostgreSQL and Redis: skipped without
them on a user's machine, failed in CI (scripts/test.sh installs the extra; CI's machine runs the
servers).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pymysql
import pytest

from tests.conftest import (
    IN_CI,
    MYSQL_URL,
    POSTGRES_URL,
    ROOT,
    _mysql_admin,
    _postgres_admin,
    cli_env,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
SYSTEMS = {"taskmanager", "hand-written", "raw-db"}
DATABASES = ("mariadb", "postgresql")
BENCH_DATABASES = "SELECT datname FROM pg_database WHERE datname LIKE 'tm\\_bench\\_claims\\_%'"


def _require(ok: bool, what: str) -> None:
    if not ok:
        if IN_CI:
            pytest.fail(f"{what} is required in CI", pytrace=False)
        pytest.skip(f"no {what}")


def _redis_keys() -> set[bytes]:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        return set(client.scan_iter(match="*tm_bench_*"))
    finally:
        client.close()


def _bench_databases() -> set[str]:
    """The benchmark's throwaway databases on both servers."""
    admin = _mysql_admin()
    try:
        with admin.cursor() as cursor:
            cursor.execute("SHOW DATABASES LIKE 'tm\\_bench\\_claims\\_%'")
            found = {f"mariadb:{row[0]}" for row in cursor.fetchall()}
    finally:
        admin.close()
    with _postgres_admin() as pg:
        return found | {f"postgresql:{row[0]}" for row in pg.execute(BENCH_DATABASES)}


@pytest.fixture
def services() -> None:
    for module in ("celery", "matplotlib", "redis"):
        _require(importlib.util.find_spec(module) is not None,
                 f"the `bench` extra ({module}: pip install -e '.[bench]')")
    try:
        _bench_databases()
    except pymysql.err.MySQLError:
        _require(False, f"MariaDB at {MYSQL_URL}")
    except psycopg.Error:
        _require(False, f"PostgreSQL at {POSTGRES_URL}")
    import redis

    try:
        _redis_keys()
    except redis.exceptions.ConnectionError:
        _require(False, f"Redis at {REDIS_URL}")


@pytest.mark.mysql
def test_the_report_measures_every_system_and_draws_its_chart(services: None,
                                                              tmp_path: Path) -> None:
    keys, databases = _redis_keys(), _bench_databases()
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "tools.bench", "report", "--concurrency", "1,2",
         "--seconds", "0.5", "--ramp", "0.2", "--warmup", "0.3", "--pending", "200",
         "--batch", "5", "--celery-tasks", "60", "--mysql-url", MYSQL_URL,
         "--postgres-url", POSTGRES_URL, "--redis-url", REDIS_URL, "--out", str(out)],
        cwd=ROOT, env=cli_env({}), capture_output=True, text=True, timeout=420)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = json.loads((out / "rows.json").read_text())
    measured = {(r["system"], r["mode"], r["concurrency"], r["database"]) for r in rows}
    assert measured == {(s, m, c, d) for s in SYSTEMS for m in ("single", "batch")
                        for c in (1, 2) for d in DATABASES} | {
        ("celery", m, c, "") for m in ("drain", "round-trip") for c in (1, 2)}
    assert all(r["tasks_per_s"] > 0 and r["errors"] == 0 for r in rows), rows
    report = (out / "report.md").read_text()
    assert "| system | database | mode | concurrency | tasks/s | p50 ms | p99 ms |" in report
    for database in DATABASES:
        assert report.count(f"| taskmanager | {database} | single |") == 2
        assert report.count(f"| hand-written | {database} | batch |") == 2
    assert report.count("≥ 0.8x hand-written single |") == 4
    assert report.count("≥ 2x celery drain |") == 4
    assert "- Lifecycles: MariaDB and PostgreSQL" in report
    assert "Targets met:" in report
    assert (out / "throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _redis_keys() <= keys  # the run's queue and bookkeeping keys are gone
    assert _bench_databases() <= databases  # so are its databases, on both servers
