// The dashboard shell: login, hash routing between views, live updates (SSE, else polling).
import { api, readEvents, session } from "./api.js";
import { $ } from "./dom.js";
import * as endpoints from "./endpoints.js";
import * as overview from "./overview.js";
import * as schedules from "./schedules.js";
import * as task from "./task.js";
import * as tasks from "./tasks.js";
import * as workers from "./workers.js";

const VIEWS = { overview, tasks, workers, schedules, endpoints };
const TICK_MS = 3000;
const SSE_RETRY_MS = 30000;
const live = { mode: "off", dirty: false, controller: null, lastId: null, lastRender: 0 };
let busy = false;
let again = null;

function route() {
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  const [name, id] = path.split("/");
  if (name === "task" && /^\d+$/.test(id || "")) return { name: "task", id: Number(id) };
  return { name: VIEWS[name] ? name : "overview", params: new URLSearchParams(query) };
}

function go(hash) {
  if (location.hash === `#${hash}`) show();
  else location.hash = hash;
}

async function show(options = {}) {
  if (!session.key) return;
  if (busy) { again = options; return; }
  busy = true;
  const r = route();
  const section = r.name === "task" ? "task" : r.name;
  for (const el of document.querySelectorAll(".view")) el.hidden = el.id !== `view-${section}`;
  for (const a of document.querySelectorAll("#nav a[data-view]")) {
    if (a.dataset.view === section || (section === "task" && a.dataset.view === "tasks")) {
      a.setAttribute("aria-current", "page");
    } else a.removeAttribute("aria-current");
  }
  try {
    if (r.name === "task") await task.render(r.id);
    else {
      if (r.name === "tasks") tasks.setFilters(r.params);
      await VIEWS[r.name].render();
    }
    $("#notice").hidden = true;
    live.dirty = false;
    live.lastRender = Date.now();
    if (options.focus) {
      const heading = $(`#view-${section} h2`);
      heading.tabIndex = -1;
      heading.focus();
    }
  } catch (error) {
    failed(error);
  } finally {
    busy = false;
    if (again) { const next = again; again = null; show(next); }
  }
}

function failed(error) {
  if (error.status === 401) {
    logout("The key was rejected; log in again.");
    return;
  }
  const notice = $("#notice");
  notice.textContent = `Could not load: ${error.message}`;
  notice.hidden = false;
}

function setLive(mode, text) {
  live.mode = mode;
  document.body.dataset.live = mode;
  $("#live").textContent = `Live updates: ${text}`;
}

function onEvent(event, cursor) {
  live.lastId = cursor;
  const r = route();
  if (r.name === "tasks") {
    tasks.onEvent(event);
    if (event.event_type === "task.created") live.dirty = true;
  } else if (r.name === "task") {
    if (task.onEvent(event)) live.dirty = true;
  } else if (r.name !== "endpoints") live.dirty = true;
}

/** Streams events for as long as the session lasts; falls back to polling when it cannot. */
async function runLive() {
  while (session.key) {
    live.controller = new AbortController();
    try {
      setLive("sse", "streaming");
      live.lastId = await readEvents(onEvent, { signal: live.controller.signal,
                                                lastEventId: live.lastId });
      await new Promise((resolve) => setTimeout(resolve, 1000));  // the server ended it
    } catch (error) {
      if (!session.key || error.name === "AbortError") return;
      if (error.status === 401) { logout("The key was rejected; log in again."); return; }
      setLive("polling", `polling every ${TICK_MS / 1000} s (event stream unavailable)`);
      await new Promise((resolve) => setTimeout(resolve, SSE_RETRY_MS));
    }
  }
}

/** Re-renders the view now and then: often when polling, rarely when events keep it fresh. */
function tick() {
  if (!session.key || document.hidden || route().name === "endpoints") return;
  // NOTE: a re-render replaces the rows; never pull them from under the keyboard focus.
  if (document.activeElement?.closest(".view tbody, .actions, .worker")) return;
  const since = Date.now() - live.lastRender;
  let every = live.mode === "sse" ? 15000 : TICK_MS;
  if (route().name === "overview") every = Math.max(every, 10000);  // stats reads history
  if (since >= every || (live.dirty && since >= 1000)) show();
}

async function login(event) {
  event.preventDefault();
  const input = $("#api-key");
  const error = $("#login-error");
  const key = input.value.trim();
  error.textContent = "";
  try {
    await api("/api/endpoints", { query: { limit: 1 }, key });
  } catch (failure) {
    error.textContent = failure.status === 401 ? "That key is not valid."
      : failure.status === 403 ? "That key is not an admin key."
      : `Could not log in: ${failure.message}`;
    input.focus();
    return;
  }
  session.key = key;
  input.value = "";
  enter();
}

function enter() {
  $("#login").hidden = true;
  $("#nav").hidden = false;
  $("#session").hidden = false;
  show({ focus: true });
  runLive();
}

function logout(message) {
  session.key = null;
  live.controller?.abort();
  setLive("off", "off");
  for (const el of document.querySelectorAll(".view")) el.hidden = true;
  $("#nav").hidden = true;
  $("#session").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = typeof message === "string" ? message : "";
  $("#api-key").focus();
}

$("#login-form").addEventListener("submit", login);
$("#logout").addEventListener("click", () => logout("Logged out."));
window.addEventListener("hashchange", () => show({ focus: true }));
tasks.init(go);
setInterval(tick, 1000);
if (session.key) enter();
else $("#api-key").focus();
