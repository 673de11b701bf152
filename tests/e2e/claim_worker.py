"""A worker process for test_concurrency: claims (single or batches) and completes until 204.

Usage: python -m tests.e2e.claim_worker URL API_KEY TYPE WORKER_ID single|batch SEED [HOLD]
With HOLD (seconds) it holds each claim that long before completing it, and a 204 ends it only
once no task of the type is pending (a type at its max_concurrent answers 204 meanwhile).
Prints one JSON line: {"claims": [...], "completed": [...], "statuses": {...}, "errors": [...]}.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections import Counter
from typing import Any

import requests

DEADLINE_SECONDS = 120


class Worker:
    def __init__(self, url: str, key: str, type_name: str, worker_id: str,
                 hold: float = 0.0) -> None:
        self.url, self.type_name, self.worker_id = url, type_name, worker_id
        self.hold = hold
        self.session = requests.Session()
        self.session.headers["X-API-Key"] = key
        self.claims: list[int] = []
        self.completed: list[int] = []
        self.statuses: Counter[int] = Counter()
        self.errors: list[str] = []

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        response = self.session.post(self.url + path, json=body, timeout=60)
        self.statuses[response.status_code] += 1
        if response.status_code not in (200, 204):
            self.errors.append(f"POST {path} -> {response.status_code}: {response.text[:300]}")
        return response

    def claim(self, limit: int | None) -> list[dict[str, Any]] | None:
        body: dict[str, Any] = {"worker_id": self.worker_id, "type": self.type_name}
        if limit is not None:
            body["limit"] = limit
        response = self.post("/api/tasks/claim", body)
        if response.status_code == 204:
            return None
        if response.status_code != 200:
            return []
        data = response.json()["data"]
        return data if limit is not None else [data]

    def complete_one(self, task_id: int) -> None:
        response = self.post(f"/api/tasks/{task_id}/complete",
                             {"worker_id": self.worker_id, "success": True,
                              "result": {"by": self.worker_id}})
        if response.status_code == 200 and response.json()["data"]["status"] == "completed":
            self.completed.append(task_id)

    def complete_many(self, ids: list[int]) -> None:
        results = [{"id": i, "success": True, "result": {"by": self.worker_id}} for i in ids]
        response = self.post("/api/tasks/complete",
                             {"worker_id": self.worker_id, "results": results})
        if response.status_code != 200:
            return
        for item in response.json()["data"]:
            if item["ok"] and item["status"] == "completed":
                self.completed.append(item["id"])
            else:
                self.errors.append(f"bulk complete item {item}")

    def none_pending(self) -> bool:
        response = self.session.get(self.url + "/api/tasks", timeout=60, params={
            "type": self.type_name, "status": "pending", "limit": 1})
        return response.status_code == 200 and not response.json()["data"]

    def run(self, batch: bool, rng: random.Random) -> None:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline:
            tasks = self.claim(rng.randint(1, 20) if batch else None)
            if tasks is None and (not self.hold or self.none_pending()):
                return
            if tasks is None:
                time.sleep(rng.uniform(0, self.hold))
                continue
            ids = [task["id"] for task in tasks]
            time.sleep(self.hold)
            self.claims.extend(ids)
            if batch and ids:
                self.complete_many(ids)
            for task_id in [] if batch else ids:
                self.complete_one(task_id)
        self.errors.append("deadline reached")

    def report(self) -> str:
        return json.dumps({"claims": self.claims, "completed": self.completed,
                           "statuses": dict(self.statuses), "errors": self.errors})


def main(argv: list[str]) -> None:
    url, key, type_name, worker_id, mode, seed, *hold = argv
    worker = Worker(url, key, type_name, worker_id, float(hold[0]) if hold else 0.0)
    try:
        worker.run(mode == "batch", random.Random(int(seed)))
    finally:
        worker.session.close()
    print(worker.report())


if __name__ == "__main__":
    main(sys.argv[1:])
