"""The SDK's log forwarding without a server: levels, the bounded queue, batches, threads."""

from __future__ import annotations

import logging
import threading

from taskmanager.task_logs import LogShipper, TaskLogHandler, level_name, line


class Recorder:
    """Stands in for `Worker.log_lines`: records what would be POSTed."""

    worker_id = "w-test"

    def __init__(self) -> None:
        self.posts: list[tuple[int, list[dict]]] = []

    def log_lines(self, task_id: int, lines: list[dict]) -> dict:
        self.posts.append((task_id, lines))
        return {"stored": len(lines)}


def test_levels_map_like_logging():
    assert [level_name(n) for n in (5, 10, 20, 25, 30, 40, 50)] == [
        "debug", "debug", "info", "info", "warning", "error", "error"]
    assert line(20, "")["message"] == "-" and len(line(20, "x" * 20_000)["message"]) == 10_000
    assert line(20, "m", {"bad": object()})["data"]["bad"].startswith("<object")


def test_a_full_queue_drops_and_counts_and_flush_says_so():
    recorder = Recorder()
    shipper = LogShipper(recorder, capacity=3)  # type: ignore[arg-type]
    for n in range(5):
        shipper.add(7, line(20, f"n{n}"))
    assert shipper.dropped == 2
    shipper.flush(7)
    [(task_id, sent)] = recorder.posts
    assert task_id == 7 and [item["message"] for item in sent[:3]] == ["n0", "n1", "n2"]
    assert sent[3]["level"] == "warning" and sent[3]["message"].startswith("2 log line(s) dropped")
    shipper.flush(7)
    assert len(recorder.posts) == 1  # nothing left


def test_batches_of_500_and_only_marked_threads():
    recorder = Recorder()
    shipper = LogShipper(recorder)  # type: ignore[arg-type]
    handler = TaskLogHandler(shipper, logging.INFO)
    logger = logging.getLogger("test.sdk.task_logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        with shipper.capture(3):
            for n in range(1200):
                logger.info("line %d", n)
            logger.debug("not forwarded")
            other = threading.Thread(target=lambda: logger.info("another thread"))
            other.start()
            other.join()
        logger.info("after the task")
    finally:
        logger.removeHandler(handler)
    shipper.flush(3)
    assert [len(lines) for _, lines in recorder.posts] == [500, 500, 200]
    messages = [item["message"] for _, lines in recorder.posts for item in lines]
    assert messages == [f"line {n}" for n in range(1200)]
