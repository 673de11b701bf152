// Workers seen recently: grouped from claimed tasks (claimed_by, heartbeat_at, claimed_at).
import { api } from "./api.js";
import { $, age, clear, h, progressBar, since } from "./dom.js";

const STALE_SECONDS = 120;  // the API's default `stalled_seconds`

export async function render() {
  const { data } = await api("/api/tasks", { query: { status: "claimed", limit: 500 } });
  const workers = new Map();
  for (const task of data) {
    const name = task.claimed_by || "(unknown)";
    const seen = since(task.heartbeat_at || task.claimed_at);
    const worker = workers.get(name) || { name, seen: Infinity, tasks: [] };
    worker.seen = Math.min(worker.seen, seen ?? Infinity);
    worker.tasks.push(task);
    workers.set(name, worker);
  }
  const list = [...workers.values()].sort((a, b) => a.seen - b.seen);
  clear($("#workers-list"), list.length ? list.map(card) :
    h("p", {}, "No worker holds a claim right now."));
}

function card(worker) {
  const stale = worker.seen > STALE_SECONDS;
  return h("article", { class: "worker", "data-worker": worker.name },
    h("h3", {}, h("a", { href: `#tasks?claimed_by=${encodeURIComponent(worker.name)}` },
                  worker.name)),
    h("p", { class: stale ? "stale" : "" },
      `Last seen ${age(worker.seen)} ago${stale ? " — no heartbeat lately, maybe stalled" : ""}; `
      + `${worker.tasks.length} task${worker.tasks.length === 1 ? "" : "s"} running.`),
    h("ul", {}, worker.tasks.map((task) => h("li", {},
      h("a", { href: `#task/${task.id}` }, `#${task.id} ${task.type}`), " ",
      progressBar(task.progress, `Task ${task.id} progress`), " ",
      task.progress_message || ""))));
}
