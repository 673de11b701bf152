"""The Celery side of the report: one no-op task on a Redis broker (the `bench` extra).

`celery -A tools.bench.celery_app worker` reads the broker and queue from BENCH_CELERY_BROKER and
BENCH_CELERY_QUEUE; tools/bench/celery_drain.py builds the same app in-process to enqueue.
"""

from __future__ import annotations

import os

from celery import Celery


def unacked_keys(queue: str) -> dict[str, str]:
    """Kombu's bookkeeping keys, named after the queue so runs never share them."""
    return {"unacked_key": f"{queue}.unacked", "unacked_index_key": f"{queue}.unacked_index",
            "unacked_mutex_key": f"{queue}.unacked_mutex"}


def make_app(broker: str, queue: str) -> Celery:
    celery = Celery("tm_bench", broker=broker, set_as_current=False)
    celery.conf.update(
        task_default_queue=queue, task_default_exchange=queue, task_default_routing_key=queue,
        task_ignore_result=True, worker_enable_remote_control=False,
        worker_hijack_root_logger=False, broker_connection_retry_on_startup=True,
        broker_transport_options=unacked_keys(queue))
    celery.task(name="tm_bench.noop")(noop)
    return celery


def noop() -> None:
    """The task: nothing, so what is measured is Celery's own cost per task."""


app = make_app(os.environ.get("BENCH_CELERY_BROKER", "redis://127.0.0.1:6379/0"),
               os.environ.get("BENCH_CELERY_QUEUE", "tm_bench"))
