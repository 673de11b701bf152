// Queue overview: totals and per-type counts from /api/stats, and a claims-per-minute chart.
import { api } from "./api.js";
import { $, age, clear, h } from "./dom.js";

const STATUSES = ["pending", "claimed", "completed", "failed", "cancelled"];
const MINUTES = 10;
const SVG = "http://www.w3.org/2000/svg";
let chartAt = 0;

export async function render() {
  const { data } = await api("/api/stats", { query: { window_seconds: 300 } });
  const t = data.totals;
  clear($("#totals"),
    card("Pending", t.pending), card("Running", t.claimed), card("Completed", t.completed),
    card("Failed", t.failed), card("Cancelled", t.cancelled), card("Total", t.total),
    card("Oldest pending", age(t.oldest_pending_age_seconds)),
    card("Claims/min (5 min)", t.claim_rate_per_minute));
  clear($("#types-table tbody"), data.types.length ? [] :
    h("tr", {}, h("td", { colspan: 8 }, "No task types yet.")));
  $("#types-table tbody").append(...data.types.map((row) => h("tr", {},
    h("th", { scope: "row" }, h("a", { href: `#tasks?type=${encodeURIComponent(row.type)}` },
                                row.type)),
    STATUSES.map((s) => h("td", { "data-status": s }, row[s])),
    h("td", {}, age(row.oldest_pending_age_seconds)),
    h("td", {}, row.claim_rate_per_minute))));
  clear($("#type-names"), data.types.map((row) => h("option", { value: row.type })));
  // PERF: the chart reads the history table (ten windows), so it refreshes at most twice a minute.
  if (Date.now() - chartAt > 30000) {
    chartAt = Date.now();
    await drawChart();
  }
}

function card(label, value) {
  return h("div", { class: "card" }, h("span", { class: "n" }, value), h("span", { class: "k" }, label));
}

/** Claims per minute for each of the last MINUTES minutes, from cumulative windows. */
async function drawChart() {
  const windows = Array.from({ length: MINUTES }, (_, i) => (i + 1) * 60);
  const answers = await Promise.all(windows.map((w) =>
    api("/api/stats", { query: { window_seconds: w } })));
  const cumulative = answers.map((a) => a.data.totals.claims_in_window);
  const perMinute = cumulative.map((n, i) => n - (i ? cumulative[i - 1] : 0)).reverse();
  const max = Math.max(1, ...perMinute);
  const width = 300 / MINUTES;
  const svg = $("#claim-chart");
  svg.replaceChildren(...perMinute.map((n, i) => {
    const rect = document.createElementNS(SVG, "rect");
    const height = (n / max) * 76;
    rect.setAttribute("x", i * width + 2);
    rect.setAttribute("width", width - 4);
    rect.setAttribute("y", 78 - height);
    rect.setAttribute("height", Math.max(height, n ? 2 : 0.5));
    const title = document.createElementNS(SVG, "title");
    title.textContent = `${MINUTES - i} min ago: ${n} claims`;
    rect.append(title);
    return rect;
  }));
  $("#chart-desc").textContent =
    `Oldest to newest minute: ${perMinute.join(", ")} claims (peak ${Math.max(...perMinute)}).`;
}
