// The admin API client: the key lives in sessionStorage and travels only as X-API-Key.
const KEY = "taskmanager.adminKey";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
  }
}

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set key(value) {
    if (value) sessionStorage.setItem(KEY, value);
    else sessionStorage.removeItem(KEY);
  },
};

function headers(extra = {}) {
  return { "X-API-Key": session.key || "", Accept: "application/json", ...extra };
}

/** One API call; resolves to the whole envelope ({data, meta}), rejects with ApiError. */
export async function api(path, { method = "GET", body, query, key } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const init = { method, headers: headers(body ? { "Content-Type": "application/json" } : {}) };
  if (key) init.headers["X-API-Key"] = key;
  if (body) init.body = JSON.stringify(body);
  const response = await fetch(url, init);
  const envelope = response.status === 204 ? {} : await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, envelope);
  return envelope;
}

/**
 * Reads /api/events/stream with fetch (EventSource cannot send X-API-Key) and calls
 * `onEvent(event)` per frame. Resolves when the server ends the stream; rejects on failure.
 */
export async function readEvents(onEvent, { signal, lastEventId } = {}) {
  const extra = { Accept: "text/event-stream" };
  if (lastEventId) extra["Last-Event-ID"] = String(lastEventId);
  const response = await fetch("/api/events/stream", { headers: headers(extra), signal });
  if (!response.ok || !response.body) throw new ApiError(response.status, null);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let last = lastEventId;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return last;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = parseFrame(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (frame.id) last = frame.id;
      if (frame.data) onEvent(JSON.parse(frame.data), last);
    }
  }
}

function parseFrame(text) {
  const frame = { data: "" };
  for (const line of text.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "data") frame.data += (frame.data ? "\n" : "") + value;
    else if (field === "id") frame.id = value;
    else if (field === "event") frame.event = value;
  }
  return frame;
}
