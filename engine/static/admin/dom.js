// Small DOM helpers: build elements without innerHTML, format times, draw a progress bar.

/** h("td", {class: "x"}, "text", child) — strings become text nodes, never markup. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined));
  return el;
}

export function $(selector, root = document) { return root.querySelector(selector); }

export function age(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

export function since(iso) {
  if (!iso) return null;
  return (Date.now() - Date.parse(iso)) / 1000;
}

export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return h("time", { datetime: iso, title: date.toISOString() },
           `${date.toLocaleString()} (${age(since(iso))} ago)`);
}

export function statusText(status, cancelRequested) {
  const label = status === "claimed" ? "running" : status;
  return h("span", { class: `status status-${status}`, "data-status": status },
           cancelRequested && status === "claimed" ? `${label} (cancel requested)` : label);
}

/** An accessible progress bar; `setProgress` moves it. */
export function progressBar(percent, label) {
  const fill = h("span");
  const bar = h("span", { class: "bar", role: "progressbar", "aria-valuemin": 0,
                          "aria-valuemax": 100, "aria-label": label }, fill);
  const text = h("span", { class: "pct" });
  const wrap = h("span", { class: "progress" }, bar, text);
  setProgress(wrap, percent);
  return wrap;
}

export function setProgress(wrap, percent) {
  const value = Math.max(0, Math.min(100, Number(percent) || 0));
  const bar = wrap.querySelector("[role=progressbar]");
  bar.setAttribute("aria-valuenow", value);
  bar.firstChild.style.width = `${value}%`;
  wrap.querySelector(".pct").textContent = `${value}%`;
}

/** The worker's own text from a history/event message "Progress: 40% - text". */
export function plainMessage(message) {
  if (!message) return "";
  return message.replace(/^Progress: \d+%( - )?/, "");
}
