// The console page: renders the dashboards of panels/ (served by /_sightline/api/console/catalog) with the time
// range and variables in the URL's hash, runs each panel through /_sightline/api/console/panels/<id>, draws time
// series with uPlot, opens one call in a drawer, and polls the newest calls for the live view.
// Plain browser JavaScript, no build step: the page works offline, from the gateway alone.
/* global document, window, uPlot, location, ResizeObserver */
'use strict';

const API = '/_sightline/api/console';
const LIVE = { id: 'live', title: 'Live', variables: ['organisation', 'team', 'key', 'provider', 'model', 'user'], panels: [{ panel: 'audit_calls', width: 24, height: 14 }] };
const LIVE_WINDOW_MS = 15 * 60_000;
const LIVE_POLL_MS = 2000;
const RANGES = { '1h': 3_600_000, '6h': 6 * 3_600_000, '24h': 24 * 3_600_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000 };

let catalog;
let state = readHash();
let liveTimer;
let liveSeen = new Set();
const charts = [];

// ---- state in the URL hash: #dash=cost&range=24h&var-model=a&var-model=b -----------------------------------------

function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  const vars = {};
  for (const [k, v] of p) if (k.startsWith('var-')) (vars[k.slice(4)] ??= []).push(v);
  return { dash: p.get('dash') || 'cost', range: p.get('range') || '24h', from: p.get('from'), to: p.get('to'), vars };
}

function writeHash() {
  const p = new URLSearchParams({ dash: state.dash, range: state.range });
  if (state.range === 'custom') { p.set('from', state.from); p.set('to', state.to); }
  for (const [k, vs] of Object.entries(state.vars)) for (const v of vs) p.append(`var-${k}`, v);
  const hash = `#${p}`;
  if (location.hash !== hash) window.history.replaceState(null, '', hash);
}

function timeRange() {
  if (state.range === 'custom' && state.from && state.to) return { from: Date.parse(`${state.from}Z`), to: Date.parse(`${state.to}Z`) };
  const to = Date.now();
  return { from: to - (RANGES[state.range] ?? RANGES['24h']), to };
}

// ---- API ----------------------------------------------------------------------------------------------------------

async function api(path) {
  const key = sessionStorage.getItem('sightline-admin-key');
  const res = await fetch(`${API}${path}`, { headers: key ? { Authorization: `Bearer ${key}` } : {} });
  if (res.status === 401) {
    await signIn();
    return api(path);
  }
  const body = await res.json();
  if (!res.ok) throw new Error(body.error?.message ?? `HTTP ${res.status}`);
  return body;
}

function signIn() {
  const dialog = document.getElementById('login');
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      sessionStorage.setItem('sightline-admin-key', document.getElementById('key').value.trim());
      resolve();
    }, { once: true });
    if (!dialog.open) dialog.showModal();
  });
}

function query(dash, extra = {}) {
  const { from, to } = timeRange();
  const p = new URLSearchParams({ from: String(extra.from ?? from), to: String(extra.to ?? to), points: '200' });
  for (const name of dash.variables) for (const v of state.vars[name] ?? []) p.append(`var-${name}`, v);
  return p;
}

// ---- formatting ---------------------------------------------------------------------------------------------------

const number = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });
// Below a dollar, fractions of a cent matter (one call costs $0.000123): up to six decimals, at least two.
const cents = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 6 });
const dollars = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
function format(value, unit, column) {
  if (value === null || value === undefined || value === '') return '';
  const n = typeof value === 'number' ? value : Number(value);
  if (typeof value === 'string' && (value.trim() === '' || Number.isNaN(n) || /^\d{4}-\d\d-\d\d/.test(value))) return value;
  if (typeof value === 'object') return JSON.stringify(value);
  const cost = /usd|cost|spend/i.test(column) || (unit === 'currencyUSD' && !/calls|tokens|hits|misses|errors|sessions/i.test(column));
  if (cost) return `$${(Math.abs(n) < 1 ? cents : dollars).format(n)}`;
  if (/rate|share/i.test(column) || unit === 'percentunit') return `${(n * 100).toFixed(1)}%`;
  if (/_ms$/.test(column)) return `${number.format(n)} ms`;
  return number.format(n);
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof window.Node ? c : document.createTextNode(String(c)));
  return e;
}

// ---- rendering ----------------------------------------------------------------------------------------------------

function renderStat(def, rows) {
  const row = rows[0] ?? {};
  return el('div', { class: 'stat' }, ...Object.entries(row).map(([k, v]) =>
    el('div', { 'data-testid': `stat-${def.id}-${k}` }, el('span', { class: 'value' }, format(v, def.unit, k)), el('span', { class: 'label' }, k.replaceAll('_', ' ')))));
}

function renderTable(def, rows, opts = {}) {
  if (rows.length === 0) return el('p', { class: 'empty' }, 'No rows in this range.');
  const columns = Object.keys(rows[0]);
  const body = rows.map((r) => {
    const tr = el('tr', { 'data-row': String(r[def.link?.field] ?? '') });
    if (opts.isNew?.(r)) tr.className = 'new';
    for (const c of columns) {
      const v = r[c];
      const numeric = typeof v === 'number' || (typeof v === 'string' && v !== '' && !Number.isNaN(Number(v)) && !/id$/.test(c));
      const cell = el('td', numeric ? { class: 'num' } : {});
      if (def.link && c === def.link.field) cell.append(el('a', { class: 'link', 'data-testid': `link-${v}`, onclick: () => follow(def.link, String(v)) }, String(v)));
      else cell.textContent = format(v, def.unit, c);
      tr.append(cell);
    }
    return tr;
  });
  return el('table', {}, el('thead', {}, el('tr', {}, ...columns.map((c) => el('th', {}, c)))), el('tbody', {}, ...body));
}

const parseTime = (t) => (typeof t === 'number' ? t : Date.parse(`${String(t).replace(' ', 'T')}Z`)) / 1000;

/** Rows (time first; optional label columns; value columns) → uPlot's columns: one series per label × value. */
function toSeries(rows) {
  const columns = Object.keys(rows[0] ?? {}).filter((c) => c !== 'time');
  const labels = columns.filter((c) => rows.some((r) => typeof r[c] === 'string' && Number.isNaN(Number(r[c]))));
  const values = columns.filter((c) => !labels.includes(c));
  const times = [...new Set(rows.map((r) => parseTime(r.time)))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const series = new Map();
  for (const r of rows) {
    const label = labels.map((l) => r[l]).join(' · ');
    for (const v of values) {
      const name = label ? (values.length > 1 ? `${label} ${v}` : label) : v;
      if (!series.has(name)) series.set(name, new Array(times.length).fill(null));
      series.get(name)[index.get(parseTime(r.time))] = Number(r[v]);
    }
  }
  return { times, series };
}

const PALETTE = ['#5aa9ff', '#ffb454', '#7fd962', '#f07178', '#c792ea', '#39bae6', '#e6b673', '#95e6cb'];

function renderSeries(def, rows, box) {
  if (rows.length === 0) return el('p', { class: 'empty' }, 'No data in this range.');
  const { times, series } = toSeries(rows);
  const names = [...series.keys()];
  const target = el('div', { 'data-testid': `chart-${def.id}`, 'data-series': names.join('|'), 'data-points': String(times.length) });
  const width = Math.max(box.clientWidth - 24, 200);
  const chart = new uPlot({
    width, height: 220,
    series: [{}, ...names.map((n, i) => ({ label: n, stroke: PALETTE[i % PALETTE.length], width: 1.5, value: (_u, v) => format(v, def.unit, n) }))],
    axes: [{ stroke: '#8a96a3', grid: { stroke: '#2a3440' } }, { stroke: '#8a96a3', grid: { stroke: '#2a3440' }, size: 70, values: (_u, ticks) => ticks.map((t) => format(t, def.unit, def.unit === 'currencyUSD' ? 'usd' : '')) }],
  }, [times, ...names.map((n) => series.get(n))], target);
  charts.push(chart);
  return target;
}

function render(def, rows, box, opts) {
  if (def.type === 'stat') return renderStat(def, rows);
  if (def.type === 'timeseries') return renderSeries(def, rows, box);
  return renderTable(def, rows, opts);
}

async function loadPanel(dash, item, box) {
  const def = catalog.panels[item.panel];
  const content = box.querySelector('.content');
  try {
    const { rows } = await api(`/panels/${def.id}?${query(dash)}`);
    content.replaceChildren(render(def, rows, box));
    box.dataset.rows = String(rows.length);
    box.dataset.state = 'done';
  } catch (err) {
    content.replaceChildren(el('p', { class: 'error' }, err.message));
    box.dataset.state = 'error';
  }
}

function follow(link, value) {
  if (link.variable === 'request_id') return openCall(value);
  state.vars[link.variable] = [value];
  state.dash = link.dashboard;
  writeHash();
  draw();
}

// ---- one call -----------------------------------------------------------------------------------------------------

async function openCall(id) {
  const drawer = document.getElementById('drawer');
  const body = document.getElementById('drawer-body');
  drawer.hidden = false;
  body.replaceChildren(el('p', {}, 'Loading…'));
  try {
    const { call, trace_url: traceUrl } = await api(`/calls/${encodeURIComponent(id)}?${query(currentDash())}`);
    const field = (label, value, testid) => [el('dt', {}, label), el('dd', testid ? { 'data-testid': testid } : {}, value)];
    const trace = call.trace_id ? (traceUrl ? el('a', { href: traceUrl, target: '_blank', rel: 'noopener', 'data-testid': 'trace-link' }, call.trace_id) : call.trace_id) : '—';
    const attempts = Array.isArray(call.attempt_log) ? call.attempt_log : [];
    body.replaceChildren(
      el('h2', {}, `Call ${call.request_id}`),
      el('dl', {},
        ...field('time', call.created_at), ...field('organisation', call.organization_id), ...field('team / key', `${call.team || '—'} / ${call.key_id || '—'}`),
        ...field('user', call.user_id || '—'), ...field('session', `${call.session_id || '—'} ${call.session_path || ''}`),
        ...field('provider / model', `${call.provider} / ${call.model}${call.deployment ? ` (${call.deployment})` : ''}`),
        ...field('status', `${call.status}${call.error_code ? ` ${call.error_code}` : ''}`, 'call-status'),
        ...field('tokens', `in ${call.prompt_tokens} · out ${call.completion_tokens} · cache read ${call.cache_read_tokens} · cache write ${call.cache_write_tokens} · reasoning ${call.reasoning_tokens}${call.tokens_estimated ? ' (estimated)' : ''}`, 'call-tokens'),
        ...field('cost', `${format(call.cost_usd, 'currencyUSD', 'cost_usd')}${call.cost_known ? '' : ' (price unknown)'}`, 'call-cost'),
        ...field('latency', `${format(call.latency_ms, 'ms', 'latency_ms')}${call.ttft_ms != null ? ` · first token ${format(call.ttft_ms, 'ms', 'ttft_ms')}` : ''}`),
        ...field('trace', trace, 'call-trace')),
      el('h3', {}, `Attempts (${attempts.length})`),
      attempts.length ? renderTable({ id: 'attempts', unit: 'none' }, attempts.map((a) => (Array.isArray(a)
        ? { alias: a[0], deployment: a[1], provider: a[2], model: a[3], status: a[4], latency_ms: a[5], error_code: a[6], error: a[7] } : a))) : el('p', { class: 'empty' }, 'One attempt, no retries or fallbacks.'),
      el('h3', {}, 'Prompt (redacted)'), el('pre', { 'data-testid': 'call-prompt' }, call.prompt || '(empty: omitted, or past body retention)'),
      el('h3', {}, 'Response (redacted)'), el('pre', { 'data-testid': 'call-response' }, call.response || '(empty)'),
    );
  } catch (err) {
    body.replaceChildren(el('p', { class: 'error' }, err.message));
  }
}

// ---- dashboards, pickers, live ------------------------------------------------------------------------------------

function currentDash() {
  return state.dash === 'live' ? LIVE : catalog.dashboards.find((d) => d.id === state.dash) ?? catalog.dashboards[0];
}

async function drawPickers(dash) {
  const box = document.getElementById('variables');
  box.replaceChildren();
  for (const name of dash.variables) {
    const v = catalog.variables[name];
    if (name === 'request_id' || (name === 'organisation' && catalog.organization_id)) continue;
    const current = state.vars[name] ?? [];
    let input;
    if (v.kind === 'textbox') {
      input = el('input', { type: 'text', value: current[0] ?? (typeof v.initial === 'string' ? v.initial : ''), placeholder: v.description, 'data-testid': `var-${name}` });
      input.addEventListener('change', () => { state.vars[name] = input.value ? [input.value] : []; writeHash(); drawPanels(dash); });
    } else {
      input = el('select', { multiple: '', 'data-testid': `var-${name}` });
      api(`/variables/${name}?${query(dash)}`).then(({ options }) => {
        for (const o of options) input.append(el('option', current.includes(o) ? { value: o, selected: '' } : { value: o }, o || '(none)'));
      }, () => {});
      input.addEventListener('change', () => { state.vars[name] = [...input.selectedOptions].map((o) => o.value); writeHash(); drawPanels(dash); });
    }
    box.append(el('label', {}, v.label, input));
  }
}

function drawPanels(dash) {
  clearTimeout(liveTimer);
  for (const c of charts.splice(0)) c.destroy();
  const grid = document.getElementById('grid');
  grid.replaceChildren();
  if (dash === LIVE) return live();
  for (const item of dash.panels) {
    const def = catalog.panels[item.panel];
    const box = el('section', { class: 'panel', 'data-testid': `panel-${def.id}`, 'data-state': 'loading', style: `grid-column: span ${item.width}; min-height: ${item.height * 30}px` },
      el('h2', { title: def.description }, def.title), el('div', { class: 'content' }, el('p', { class: 'empty' }, 'Loading…')));
    grid.append(box);
    loadPanel(dash, item, box);
  }
  document.getElementById('status').textContent = `${dash.title}${catalog.organization_id ? ` · organisation ${catalog.organization_id}` : ''}`;
}

/** The newest calls of the last 15 minutes, polled; rows not seen before are highlighted. */
async function live() {
  const def = catalog.panels.audit_calls;
  const grid = document.getElementById('grid');
  const box = el('section', { class: 'panel', 'data-testid': 'panel-live', style: 'grid-column: span 24' }, el('h2', {}, 'Calls as they arrive (last 15 minutes)'), el('div', { class: 'content' }));
  grid.append(box);
  // The first poll's rows were there before the view opened: only later ones are new.
  let first = liveSeen.size === 0;
  const poll = async () => {
    const to = Date.now();
    try {
      const { rows } = await api(`/panels/audit_calls?${query(LIVE, { from: to - LIVE_WINDOW_MS, to })}`);
      const fresh = (r) => !first && !liveSeen.has(r.request_id);
      box.querySelector('.content').replaceChildren(renderTable(def, rows, { isNew: fresh }));
      box.dataset.rows = String(rows.length);
      for (const r of rows) liveSeen.add(r.request_id);
      first = false;
      document.getElementById('status').textContent = `Live · ${rows.length} calls in the last 15 minutes · updated ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      box.querySelector('.content').replaceChildren(el('p', { class: 'error' }, err.message));
    }
    if (state.dash === 'live') liveTimer = setTimeout(poll, LIVE_POLL_MS);
  };
  await poll();
}

function drawTabs() {
  const nav = document.getElementById('tabs');
  nav.replaceChildren(...[...catalog.dashboards, LIVE].map((d) => el('a', {
    href: '#', class: d.id === state.dash ? 'active' : '', 'data-testid': `tab-${d.id}`,
    onclick: (e) => { e.preventDefault(); state.dash = d.id; liveSeen = new Set(); writeHash(); draw(); },
  }, d.title.replace(/^Sightline · /, ''))));
}

function draw() {
  const controls = document.getElementById('controls');
  controls.classList.toggle('custom-range', state.range === 'custom');
  document.getElementById('range').value = state.range;
  const dash = currentDash();
  drawTabs();
  drawPickers(dash);
  drawPanels(dash);
}

function toLocalInput(ms) {
  return new Date(ms).toISOString().slice(0, 19);
}

async function main() {
  catalog = await api('/catalog');
  const who = await api('/whoami');
  document.getElementById('who').textContent = who.organization_id ? `${who.key_id} · ${who.organization_id}` : who.key_id ? `${who.key_id} · all organisations` : 'loopback · all organisations';
  document.getElementById('range').addEventListener('change', (e) => {
    state.range = e.target.value;
    if (state.range === 'custom') {
      const { from, to } = { to: Date.now(), from: Date.now() - RANGES['24h'] };
      state.from ??= toLocalInput(from);
      state.to ??= toLocalInput(to);
      document.getElementById('from').value = state.from;
      document.getElementById('to').value = state.to;
    }
    writeHash();
    draw();
  });
  for (const id of ['from', 'to']) document.getElementById(id).addEventListener('change', (e) => { state[id] = e.target.value; writeHash(); draw(); });
  document.getElementById('refresh').addEventListener('click', () => draw());
  document.getElementById('close-drawer').addEventListener('click', () => { document.getElementById('drawer').hidden = true; });
  if (state.range === 'custom') { document.getElementById('from').value = state.from; document.getElementById('to').value = state.to; }
  new ResizeObserver(() => { for (const c of charts) c.setSize({ width: Math.max(c.root.parentElement.parentElement.clientWidth - 24, 200), height: 220 }); })
    .observe(document.getElementById('grid'));
  writeHash();
  draw();
}

main().catch((err) => { document.getElementById('status').textContent = err.message; });
