"""`taskmanager serve --migrate` (the quick start) writes data every other process reads alike.

On SQLite timestamps are text: a server that had migrated in its own process once wrote
`2026-12-02T15:00` while others compare with `2026-12-02 15:00`, so after a restart its tasks
looked due a day late and `events prune` kept their history.
"""

from __future__ import annotations

import re
import time

from tests.conftest import run_cli, start_server
from tests.e2e.tasks_api import TaskApi, unique_type

OPEN_KEYS = dict.fromkeys(("admin", "worker", "client"), "unused")  # auth is off


def test_tasks_of_a_migrating_server_are_claimable_and_prunable_after_a_restart(
        empty_database, tmp_path):
    db = empty_database
    first = start_server(db, tmp_path, serve_args=["--migrate"], auth="off")
    try:
        first.keys = OPEN_KEYS
        with TaskApi(first) as api:
            name = api.register_type(unique_type("Migrated"))
            done = api.create(name, {"n": 1})
            assert api.claim("w1", type=name)["id"] == done
            assert api.complete(done, "w1").status_code == 200
            waiting = api.create(name, {"n": 2})  # due now
    finally:
        first.stop()
    time.sleep(1.1)  # `done` finished over a second ago

    second = start_server(db, tmp_path, auth="off")
    try:
        second.keys = OPEN_KEYS
        with TaskApi(second) as api:
            claimed = api.claim("w2", type=name)
            assert claimed is not None and claimed["id"] == waiting, "a due task was not claimable"
            pruned = run_cli(["events", "prune", "--older-than", "7d", "--history-older-than",
                              "1s"], db.env).stdout
            deleted = int(re.search(r"deleted (\d+) history row", pruned)[1])
            assert deleted == 3, pruned  # created, claimed, completed
            assert api.history(done) == []
            assert [row["status_change"] for row in api.history(waiting)] == ["created",
                                                                                "claimed"]
    finally:
        second.stop()
