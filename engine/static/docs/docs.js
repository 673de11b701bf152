// The API docs page (/api/docs): renders /api/openapi.json, offline, no inline code.
const el = (tag, attrs = {}, ...kids) => {
  const node = document.createElement(tag);
  Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, v));
  kids.forEach((kid) => node.append(kid));
  return node;
};
const pretty = (value) => el('pre', {}, JSON.stringify(value, null, 2));
function paramTable(params) {
  const rows = params.map((p) => el('tr', {}, el('td', {}, el('code', {}, p.name)), el('td', {}, p.in),
    el('td', {}, p.required ? 'yes' : ''), el('td', {}, JSON.stringify(p.schema)), el('td', {}, p.description || '')));
  return el('table', {}, el('tr', {}, ...['name', 'in', 'required', 'schema', 'description'].map((h) => el('th', {}, h))), ...rows);
}
// A body's media types: JSON bodies show their schema, others (an event stream, metrics text)
// their media type and schema if any.
function content(media) {
  return Object.entries(media || {}).flatMap(([type, item]) => (type === 'application/json'
    ? [pretty(item.schema || {})]
    : [el('p', { class: 'muted' }, el('code', {}, type)), ...(item.schema ? [pretty(item.schema)] : [])]));
}
function operation(path, method, op) {
  const body = el('div', { class: 'op' });
  if (op.description) body.append(el('p', {}, op.description));
  body.append(el('p', { class: 'muted' }, 'operationId ', el('code', {}, op.operationId),
    op['x-required-role'] ? ` · role: ${op['x-required-role']}` : ' · public'));
  if (op.parameters && op.parameters.length) body.append(el('h4', {}, 'Parameters'), paramTable(op.parameters));
  if (op.requestBody) body.append(el('h4', {}, 'Request body'), ...content(op.requestBody.content));
  body.append(el('h4', {}, 'Responses'));
  Object.entries(op.responses).forEach(([code, r]) => body.append(el('p', {}, el('strong', {}, code), ' ', r.description)));
  const ok = Object.entries(op.responses).find(([code, r]) => code.startsWith('2') && r.content);
  if (ok) body.append(...content(ok[1].content));
  const upper = method.toUpperCase();
  return el('details', {}, el('summary', {}, el('span', { class: `m ${upper}` }, upper), el('code', {}, path), ` — ${op.summary || ''}`), body);
}
fetch('/api/openapi.json').then((r) => r.json()).then((spec) => {
  const main = document.getElementById('ops');
  main.textContent = '';
  const byTag = {};
  Object.entries(spec.paths).forEach(([path, item]) => Object.entries(item).forEach(([method, op]) => {
    (byTag[(op.tags || ['other'])[0]] ||= []).push(operation(path, method, op));
  }));
  Object.keys(byTag).sort().forEach((tag) => main.append(el('h2', {}, tag), ...byTag[tag]));
}).catch((err) => { document.getElementById('ops').textContent = `Could not load the spec: ${err}`; });
