// Tasks table: filters, keyset pagination, live progress bars fed by events or polling.
import { api } from "./api.js";
import { $, clear, h, plainMessage, progressBar, setProgress, statusText, when } from "./dom.js";

const PAGE = 25;
const FILTERS = ["status", "type", "claimed_by", "parent_id"];
const state = { filters: {}, cursors: [null], page: 0, next: null, total: null };

/** Filters come from the hash (#tasks?status=failed), so links and reloads keep them. */
export function setFilters(params) {
  const filters = {};
  for (const name of FILTERS) if (params.get(name)) filters[name] = params.get(name);
  if (JSON.stringify(filters) !== JSON.stringify(state.filters)) {
    Object.assign(state, { filters, cursors: [null], page: 0 });
  }
  const form = $("#task-filters");
  for (const name of FILTERS) form.elements[name].value = filters[name] || "";
}

export function init(go) {
  const form = $("#task-filters");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const name of FILTERS) {
      const value = form.elements[name].value.trim();
      if (value) params.set(name, value);
    }
    go(`tasks${params.size ? "?" + params : ""}`);
  });
  form.addEventListener("reset", () => setTimeout(() => go("tasks"), 0));
  $("#next-page").addEventListener("click", () => {
    state.cursors[state.page + 1] = state.next;
    state.page += 1;
    render();
  });
  $("#prev-page").addEventListener("click", () => {
    state.page = Math.max(0, state.page - 1);
    render();
  });
}

export async function render() {
  const cursor = state.cursors[state.page];
  const { data, meta } = await api("/api/tasks", {
    query: { ...state.filters, limit: PAGE, sort: "-id", ...(cursor ? { cursor } : {}) } });
  state.next = meta && meta.next_cursor;
  state.total = meta && meta.total;
  clear($("#tasks-table tbody"), data.length ? data.map(row) :
    h("tr", {}, h("td", { colspan: 7 }, "No tasks match these filters.")));
  $("#prev-page").disabled = state.page === 0;
  $("#next-page").disabled = !state.next;
  const shown = state.total === null || state.total === undefined ? "" : ` of ${state.total}`;
  $("#page-info").textContent = `Page ${state.page + 1}${shown ? ` (${data.length} shown${shown})` : ""}`;
}

function row(task) {
  return h("tr", { "data-task-id": task.id },
    h("td", {}, h("a", { href: `#task/${task.id}`, "aria-label": `Task ${task.id} details` },
                  task.id)),
    h("td", {}, task.type),
    h("td", { class: "c-status" }, statusText(task.status, task.cancel_requested)),
    h("td", { class: "c-progress" }, progressCell(task.id, task.status, task.progress)),
    h("td", { class: "c-message" }, task.progress_message || task.error || ""),
    h("td", {}, task.claimed_by ? h("a", {
      href: `#tasks?claimed_by=${encodeURIComponent(task.claimed_by)}` }, task.claimed_by) : ""),
    h("td", {}, when(task.created_at)));
}

function progressCell(id, status, percent) {
  if (status === "claimed") return progressBar(percent || 0, `Task ${id} progress`);
  return status === "completed" ? "100%" : `${percent || 0}%`;
}

/** An outbox event (from the stream): move the task's bar, status and message in place. */
export function onEvent(event) {
  const tr = document.querySelector(`#tasks-table tr[data-task-id="${event.task_id}"]`);
  if (!tr) return;
  const cell = tr.querySelector(".c-progress");
  const wrap = cell.querySelector(".progress");
  if (event.status === "claimed" && wrap) setProgress(wrap, event.progress);
  else clear(cell, progressCell(event.task_id, event.status, event.progress));
  if (event.status) clear(tr.querySelector(".c-status"), statusText(event.status));
  if (event.event_type === "task.progress" && event.message) {
    tr.querySelector(".c-message").textContent = plainMessage(event.message);
  }
}
