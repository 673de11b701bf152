"""tools/bench/report.py: each lifecycle row is held to its baseline at the same concurrency."""

from __future__ import annotations

from tools.bench.lifecycle import Row, median_row
from tools.bench.report import table, targets_summary, verdict


def _row(system: str, mode: str, concurrency: int, rate: float,
         cpu: float | None = 1.0) -> Row:
    return Row(system, mode, concurrency, rate, 1.0, 2.0, cpu)


ROWS = [_row("taskmanager", "single", 4, 90, cpu=2.0), _row("hand-written", "single", 4, 100),
        _row("taskmanager", "single", 16, 70), _row("hand-written", "single", 16, 100),
        _row("taskmanager", "batch", 4, 1000), _row("celery", "drain", 4, 400, cpu=None),
        _row("taskmanager", "batch", 16, 1000), _row("raw-db", "batch", 16, 2000)]


def test_a_ratio_at_or_above_the_target_is_met_and_one_below_is_not() -> None:
    assert verdict(ROWS, ROWS[0]) == ("≥ 0.8x hand-written single", "0.90", "yes")
    assert verdict(ROWS, ROWS[2]) == ("≥ 0.8x hand-written single", "0.70", "**no**")
    assert verdict(ROWS, ROWS[4]) == ("≥ 2x celery drain", "2.50", "yes")


def test_a_missing_baseline_is_neither_met_nor_missed_and_baselines_have_no_target() -> None:
    assert verdict(ROWS, ROWS[6]) == ("≥ 2x celery drain", "-", "-")
    assert verdict(ROWS, ROWS[1]) == ("", "", "")


def test_the_table_sorts_by_mode_and_concurrency_and_shows_the_ratios() -> None:
    lines = table(ROWS)
    systems = [line.split(" | ")[0].lstrip("| ") for line in lines[2:]]
    assert systems == ["taskmanager", "hand-written", "taskmanager", "hand-written",
                       "taskmanager", "taskmanager", "raw-db", "celery"]
    assert lines[2].endswith("| 0.90 | yes | 0.50 |")  # CPU ratio: 1.0 ms / 2.0 ms
    assert "| taskmanager | - | batch | 16 | 1,000 |" in lines[7] and "| 0.50 |" in lines[7]


def _on(database: str, system: str, rate: float) -> Row:
    return Row(system, "single", 4, rate, 1.0, 2.0, 1.0, database=database)


def test_a_row_is_held_to_its_baseline_on_its_own_database() -> None:
    rows = [_on("mariadb", "taskmanager", 90), _on("mariadb", "hand-written", 100),
            _on("postgresql", "taskmanager", 50), _on("postgresql", "hand-written", 100),
            _on("postgresql", "raw-db", 200)]
    assert verdict(rows, rows[0])[1:] == ("0.90", "yes")
    assert verdict(rows, rows[2])[1:] == ("0.50", "**no**")
    lines = table(rows)
    assert [line.split(" | ")[1] for line in lines[2:]] == ["mariadb"] * 2 + ["postgresql"] * 3
    assert "| taskmanager | postgresql | single | 4 | 50 |" in lines[4]
    assert "| 0.25 |" in lines[4] and "| 0.25 |" not in lines[2]  # vs its own database's raw-db
    summary = targets_summary(rows)
    assert summary[:2] == ["Targets met: 1 of 2.",
                           "- missed: taskmanager single (postgresql) at 4: 0.50x "
                           "(≥ 0.8x hand-written single)"]


def test_celery_is_the_baseline_on_either_database() -> None:
    rows = [Row("taskmanager", "batch", 2, 900, 1.0, 2.0, 1.0, database="mariadb"),
            Row("taskmanager", "batch", 2, 300, 1.0, 2.0, 1.0, database="postgresql"),
            Row("celery", "drain", 2, 300, None, None, None)]
    assert [verdict(rows, row)[1] for row in rows[:2]] == ["3.00", "1.00"]


def test_the_summary_counts_met_targets_and_names_the_missed_ones() -> None:
    summary = targets_summary(ROWS)
    assert summary[0] == "Targets met: 2 of 4."
    assert any("taskmanager single at 16: 0.70x" in line for line in summary)
    assert "- no baseline for taskmanager batch at 16 (≥ 2x celery drain)" in summary
    assert summary[-1] == "- CPU ratio vs the hand-written app: 0.50 to 1.00."


def test_rounds_are_reduced_to_the_median_of_each_figure() -> None:
    runs = [Row("raw-db", "single", 1, rate, p50, 9.0, None, errors)
            for rate, p50, errors in ((10, 3.0, 0), (30, 1.0, 1), (20, 2.0, 0))]
    assert median_row(runs) == Row("raw-db", "single", 1, 20, 2.0, 9.0, None, 1)
