"""tools/bench_etag.py runs end to end on SQLite (20 polls; timings are not checked)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT, cli_env


def test_the_etag_benchmark_prints_its_table() -> None:
    done = subprocess.run([sys.executable, "-m", "tools.bench_etag", "--polls", "20",
                           "--params-bytes", "500"],
                          cwd=ROOT, env=cli_env({}), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
            for line in done.stdout.splitlines() if line.startswith("| plain GET")
            or line.startswith("| If-None-Match")}
    assert rows["plain GET"][:2] == ["20", "[200]"]
    assert rows["If-None-Match"][:2] == ["20", "[304]"]
    plain, conditional = (int(rows[m][2].replace(",", "")) for m in ("plain GET", "If-None-Match"))
    assert conditional < plain / 2  # the 304s carry no body
    assert "If-None-Match:" in done.stdout and "of the server CPU" in done.stdout
