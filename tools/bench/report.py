"""The report's outputs: a Markdown table of every run with its target, and a two-panel chart.

Each lifecycle row is held to its baseline on the same database (MariaDB or PostgreSQL) at the
same concurrency; Celery's rows (no database) are the baseline of either.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from tools.bench.lifecycle import Row

# (system, mode) -> (baseline system, baseline mode, minimum ratio to it)
TARGETS = {("taskmanager", "single"): ("hand-written", "single", 0.80),
           ("taskmanager", "batch"): ("celery", "drain", 2.0)}
HEAD = ["| system | database | mode | concurrency | tasks/s | p50 ms | p99 ms | CPU ms/task | "
        "errors | vs raw-db | target | ratio | met | CPU ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
# NOTE: only the hand-written app's CPU is measured alike (its server processes, as ours);
# Celery's covers its whole worker, ours leaves the claiming processes out.
CPU_COMPARABLE = {"hand-written"}
STYLE = {"taskmanager": "tab:blue", "hand-written": "tab:orange", "raw-db": "tab:green",
         "celery": "tab:red"}
LINES = {"single": "--", "batch": "-", "drain": ":", "round-trip": "-."}
MARKERS = {"mariadb": "o", "postgresql": "^", "": "s"}  # "": Celery, on neither


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _find(rows: list[Row], system: str, mode: str, concurrency: int,
          database: str) -> Row | None:
    """That run on `database`, or Celery's (on no database)."""
    return next((r for r in rows if (r.system, r.mode, r.concurrency) ==
                 (system, mode, concurrency) and r.database in (database, "")), None)


def _name(row: Row) -> str:
    return f"{row.system} {row.mode}" + (f" ({row.database})" if row.database else "")


def verdict(rows: list[Row], row: Row) -> tuple[str, str, str]:
    """(target, ratio, met) of `row`: blank when it has no target or its baseline is missing."""
    target = TARGETS.get((row.system, row.mode))
    if target is None:
        return "", "", ""
    system, mode, minimum = target
    label = f"≥ {minimum:g}x {system} {mode}"
    base = _find(rows, system, mode, row.concurrency, row.database)
    if base is None or not base.tasks_per_s:
        return label, "-", "-"
    ratio = row.tasks_per_s / base.tasks_per_s
    return label, f"{ratio:.2f}", "yes" if ratio >= minimum else "**no**"


def _cpu_ratio(rows: list[Row], row: Row) -> str:
    target = TARGETS.get((row.system, row.mode))
    if target is None or target[0] not in CPU_COMPARABLE:
        return ""
    base = _find(rows, target[0], target[1], row.concurrency, row.database)
    if base is None or not base.cpu_ms_per_task or not row.cpu_ms_per_task:
        return "-"
    return f"{base.cpu_ms_per_task / row.cpu_ms_per_task:.2f}"


def _vs_raw(rows: list[Row], row: Row) -> str:
    raw = _find(rows, "raw-db", row.mode, row.concurrency, row.database)
    if row.system in ("raw-db", "celery") or raw is None or not raw.tasks_per_s:
        return ""
    return f"{row.tasks_per_s / raw.tasks_per_s:.2f}"


def _order(row: Row) -> tuple[int, int, int, int]:
    return (list(LINES).index(row.mode), row.concurrency, list(MARKERS).index(row.database),
            list(STYLE).index(row.system))


def table(rows: list[Row]) -> list[str]:
    lines = list(HEAD)
    for row in sorted(rows, key=_order):
        cpu = "-" if row.cpu_ms_per_task is None else f"{row.cpu_ms_per_task:.2f}"
        lines.append(f"| {row.system} | {row.database or '-'} | {row.mode} | {row.concurrency} | "
                     f"{row.tasks_per_s:,.0f} | {_ms(row.p50_ms)} | {_ms(row.p99_ms)} | {cpu} | "
                     f"{row.errors} | {_vs_raw(rows, row)} | "
                     f"{' | '.join(verdict(rows, row))} | {_cpu_ratio(rows, row)} |")
    return lines


def targets_summary(rows: list[Row]) -> list[str]:
    checked = [(row, verdict(rows, row)) for row in rows if (row.system, row.mode) in TARGETS]
    met = [row for row, (_, _, ok) in checked if ok == "yes"]
    lines = [f"Targets met: {len(met)} of {len(checked)}."]
    lines += [f"- missed: {_name(row)} at {row.concurrency}: {ratio}x ({label})"
              if ratio != "-" else f"- no baseline for {_name(row)} at "
              f"{row.concurrency} ({label})" for row, (label, ratio, ok) in checked if ok != "yes"]
    cpu = [float(found) for row, _ in checked if (found := _cpu_ratio(rows, row)) not in ("", "-")]
    if cpu:
        lines.append(f"- CPU ratio vs the hand-written app: {min(cpu):.2f} to {max(cpu):.2f}.")
    return lines


def chart(rows: list[Row], path: Path, title: str) -> None:
    """Throughput and p99 latency by concurrency, one line per system, mode and database."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2))
    series = sorted({(r.system, r.mode, r.database) for r in rows},
                    key=lambda s: (list(STYLE).index(s[0]), s[1], list(MARKERS).index(s[2])))
    for system, mode, database in series:
        points = sorted((r for r in rows if (r.system, r.mode, r.database) ==
                         (system, mode, database)), key=lambda r: r.concurrency)
        style = {"color": STYLE[system], "linestyle": LINES[mode], "label": _name(points[0]),
                 "marker": MARKERS[database]}
        left.plot([r.concurrency for r in points], [r.tasks_per_s for r in points], **style)
        timed = [r for r in points if r.p99_ms is not None]
        if timed:
            right.plot([r.concurrency for r in timed], [r.p99_ms for r in timed], **style)
    concurrency = sorted({r.concurrency for r in rows})
    right.set_yscale("log")
    right.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    right.yaxis.set_minor_formatter(ticker.NullFormatter())
    for axis, label in ((left, "tasks/s"), (right, "p99 ms of one claim + its complete")):
        axis.set_xscale("log", base=2)
        axis.set_xticks(concurrency, [str(c) for c in concurrency])
        axis.yaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:,.4g}"))
        axis.set_xlabel("worker processes")
        axis.set_ylabel(label)
        axis.grid(True, alpha=0.3)
    left.set_title("Throughput")
    right.set_title("p99 latency (batch: a whole batch; Celery: one task's round trip)")
    left.legend(fontsize=8, ncols=2)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write(out: Path, rows: list[Row], setup: list[str], title: str) -> Path:
    """report.md (+ throughput.png, rows.json) in `out`; returns the Markdown file."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "rows.json").write_text(json.dumps([dataclasses.asdict(r) for r in rows], indent=1))
    notes = [f"- {r.system} {r.mode} at {r.concurrency}: {r.note}" for r in rows if r.note]
    text = [f"# {title}", "", *setup, "", *table(rows), "", *targets_summary(rows), "", *notes,
            "", "![throughput and p99 by concurrency](throughput.png)"]
    chart(rows, out / "throughput.png", title)
    report = out / "report.md"
    report.write_text("\n".join(text) + "\n")
    return report
