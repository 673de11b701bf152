// Endpoints: the api_endpoints rows with on/off switches (PATCH /api/endpoints/{id}).
import { api } from "./api.js";
import { $, clear, h, when } from "./dom.js";

// NOTE: switching these off would lock the dashboard out of turning them on again.
const LOCKED = new Set(["GET /api/endpoints", "PATCH /api/endpoints/{id}"]);

export async function render() {
  const { data } = await api("/api/endpoints", { query: { limit: 500 } });
  clear($("#endpoints-table tbody"), data.map(row));
}

function row(endpoint) {
  const name = `${endpoint.method} ${endpoint.path}`;
  const locked = LOCKED.has(name);
  const toggle = h("button", {
    type: "button", role: "switch", class: "switch", "aria-checked": String(endpoint.is_active),
    "aria-label": `${name} active`, "data-endpoint-id": endpoint.id, disabled: locked,
    title: locked ? "The dashboard needs this endpoint" : null });
  const revision = h("td", { class: "c-revision" }, endpoint.revision);
  const changed = h("td", { class: "c-updated" }, when(endpoint.updated_at));
  toggle.addEventListener("click", async () => {
    const wanted = toggle.getAttribute("aria-checked") !== "true";
    toggle.disabled = true;
    try {
      const { data } = await api(`/api/endpoints/${endpoint.id}`,
                                 { method: "PATCH", body: { is_active: wanted } });
      toggle.setAttribute("aria-checked", String(data.is_active));
      revision.textContent = data.revision;
      clear(changed, when(data.updated_at));
    } catch (error) {
      alertError(`Could not switch ${name}: ${error.message}`);
    } finally {
      toggle.disabled = false;
      toggle.focus();
    }
  });
  return h("tr", { "data-endpoint": name },
    h("td", {}, toggle), h("td", {}, endpoint.method), h("td", {}, h("code", {}, endpoint.path)),
    h("td", {}, endpoint.operation_id || ""), h("td", {}, endpoint.required_role || ""),
    revision, changed);
}

function alertError(text) {
  const notice = $("#notice");
  notice.textContent = text;
  notice.hidden = false;
}
