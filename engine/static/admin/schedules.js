// Recurring schedules (GET /api/schedules): timing, next and last run, pause/resume buttons.
import { api } from "./api.js";
import { $, age, clear, h, since, when } from "./dom.js";

export async function render() {
  const { data } = await api("/api/schedules", { query: { limit: 500 } });
  clear($("#schedules-table tbody"), data.length ? data.map(row) :
    h("tr", {}, h("td", { colspan: 7 }, "No schedules. Create one with POST /api/schedules "
                                           + "or `taskmanager schedules seed`.")));
}

function timing(schedule) {
  if (schedule.cron) return h("code", {}, schedule.cron);
  return `every ${age(schedule.every_seconds)}`;
}

function upcoming(iso, active) {
  if (!active) return "paused";
  const date = new Date(iso);
  const wait = -since(iso);
  return h("time", { datetime: iso, title: date.toISOString() },
           `${date.toLocaleString()} (${wait > 0 ? `in ${age(wait)}` : "due now"})`);
}

function row(schedule) {
  const button = h("button", { type: "button", "data-schedule": schedule.name },
                   schedule.is_active ? "Pause" : "Resume");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api(`/api/schedules/${encodeURIComponent(schedule.name)}`,
                { method: "PATCH", body: { is_active: !schedule.is_active } });
      await render();
      $(`#schedules-table button[data-schedule="${CSS.escape(schedule.name)}"]`)?.focus();
    } catch (error) {
      const notice = $("#notice");
      notice.textContent = `Could not change ${schedule.name}: ${error.message}`;
      notice.hidden = false;
      button.disabled = false;
    }
  });
  const last = schedule.last_run_at
    ? [when(schedule.last_run_at), " ", h("a", { href: `#task/${schedule.last_task_id}` },
                                          schedule.last_task_id ? `#${schedule.last_task_id}` : "")]
    : "never";
  return h("tr", { "data-schedule": schedule.name, class: schedule.is_active ? "" : "paused" },
    h("td", {}, schedule.name), h("td", {}, schedule.type), h("td", {}, timing(schedule)),
    h("td", {}, schedule.timezone), h("td", { class: "c-next" },
                                       upcoming(schedule.next_run_at, schedule.is_active)),
    h("td", { class: "c-last" }, last), h("td", {}, button));
}
