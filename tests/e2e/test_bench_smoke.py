"""tools/bench_engine.py runs end to end on SQLite (a 1-second run; timings are not checked)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import IN_CI, ROOT, cli_env


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


def test_the_instruction_count_benchmark_prints_its_table() -> None:
    if shutil.which("valgrind") is None:
        if IN_CI:
            pytest.fail("valgrind is required in CI", pytrace=False)
        pytest.skip("valgrind is not installed")
    done = subprocess.run(
        [sys.executable, "-m", "tools.bench_engine", "--db", "sqlite", "--measure",
         "instructions", "--requests", "20"],
        cwd=ROOT, env=cli_env({}), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| request | engine instructions/req | hand-written instructions/req |" in done.stdout
    for request in ("`GET /api/health`", "`GET /api/endpoints?limit=20`"):
        row = next(line for line in done.stdout.splitlines() if line.startswith(f"| {request}"))
        engine, hand = (int(cell.strip().replace(",", "")) for cell in row.split("|")[2:4])
        assert engine > 100_000 and hand > 100_000, row  # a whole server's work, not a stub
    assert "lowest instruction ratio" in done.stdout


def test_the_lifecycle_instruction_count_prints_its_table() -> None:
    if shutil.which("valgrind") is None:
        if IN_CI:
            pytest.fail("valgrind is required in CI", pytrace=False)
        pytest.skip("valgrind is not installed")
    done = subprocess.run(
        [sys.executable, "-m", "tools.bench_engine", "--db", "sqlite", "--measure",
         "instructions", "--lifecycle", "--lifecycles", "3", "--batches", "1"],
        cwd=ROOT, env=cli_env({}), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| lifecycle | engine instructions/task | hand-written instructions/task |" \
        in done.stdout
    for phase in ("single", "batch-50"):
        row = next(line for line in done.stdout.splitlines() if line.startswith(f"| {phase} "))
        engine, hand = (int(cell.strip().replace(",", "")) for cell in row.split("|")[2:4])
        assert engine > 100_000 and hand > 100_000, row  # a whole server's work, not a stub
    assert "(target: engine >= 90% of hand-written)" in done.stdout
    floor = next(line for line in done.stdout.splitlines() if line.startswith("HTTP floor"))
    count = int(floor.split(": ", 1)[1].split(" instructions", 1)[0].replace(",", ""))
    assert count > 100_000, floor  # two requests through gunicorn, not a stub


def test_lifecycle_needs_the_instruction_count() -> None:
    done = subprocess.run([sys.executable, "-m", "tools.bench_engine", "--lifecycle"],
                          cwd=ROOT, env=cli_env({}), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--lifecycle goes with --measure instructions" in done.stderr
