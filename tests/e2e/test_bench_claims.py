"""`python -m tools.bench_claims` runs end to end at a tiny size (timings are not checked).

It needs MariaDB (and PostgreSQL for its run there): skipped without it on a user's machine,
failed in CI.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import (
    IN_CI,
    MYSQL_URL,
    POSTGRES_URL,
    ROOT,
    _mysql_admin,
    _mysql_available,
    _postgres_available,
    cli_env,
)

BUFFER_POOL = "SELECT @@innodb_buffer_pool_size"


def _pool_size() -> int:
    conn = _mysql_admin()
    try:
        with conn.cursor() as cursor:
            cursor.execute(BUFFER_POOL)
            return int(cursor.fetchone()[0])
    finally:
        conn.close()


def test_the_claim_benchmark_prints_its_tables_and_restores_the_buffer_pool() -> None:
    if not _mysql_available():
        if IN_CI:
            pytest.fail("MariaDB is required in CI", pytrace=False)
        pytest.skip("no MariaDB")
    pool = _pool_size()
    asked = (pool >> 20) + 128
    done = subprocess.run(
        [sys.executable, "-m", "tools.bench_claims", "--pending", "400", "--workers", "2",
         "--seconds", "1", "--ramp", "0.2", "--server-workers", "2",
         "--buffer-pool-mb", str(asked), "--mysql-url", MYSQL_URL.rsplit("/", 1)[0] + "/"],
        cwd=ROOT, env=cli_env({}), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert f"innodb_buffer_pool_size {asked} MB" in out  # set for the run ...
    assert _pool_size() == pool  # ... and put back
    assert re.search(r"hold \d+ MB \(data \+ indexes\) and fit in the \d+ MB buffer pool", out)
    row_start = re.compile(r"\| 400 \| (single|batch) \| 2 \|")
    rows = [line for line in out.splitlines() if row_start.match(line)]
    assert {row.split("|")[2].strip() for row in rows} == {"single", "batch"}, out
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert int(cells[-1]) == 0, row  # no failed request
        assert float(cells[3].replace(",", "")) > 0, row  # tasks/s
    assert "No claim SELECT filesorts or scans the whole table." in out


def test_the_claim_benchmark_runs_on_postgresql() -> None:
    if not _postgres_available():
        if IN_CI:
            pytest.fail("PostgreSQL is required in CI", pytrace=False)
        pytest.skip("no PostgreSQL")
    done = subprocess.run(
        [sys.executable, "-m", "tools.bench_claims", "--db", "postgresql", "--pending", "400",
         "--workers", "2", "--seconds", "1", "--ramp", "0.2", "--server-workers", "2",
         "--postgres-url", POSTGRES_URL],
        cwd=ROOT, env=cli_env({}), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "shared_buffers" in out and "## Claim benchmark: PostgreSQL" in out
    rows = [line for line in out.splitlines() if line.startswith("| 400 | ")]
    assert {row.split("|")[2].strip() for row in rows} == {"single", "batch"}, out
    assert all(int(row.strip("|").split("|")[-1]) == 0 for row in rows), out  # no errors
    assert "No claim SELECT sorts or scans the whole table." in out
    assert "LockRows" in out and "using ix_tasks_queue_prio" in out
