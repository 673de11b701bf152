"""An example producer: queue a few tasks and wait for them with the Python SDK.

    python examples/producer.py owls "tide pools" volcanoes

Reads TASKMANAGER_URL and TASKMANAGER_API_KEY (a `client` or `admin` key when auth is on).
"""

from __future__ import annotations

import sys

from taskmanager import TaskManagerClient, errors

TYPE = "Example.Script.Write"


def main(topics: list[str]) -> int:
    with TaskManagerClient.from_env() as client:
        created = client.create_tasks([{"type": TYPE, "params": {"topic": topic}}
                                       for topic in topics])
        for item in created:
            note = " (already queued)" if item.get("deduplicated") else ""
            print(f"task {item['id']}: {topics[item['index']]!r}{note}")
        for item in created:
            try:
                task = client.wait(item["id"], timeout=120)
            except errors.WaitTimeout as exc:
                print(f"task {item['id']}: {exc}")
                continue
            print(f"task {task.id} {task.status}: {task.result or task.error}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["owls"]))
