// Task detail: the task document, its log lines, progress log, children summary, artefacts
// and the cancel and rerun actions.
import { api } from "./api.js";
import { $, clear, h, plainMessage, progressBar, setProgress, statusText, when } from "./dom.js";

let current = null;

export async function render(id) {
  if (!current || current.id !== id) $("#task-note").textContent = "";
  const [{ data: task }, { data: history }, { data: lines }] = await Promise.all([
    api(`/api/tasks/${id}`), api(`/api/tasks/${id}/history`, { query: { limit: 200 } }),
    // the latest 200 lines, its children's too (a parent shows what they do)
    api(`/api/tasks/${id}/logs`, { query: { limit: 200, sort: "-id", include_children: "true" } })]);
  current = task;
  $("#task-title").textContent = `Task ${task.id} · ${task.type}`;
  clear($("#task-detail"),
    facts(task), actions(task),
    h("h3", {}, "Params"), h("pre", { tabindex: 0, "aria-label": "Params" }, json(task.params)),
    task.status === "failed" || task.error
      ? [h("h3", {}, "Error"), h("pre", { class: "error", tabindex: 0, id: "task-error" },
                                  [task.error_code, task.error].filter(Boolean).join(": "))]
      : [h("h3", {}, "Result"), h("pre", { tabindex: 0, id: "task-result" }, json(task.result))],
    artefactsTable(task.artefacts || []),
    h("h3", {}, "Log"), logTable(task.id, lines.reverse()),
    h("h3", {}, "Progress log"), historyTable(history));
}

function json(value) { return value === undefined ? "null" : JSON.stringify(value, null, 2); }

function facts(task) {
  const p = task.progress || {};
  const rows = [
    ["Status", h("span", { id: "task-status" }, statusText(task.status, task.cancel_requested))],
    ["Progress", progressBar(p.percent, `Task ${task.id} progress`)],
    ["Step / message", h("span", { id: "task-message" },
                         [p.step, p.message].filter(Boolean).join(" — ") || "—")],
    ["ETA", p.eta_seconds === null || p.eta_seconds === undefined ? "—" : `${p.eta_seconds} s`],
    ["Worker", task.claimed_by || "—"],
    ["Attempts", `${task.attempts} of ${task.max_attempts}`],
    ["Priority", task.priority],
    ["Queue position", task.queue_position ?? "—"],
    ["Parent", task.parent_id ? h("a", { href: `#task/${task.parent_id}` }, task.parent_id) : "—"],
    ["Rerun of", task.rerun_of ? h("a", { href: `#task/${task.rerun_of}`, id: "task-rerun-of" },
                                   task.rerun_of) : "—"],
    ["Children", task.children ? h("a", { href: `#tasks?parent_id=${task.id}` },
                                   task.children.text) : "none"],
    ["Created", when(task.created_at)], ["Claimed", when(task.claimed_at)],
    ["Lease until", when(task.lease_expires_at)], ["Finished", when(task.completed_at)],
  ];
  return h("dl", { class: "facts" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

const FINISHED = ["completed", "failed", "cancelled"];

function actions(task) {
  const box = h("div", { class: "actions", id: "task-actions" });
  if (FINISHED.includes(task.status)) return clear(box, rerunButton(task));
  const open = task.status === "pending" || (task.status === "claimed" && !task.cancel_requested);
  if (!open) return box;
  const cancel = h("button", { type: "button", class: "danger", id: "cancel-task" }, "Cancel task");
  const confirm = h("button", { type: "button", class: "danger", id: "confirm-cancel", hidden: true },
                    "Yes, cancel it");
  const keep = h("button", { type: "button", hidden: true }, "Keep it");
  const note = $("#task-note");
  cancel.addEventListener("click", () => {
    cancel.hidden = true; confirm.hidden = false; keep.hidden = false; confirm.focus();
    note.textContent = task.status === "claimed"
      ? "The worker is asked to stop at its next heartbeat." : "The task will not run.";
  });
  keep.addEventListener("click", () => {
    cancel.hidden = false; confirm.hidden = true; keep.hidden = true; note.textContent = "";
    cancel.focus();
  });
  confirm.addEventListener("click", async () => {
    confirm.disabled = true;
    try {
      const { data } = await api(`/api/tasks/${task.id}/cancel`, { method: "POST", body: {} });
      note.textContent = data.cancel_requested && data.status === "claimed"
        ? "Cancel requested." : `Task is now ${data.status}.`;
      await render(task.id);
    } catch (error) {
      note.textContent = `Cancel failed: ${error.message}`;
      confirm.disabled = false;
    }
  });
  return clear(box, cancel, confirm, keep);
}

/** Queue the finished task again (same type, params and priority), then open the new one. */
function rerunButton(task) {
  const button = h("button", { type: "button", id: "rerun-task" }, "Rerun task");
  const note = $("#task-note");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const { data } = await api(`/api/tasks/${task.id}/rerun`, { method: "POST", body: {} });
      location.hash = `#task/${data.id}`;  // the new task (or its queued twin, deduplicated)
    } catch (error) {
      note.textContent = `Rerun failed: ${error.message}`;
      button.disabled = false;
    }
  });
  return button;
}

function artefactsTable(artefacts) {
  if (!artefacts.length) return [];
  return [h("h3", {}, "Artefacts"), h("div", { class: "scroll" },
    h("table", { id: "artefacts-table" },
    h("caption", {}, "Artefacts the workers recorded"),
    h("thead", {}, h("tr", {}, ["Name", "URI", "Size", "Type", "SHA-256"].map((c) =>
      h("th", { scope: "col" }, c)))),
    h("tbody", {}, artefacts.map((a) => h("tr", {},
      h("td", {}, a.name), h("td", {}, a.uri),
      h("td", {}, a.size_bytes === null ? "" : `${a.size_bytes} B`),
      h("td", {}, a.media_type || ""), h("td", {}, a.sha256 || ""))))))];
}

function historyTable(history) {
  if (!history.length) return h("p", {}, "No history yet.");
  return h("div", { class: "scroll" }, h("table", { id: "history-table" },
    h("caption", {}, "History, oldest first"),
    h("thead", {}, h("tr", {}, ["When", "Change", "Worker", "Message"].map((c) =>
      h("th", { scope: "col" }, c)))),
    h("tbody", {}, history.map((row) => h("tr", {},
      h("td", {}, when(row.created_at)), h("td", {}, row.status_change),
      h("td", {}, row.worker_id || ""), h("td", {}, row.message || ""))))));
}

function logTable(id, lines) {
  if (!lines.length) return h("p", {}, "No log lines yet.");
  const children = lines.some((row) => row.task_id !== id);
  const columns = ["When", "Level", ...(children ? ["Task"] : []), "Message"];
  return h("div", { class: "scroll" }, h("table", { id: "log-table" },
    h("caption", {}, "Log, oldest first (the latest 200 lines)"),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, lines.map((row) => h("tr", { class: `log-${row.level}` },
      h("td", {}, when(row.created_at)), h("td", {}, row.level),
      children ? h("td", {}, h("a", { href: `#task/${row.task_id}` }, row.task_id)) : [],
      h("td", {}, row.message + (row.data === null ? "" : `  ${JSON.stringify(row.data)}`)))))));
}

/** A live event for the task on screen: move its bar; reload on a status change. */
export function onEvent(event) {
  if (!current || event.task_id !== current.id) return false;
  if (event.event_type === "task.progress") {
    const wrap = $("#task-detail .progress");
    if (wrap) setProgress(wrap, event.progress);
    if (event.message) $("#task-message").textContent = plainMessage(event.message);
    return false;
  }
  return true;  // status changed: the caller re-renders
}

export function currentId() { return current && current.id; }
