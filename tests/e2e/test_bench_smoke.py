"""tools/bench_engine.py runs end to end on SQLite (a 1-second run; timings are not checked)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT, cli_env


@pytest.mark.parametrize(("client", "schedule"), [("python", "simultaneous"),
                                                  ("wrk", "simultaneous"), ("wrk", "sequential")])
def test_the_engine_benchmark_prints_its_table(client: str, schedule: str) -> None:
    if client == "wrk" and shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (the benchmark falls back to the Python client)")
    done = subprocess.run(
        [sys.executable, "-m", "tools.bench_engine", "--db", "sqlite", "--seconds", "1",
         "--rounds", "1", "--warmup", "0.5", "--concurrency", "2", "--client", client,
         "--schedule", schedule],
        cwd=ROOT, env=cli_env({}), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| request | engine req/s | hand-written req/s |" in done.stdout
    for request in ("`GET /api/health`", "`GET /api/endpoints?limit=20`"):
        row = next(line for line in done.stdout.splitlines() if line.startswith(f"| {request}"))
        assert row.rstrip().endswith("| 0 |"), row  # no failed requests
    assert f"1 {schedule} rounds" in done.stdout
    assert "lowest throughput ratio" in done.stdout
