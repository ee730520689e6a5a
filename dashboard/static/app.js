// The gateway dashboard. Plain DOM, no framework, nothing loaded from elsewhere: every URL is
// relative to the page (the dashboard API) or a path of the gateway itself (calls, events,
// OpenAPI). Data from the gateway is only ever put into the page as text.
'use strict';

const state = {
  info: { refreshMs: 1000 },
  servicesJSON: '',
  services: [],
  selected: '',
  detail: null,
  errorsJSON: '',
  abort: null,
  ws: null,
};

const $ = (id) => document.getElementById(id);

// el builds an element: attributes (with "text" for textContent and "class"), then children.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

async function getJSON(path) {
  const res = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  const body = await res.json();
  if (!res.ok) throw new Error(body.detail || res.statusText);
  return body;
}

// ---- services, polled ----

async function poll() {
  try {
    const [svcs, errs] = await Promise.all([getJSON('api/services'), getJSON('api/errors')]);
    renderRegistry(svcs);
    renderServices(svcs.services);
    renderErrors(errs);
  } catch (err) {
    const s = $('registry-status');
    s.textContent = 'dashboard API unreachable: ' + err.message;
    s.classList.add('stale');
  }
  setTimeout(poll, state.info.refreshMs || 1000);
}

function renderRegistry(svcs) {
  const s = $('registry-status');
  if (svcs.stale) {
    s.textContent = 'registry unreachable since ' + svcs.staleSince + ': serving the last known services';
    s.classList.add('stale');
  } else {
    s.textContent = svcs.version === 0 ? 'registry not synced yet' : 'registry live · view ' + svcs.version;
    s.classList.remove('stale');
  }
}

function renderServices(list) {
  const json = JSON.stringify(list);
  if (json === state.servicesJSON) return;
  state.servicesJSON = json;
  state.services = list;
  $('service-count').textContent = '(' + list.length + ')';
  $('no-services').hidden = list.length > 0;
  const ul = $('services');
  ul.replaceChildren(...list.map((svc) => {
    const nodes = svc.nodes.length + (svc.nodes.length === 1 ? ' node' : ' nodes');
    const button = el('button', { type: 'button', class: 'service-button', 'aria-pressed': String(svc.name === state.selected), 'data-test': 'service-button' },
      el('span', { class: 'service-name', text: svc.name }),
      el('span', { class: 'service-meta' },
        el('span', { class: 'health ' + svc.health, text: svc.health, 'data-test': 'service-health' }),
        el('span', { text: nodes, 'data-test': 'service-nodes' })));
    button.addEventListener('click', () => select(svc.name));
    return el('li', { 'data-test': 'service', 'data-name': svc.name, class: svc.name === state.selected ? 'selected' : '' }, button);
  }));
  if (state.selected) {
    const cur = list.find((s) => s.name === state.selected);
    const gone = $('detail-gone');
    if (!cur) {
      gone.hidden = false;
      renderNodes([]);
    } else {
      if (!gone.hidden) {
        gone.hidden = true;
        select(state.selected); // it is back: its descriptors may have changed
        return;
      }
      renderNodes(cur.nodes);
    }
  }
}

function renderNodes(nodes) {
  $('nodes').replaceChildren(...nodes.map((n) => el('tr', { 'data-test': 'node', 'data-id': n.id },
    el('td', { text: n.id }), el('td', { text: n.address }),
    el('td', {}, el('span', { class: 'breaker ' + n.breaker, text: n.breaker, 'data-test': 'breaker' })),
    el('td', { text: n.inFlight }))));
}

// ---- one service ----

async function select(name) {
  state.selected = name;
  for (const li of $('services').children) {
    const on = li.dataset.name === name;
    li.classList.toggle('selected', on);
    li.firstChild.setAttribute('aria-pressed', String(on));
  }
  $('detail-empty').hidden = true;
  $('detail').hidden = false;
  $('detail-name').textContent = name;
  $('detail-gone').hidden = true;
  $('methods').replaceChildren(el('p', { class: 'muted', text: 'Loading endpoints…' }));
  let d;
  try {
    d = await getJSON('api/services/' + encodeURIComponent(name));
  } catch (err) {
    if (state.selected !== name) return;
    $('methods').replaceChildren(el('p', { class: 'warning', text: err.message }));
    return;
  }
  if (state.selected !== name) return; // another service was picked meanwhile
  state.detail = d;
  renderDetail(d);
}

function renderDetail(d) {
  renderNodes(d.nodes);
  const oa = $('detail-openapi');
  oa.hidden = !d.openapi;
  if (d.openapi) oa.href = d.openapi;

  $('routes-empty').hidden = d.routes.length > 0;
  $('routes-table').hidden = d.routes.length === 0;
  $('routes').replaceChildren(...d.routes.map((r) => el('tr', { 'data-test': 'route' },
    el('td', { text: r.source }), el('td', { text: r.method || 'any' }), el('td', { text: (r.host ? r.host + ' ' : '') + r.path }),
    el('td', { text: r.handler }), el('td', { text: r.endpoint || '' }))));

  const derr = $('descriptor-error');
  derr.hidden = true;
  if (!d.grpc) {
    derr.hidden = false;
    derr.textContent = 'This service is routed to HTTP handlers only: it has no gRPC methods to describe.';
  } else if (d.descriptorError) {
    derr.hidden = false;
    derr.textContent = 'Descriptors unavailable: ' + d.descriptorError;
  }
  $('methods').replaceChildren(...d.methods.map(renderMethod));

  const sel = $('endpoint');
  sel.replaceChildren(...d.methods.map((m, i) => el('option', { value: i, text: m.name + (m.streaming ? ' (' + m.streaming + ' stream)' : '') })));
  $('call-form').hidden = d.methods.length === 0;
  $('call-result').hidden = true;
  applyTemplate();
}

function kindLabel(m) {
  return m.streaming ? el('span', { class: 'kind', text: m.streaming + ' stream' }) : null;
}

function renderMethod(m) {
  return el('details', { class: 'method', 'data-test': 'method', 'data-name': m.name },
    el('summary', {}, el('strong', { text: m.name }), kindLabel(m), ' ',
      el('span', { class: 'muted', text: m.path ? (m.streaming === 'client' || m.streaming === 'bidi' ? 'WebSocket ' : 'POST ') + m.path : 'no resolver path' })),
    el('div', { class: 'body' },
      el('div', {}, el('h5', { text: 'Request ' + m.requestType }), fieldTree(m.request, m.request, 0, new Set())),
      el('div', {}, el('h5', { text: 'Response ' + m.responseType }), fieldTree(m.response, m.response, 0, new Set()))));
}

function deref(s, root) {
  if (s && s.$ref && s.$ref.startsWith('#/$defs/')) return root.$defs[s.$ref.slice(8)] || {};
  return s || {};
}

function typeLabel(s, root) {
  if (!s) return 'any';
  if (s.$ref) {
    const d = deref(s, root);
    return d['x-proto-type'] || d.title || s.$ref;
  }
  if (s.anyOf) return s.anyOf.map((x) => typeLabel(x, root)).join(' | ');
  let t = Array.isArray(s.type) ? s.type.join('|') : (s.type || 'any');
  if (s.type === 'array') t = typeLabel(s.items, root) + '[]';
  else if (s.additionalProperties) t = 'map<string, ' + typeLabel(s.additionalProperties, root) + '>';
  if (s.format) t += ' (' + s.format + ')';
  if (s.contentEncoding) t += ' (' + s.contentEncoding + ')';
  if (s.enum && !s.$ref) t += ': ' + s.enum.join(', ');
  return t;
}

// fieldTree lists a message's fields with their types, nested messages indented (each message
// once per branch, so recursive ones stop).
function fieldTree(s, root, depth, seen) {
  const def = deref(s, root);
  const props = def.properties || {};
  const names = Object.keys(props);
  if (names.length === 0 || depth > 4) return el('p', { class: 'muted', text: names.length === 0 ? '(no fields)' : '…' });
  const key = s.$ref || '';
  const next = new Set(seen);
  if (key) next.add(key);
  return el('ul', { class: 'fields' }, ...names.map((n) => {
    const f = props[n];
    const enumDef = f.$ref ? deref(f, root) : null;
    const li = el('li', { 'data-field': n }, el('span', { text: n }), ': ', el('span', { class: 'ftype', text: typeLabel(f, root) + (enumDef && enumDef.enum ? ' {' + enumDef.enum.join(', ') + '}' : '') }));
    let inner = f;
    if (inner.anyOf) inner = inner.anyOf.find((x) => x.$ref) || inner;
    if (inner.type === 'array' && inner.items) inner = inner.items;
    if (inner.additionalProperties) inner = inner.additionalProperties;
    if (inner.$ref && !next.has(inner.$ref) && deref(inner, root).properties) li.append(fieldTree(inner, root, depth + 1, next));
    return li;
  }));
}

function currentMethod() {
  const d = state.detail;
  if (!d || d.methods.length === 0) return null;
  return d.methods[Number($('endpoint').value) || 0];
}

function applyTemplate() {
  const m = currentMethod();
  if (!m) return;
  $('request').value = JSON.stringify(m.template, null, 2);
  let info = m.path ? 'POST ' + m.path : 'The resolver reaches no path for this method; call it through a route.';
  if (m.streaming === 'server') info += ' — server stream: messages appear as they arrive (NDJSON).';
  if (m.streaming === 'client' || m.streaming === 'bidi') {
    info = 'WebSocket ' + m.path + ' — each Send sends one message; Stop closes the stream.';
  }
  $('endpoint-info').textContent = info;
}

function parseHeaders(text) {
  const h = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) h[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return h;
}

function showStatus(code, text) {
  const s = $('call-status');
  s.textContent = code + ' ' + text;
  s.className = code >= 200 && code < 300 ? 'status-ok' : 'status-bad';
}

function pretty(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return text; }
}

function ms(t0) { return (performance.now() - t0).toFixed(1) + ' ms'; }

async function send(ev) {
  ev.preventDefault();
  const m = currentMethod();
  if (!m) return;
  const body = $('request').value;
  $('call-result').hidden = false;
  $('call-body').textContent = '';
  $('call-headers').textContent = '';
  $('call-messages').replaceChildren();
  $('call-messages').hidden = true;
  $('call-stream-info').hidden = true;
  try { JSON.parse(body || '{}'); } catch (err) {
    showStatus('-', 'not sent');
    $('call-body').textContent = 'The request is not valid JSON: ' + err.message;
    return;
  }
  if (!m.path) {
    showStatus('-', 'not sent');
    $('call-body').textContent = 'The resolver reaches no path for this method.';
    return;
  }
  if (m.streaming === 'client' || m.streaming === 'bidi') { sendWebSocket(m, body); return; }

  const headers = Object.assign({ 'Content-Type': 'application/json' }, parseHeaders($('call-headers-in').value));
  if (m.streaming === 'server') headers.Accept = 'application/x-ndjson';
  state.abort = new AbortController();
  $('stop').disabled = false;
  $('send').disabled = true;
  const t0 = performance.now();
  $('call-status').textContent = 'sending…';
  $('call-time').textContent = '';
  try {
    const res = await fetch(m.path, { method: 'POST', headers, body, signal: state.abort.signal, cache: 'no-store' });
    showStatus(res.status, res.statusText);
    $('call-headers').textContent = [...res.headers].map(([k, v]) => k + ': ' + v).join('\n');
    $('call-time').textContent = ms(t0) + (m.streaming === 'server' && res.ok ? ' to the first message' : '');
    if (m.streaming === 'server' && res.ok && res.body) {
      await readStream(res.body, t0);
      $('call-time').textContent = ms(t0) + ' in all';
    } else {
      $('call-body').textContent = pretty(await res.text());
      $('call-time').textContent = ms(t0);
    }
  } catch (err) {
    if (err.name === 'AbortError') {
      $('call-stream-info').hidden = false;
      $('call-stream-info').textContent = 'Stopped after ' + ms(t0) + '.';
    } else {
      showStatus('-', 'failed');
      $('call-body').textContent = String(err);
    }
  } finally {
    state.abort = null;
    $('stop').disabled = true;
    $('send').disabled = false;
  }
}

// readStream shows NDJSON lines as they arrive.
async function readStream(stream, t0) {
  const list = $('call-messages');
  list.hidden = false;
  const info = $('call-stream-info');
  info.hidden = false;
  const reader = stream.getReader();
  const dec = new TextDecoder();
  let buf = '';
  let n = 0;
  const add = (line) => {
    if (!line.trim()) return;
    let text = line;
    let bad = false;
    try {
      const v = JSON.parse(line);
      if (v.error) { bad = true; text = JSON.stringify(v.error); } else text = JSON.stringify(v.result);
    } catch (e) { /* shown as received */ }
    n++;
    list.append(el('li', { 'data-test': 'stream-message', class: bad ? 'status-bad' : '', text: text + '  (+' + ms(t0) + ')' }));
    info.textContent = n + (n === 1 ? ' message' : ' messages') + ' so far';
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      add(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  }
  add(buf + dec.decode());
  info.textContent = n + (n === 1 ? ' message' : ' messages') + '; the stream ended.';
}

function sendWebSocket(m, body) {
  const list = $('call-messages');
  list.hidden = false;
  const info = $('call-stream-info');
  info.hidden = false;
  const t0 = performance.now();
  const deliver = () => {
    state.ws.send(body);
    list.append(el('li', { 'data-test': 'stream-sent', class: 'muted', text: '→ ' + body.replace(/\s+/g, ' ') }));
  };
  if (state.ws && state.ws.readyState === WebSocket.OPEN) { deliver(); return; }
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + m.path;
  const ws = new WebSocket(url);
  state.ws = ws;
  $('stop').disabled = false;
  showStatus('-', 'connecting');
  ws.onopen = () => { showStatus(101, 'Switching Protocols'); $('call-time').textContent = ms(t0); deliver(); };
  ws.onmessage = (e) => list.append(el('li', { 'data-test': 'stream-message', text: '← ' + e.data + '  (+' + ms(t0) + ')' }));
  ws.onerror = () => { info.textContent = 'WebSocket error (is this origin in web.allowed_origins?)'; };
  ws.onclose = (e) => {
    info.textContent = 'Closed with ' + e.code + (e.reason ? ' ' + e.reason : '') + ' after ' + ms(t0) + '.';
    $('stop').disabled = true;
    if (state.ws === ws) state.ws = null;
  };
}

function stop() {
  if (state.abort) state.abort.abort();
  if (state.ws) state.ws.close(1000, 'done');
}

// ---- events ----

async function publish(ev) {
  ev.preventDefault();
  const base = state.info.eventsPath === '/' ? '' : state.info.eventsPath;
  const topic = $('event-topic').value.trim();
  const name = $('event-name').value.trim();
  const out = $('publish-result');
  const path = base + '/' + encodeURIComponent(topic) + '/' + name.split('/').map(encodeURIComponent).join('/');
  const t0 = performance.now();
  out.textContent = 'publishing…';
  try {
    const res = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: $('event-body').value });
    const text = await res.text();
    let detail = text;
    try {
      const v = JSON.parse(text);
      detail = res.ok ? 'event id ' + v.id : v.detail;
    } catch (e) { /* as is */ }
    out.textContent = res.status + ' ' + res.statusText + ' — ' + detail + ' (' + ms(t0) + ')';
    out.className = res.ok ? 'status-ok' : 'status-bad';
  } catch (err) {
    out.textContent = String(err);
    out.className = 'status-bad';
  }
}

// ---- errors ----

function renderErrors(e) {
  const json = JSON.stringify(e);
  if (json === state.errorsJSON) return;
  state.errorsJSON = json;
  $('errors-total').textContent = e.total ? '(' + e.total + ' since start, last ' + e.errors.length + ' shown)' : '';
  $('errors-empty').hidden = e.errors.length > 0;
  $('errors-empty').textContent = e.enabled ? 'No error so far.' : 'Error recording is off.';
  $('errors-table').hidden = e.errors.length === 0;
  $('errors').replaceChildren(...e.errors.map((x) => el('tr', { 'data-test': 'error', 'data-request-id': x.requestId, 'data-status': x.status },
    el('td', { text: new Date(x.time).toLocaleTimeString() }),
    el('td', {}, el('code', { text: x.requestId })),
    el('td', { text: x.status }),
    el('td', { text: x.method + ' ' + x.path }),
    el('td', { text: x.id || '' }),
    el('td', { text: (x.detail || x.body || '') + (x.grpcCode ? ' [' + x.grpcCode + ']' : '') }))));
}

// ---- start ----

async function start() {
  $('call-form').addEventListener('submit', send);
  $('endpoint').addEventListener('change', applyTemplate);
  $('reset-template').addEventListener('click', applyTemplate);
  $('stop').addEventListener('click', stop);
  $('publish-form').addEventListener('submit', publish);
  $('openapi-show').addEventListener('click', async () => {
    const pre = $('openapi-doc');
    try {
      const res = await fetch(state.info.openapiPath, { cache: 'no-store' });
      pre.textContent = pretty(await res.text());
    } catch (err) {
      pre.textContent = String(err);
    }
    pre.hidden = false;
  });
  try {
    state.info = await getJSON('api/info');
  } catch (err) { /* defaults */ }
  if (state.info.eventsPath) $('publish-section').hidden = false;
  if (state.info.openapiPath) {
    $('openapi-section').hidden = false;
    const a = $('openapi-link');
    a.href = state.info.openapiPath;
    a.hidden = false;
  }
  poll();
}

start();
