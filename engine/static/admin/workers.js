// Workers seen in the last hour (GET /api/workers): their current tasks with live progress.
import { api } from "./api.js";
import { $, age, clear, h, progressBar, since } from "./dom.js";

const STALE_SECONDS = 120;  // the API's default `stalled_seconds`

export async function render() {
  const { data } = await api("/api/workers");
  clear($("#workers-list"), data.length ? data.map(card) :
    h("p", {}, "No worker was seen in the last hour."));
}

function card(worker) {
  const seen = since(worker.last_seen_at);
  const stale = worker.claimed > 0 && seen > STALE_SECONDS;
  const held = `${worker.claimed} task${worker.claimed === 1 ? "" : "s"} running`;
  return h("article", { class: "worker", "data-worker": worker.worker_id },
    h("h3", {}, h("a", { href: `#tasks?claimed_by=${encodeURIComponent(worker.worker_id)}` },
                  worker.worker_id)),
    h("p", { class: stale ? "stale" : "" },
      `Last seen ${age(seen)} ago${stale ? " — no heartbeat lately, maybe stalled" : ""}; `
      + `${held}; ${worker.completed} completed and ${worker.failed} failed lately.`),
    h("ul", {}, worker.tasks.map((task) => h("li", { "data-task-id": task.id },
      h("a", { href: `#task/${task.id}` }, `#${task.id} ${task.type}`), " ",
      progressBar(task.progress.percent, `Task ${task.id} progress`), " ",
      [task.progress.step, task.progress.message].filter(Boolean).join(": ")))));
}
