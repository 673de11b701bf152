"""The Celery side of the report: one no-op task on a Redis broker (the `bench` extra).

`celery -A tools.bench.celery_app worker` reads the broker, the queue and whether results are
stored from BENCH_CELERY_BROKER, BENCH_CELERY_QUEUE and BENCH_CELERY_RESULTS;
tools/bench/celery_runs.py builds the same app in-process to enqueue.
"""

from __future__ import annotations

import os

from celery import Celery


def unacked_keys(queue: str) -> dict[str, str]:
    """Kombu's bookkeeping keys, named after the queue so runs never share them."""
    return {"unacked_key": f"{queue}.unacked", "unacked_index_key": f"{queue}.unacked_index",
            "unacked_mutex_key": f"{queue}.unacked_mutex"}


def make_app(broker: str, queue: str, results: bool = False) -> Celery:
    """The app on `queue`; `results` stores each task's result on Redis, keys under `queue`."""
    celery = Celery("tm_bench", broker=broker, backend=broker if results else None,
                    set_as_current=False)
    celery.conf.update(
        task_default_queue=queue, task_default_exchange=queue, task_default_routing_key=queue,
        task_ignore_result=not results, worker_enable_remote_control=False,
        worker_hijack_root_logger=False, broker_connection_retry_on_startup=True,
        broker_transport_options=unacked_keys(queue),
        result_backend_transport_options={"global_keyprefix": f"{queue}."})
    celery.task(name="tm_bench.noop")(noop)
    return celery


def noop() -> None:
    """The task: nothing, so what is measured is Celery's own cost per task."""


app = make_app(os.environ.get("BENCH_CELERY_BROKER", "redis://127.0.0.1:6379/0"),
               os.environ.get("BENCH_CELERY_QUEUE", "tm_bench"),
               os.environ.get("BENCH_CELERY_RESULTS") == "1")
