/**
 * The datasync dashboard's script: a plain ES module over the admin API (src/admin), no build
 * step and no framework. uPlot (loaded before this module from /assets/uPlot.iife.min.js) draws
 * the charts.
 *
 * - Every second it reads GET /api/overview, updates the figures and tables and appends a point
 *   to each chart; the charts start from GET /api/history.
 * - Dead letters (GET /api/dlq) and the audit trail (GET /api/actions) refresh every 5 s and
 *   after each replay or discard, which asks for confirmation in a <dialog> first.
 * - The participation table (GET /api/participation) is read once, and every 2 s while an
 *   audit runs (POST /api/participation/run).
 * - When the API does not answer, a banner says so and the page keeps its last figures.
 *
 * Every value from the API reaches the page as text (textContent), never as HTML.
 */

/* global uPlot */

/** How often the overview is read, in ms. */
const OVERVIEW_EVERY_MS = 1_000;
/** How often the dead letters and the audit trail are read, in ms. */
const DEAD_LETTERS_EVERY_MS = 5_000;
/** How often the participation table is read while an audit runs, in ms. */
const PARTICIPATION_EVERY_MS = 2_000;
/** How long one API call may take, in ms. */
const REQUEST_TIMEOUT_MS = 5_000;
/** Seconds of history the charts keep. */
const HISTORY_SECONDS = 300;
/** Topics drawn as their own line in the throughput chart; the rest are summed as "other topics". */
const TOPIC_LINES = 8;
/** A read model whose newest change is older than this is stale, in seconds. */
const STALE_AFTER_SECONDS = 60;
/** How long a row the operator replayed or discarded stays in view after it left the list, in ms. */
const ACTED_ROW_KEPT_MS = 60_000;

const OUTCOMES = ['applied', 'duplicate', 'stale', 'retried', 'dead_lettered'];
/** Outcomes that end an event's delivery (retried does not). */
const SETTLED_OUTCOMES = ['applied', 'duplicate', 'stale', 'dead_lettered'];
const COLUMN_TITLES = {
  producer: 'Data Producer', consumer: 'Data Consumer', idempotency: 'Idempotency',
  schema: 'Schema Validation', cache: 'Cache Invalidation', dlq: 'DLQ',
};

// ---------------------------------------------------------------------------------------------
// DOM and formatting

const $ = (selector) => {
  const found = document.querySelector(selector);
  if (!found) throw new Error(`the page has no ${selector}`);
  return found;
};

/** Creates an element: `h('td', { class: 'num' }, 'text', child)`. Attributes starting with `on` are listeners. */
function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (name === 'class') element.className = value;
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Creates an SVG element with attributes. */
function svg(tag, attrs = {}, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) element.setAttribute(name, String(value));
  }
  for (const child of children) element.append(child instanceof Node ? child : String(child));
  return element;
}

/** Replaces a table's body rows; an empty list shows one row saying `empty`. */
function fillTable(table, rows, empty) {
  const body = table.tBodies[0];
  const columns = table.tHead.rows[0].cells.length;
  body.replaceChildren(...(rows.length > 0 ? rows : [h('tr', { class: 'empty-row' }, h('td', { colspan: columns }, empty))]));
}

const isNumber = (value) => typeof value === 'number' && Number.isFinite(value);

/** Seconds as a short duration: 850 µs, 12.3 ms, 1.25 s, 4 min 12 s, 2 h 5 min. */
function formatSeconds(seconds) {
  if (!isNumber(seconds)) return '—';
  const abs = Math.abs(seconds);
  if (abs < 0.001) return `${Math.round(seconds * 1e6)} µs`;
  if (abs < 1) return `${(seconds * 1000).toFixed(abs < 0.01 ? 2 : abs < 0.1 ? 1 : 0)} ms`;
  if (abs < 60) return `${seconds.toFixed(abs < 10 ? 2 : 1)} s`;
  if (abs < 3600) return `${Math.floor(abs / 60)} min ${Math.round(abs % 60)} s`;
  return `${Math.floor(abs / 3600)} h ${Math.round((abs % 3600) / 60)} min`;
}

/** A rate in events a second. */
function formatRate(rate) {
  if (!isNumber(rate)) return '—';
  if (rate === 0) return '0';
  return rate < 10 ? rate.toFixed(1) : Math.round(rate).toLocaleString('en');
}

const formatCount = (count) => (isNumber(count) ? Math.round(count).toLocaleString('en') : '—');

const clock = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
// sv-SE writes dates as 2026-05-01 14:03:07
const dateTime = new Intl.DateTimeFormat('sv-SE', { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });

/** An instant (epoch ms, ISO text or Date) as local date and time, or '—'. */
function formatDateTime(value) {
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? '—' : dateTime.format(date);
}

/** How long ago an instant was: "just now", "12 s ago", "4 min ago", "2 h ago". */
function formatAgo(value) {
  const at = new Date(value).getTime();
  if (Number.isNaN(at)) return '';
  const seconds = Math.max(0, Math.round((Date.now() - at) / 1000));
  if (seconds < 2) return 'just now';
  if (seconds < 120) return `${seconds} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

/** An element with an ISO time and a readable one. */
function timeCell(value) {
  if (value === null || value === undefined) return h('td', {}, '—');
  const date = new Date(value);
  return h('td', { class: 'when' }, h('time', { datetime: Number.isNaN(date.getTime()) ? undefined : date.toISOString(), title: formatAgo(value) }, formatDateTime(value)));
}

let toastTimer;
/** A short message at the bottom of the page. */
function toast(message, kind = 'ok') {
  const box = $('#toast');
  box.textContent = message;
  box.className = `toast ${kind}`;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, 6_000);
}

// ---------------------------------------------------------------------------------------------
// The admin API

/** An answer of the admin API that was not 2xx: its `{ error: { code, message } }` when it sent one. */
class ApiFailure extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Calls the admin API; resolves with the parsed JSON, rejects with an ApiFailure or a network error. */
async function api(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      cache: 'no-store',
    });
  } catch (error) {
    const reason = error && error.name === 'TimeoutError' ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : 'the connection failed';
    throw new ApiFailure(0, 'UNREACHABLE', `${method} ${path}: ${reason}`);
  }
  const text = await response.text();
  let parsed;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    throw new ApiFailure(response.status, 'NOT_JSON', `${method} ${path} answered ${response.status} with something other than JSON`);
  }
  if (!response.ok) {
    const error = parsed && parsed.error;
    throw new ApiFailure(response.status, error?.code ?? `HTTP_${response.status}`, error?.message ? `${error.message} (${method} ${path}: ${response.status})` : `${method} ${path} answered ${response.status}`);
  }
  return parsed;
}

// ---------------------------------------------------------------------------------------------
// State

const state = {
  /** The latest overview. */
  overview: undefined,
  /** When the last overview arrived (epoch ms, the server's clock). */
  lastAt: undefined,
  /** Whether the last call to /api/overview failed. */
  unreachable: false,
  /** Settled events since the page opened, integrated from the rates. */
  settledSinceOpened: 0,
  /** Chart history: one point a second, oldest first (shape of /api/history's points). */
  points: [],
  topologySignature: '',
  dlqConsumers: '',
  /** Dead letters the operator acted on here: id → { entry, status, at }. */
  acted: new Map(),
};

/** A history point made from an overview, like those of /api/history. */
function pointOf(overview) {
  const publishedPerSecond = {};
  let consumed = 0;
  for (const row of overview.throughput ?? []) {
    publishedPerSecond[row.topic] = row.publishedPerSecond ?? 0;
    for (const outcome of SETTLED_OUTCOMES) consumed += row.consumedPerSecond?.[outcome] ?? 0;
  }
  const overall = overview.latency?.overall ?? {};
  return {
    at: overview.at,
    p50: overall.p50 ?? null,
    p95: overall.p95 ?? null,
    p99: overall.p99 ?? null,
    publishedPerSecond,
    consumedPerSecond: consumed,
    outboxPending: (overview.outbox ?? []).reduce((sum, row) => sum + (row.pending ?? 0), 0),
    dlqDepth: (overview.dlq ?? []).reduce((sum, row) => sum + (row.depth ?? 0), 0),
  };
}

/** Adds a point (replacing one at the same second) and drops points older than the history kept. */
function addPoint(point) {
  const last = state.points[state.points.length - 1];
  if (last && Math.floor(last.at / 1000) >= Math.floor(point.at / 1000)) state.points[state.points.length - 1] = point;
  else state.points.push(point);
  const oldest = point.at - HISTORY_SECONDS * 1000;
  while (state.points.length > 0 && state.points[0].at < oldest) state.points.shift();
}

// ---------------------------------------------------------------------------------------------
// Charts

/** The chart colours, from the CSS variables --series-1 … --series-10. */
function palette() {
  const style = getComputedStyle(document.documentElement);
  const colours = [];
  for (let i = 1; i <= 10; i += 1) colours.push(style.getPropertyValue(`--series-${i}`).trim() || '#555');
  return { colours, bad: style.getPropertyValue('--bad').trim() || '#d00', muted: style.getPropertyValue('--muted').trim() || '#888' };
}

const msValue = (_u, value) => (value === null || value === undefined ? '—' : formatSeconds(value / 1000));
const rateValue = (_u, value) => (value === null || value === undefined ? '—' : `${formatRate(value)}/s`);
const countValue = (_u, value) => (value === null || value === undefined ? '—' : formatCount(value));

/** A live time-series chart in `container`: `build()` gives uPlot's series and data. */
class LiveChart {
  constructor(container, { yLabel, yRange, yValues }) {
    this.container = container;
    this.yLabel = yLabel;
    this.yRange = yRange;
    this.yValues = yValues;
    this.plot = undefined;
    this.seriesKey = '';
    new ResizeObserver(() => this.plot?.setSize(this.size())).observe(container);
  }

  size() {
    return { width: Math.max(300, this.container.clientWidth), height: 260 };
  }

  /** Draws `data` with `series`; rebuilds the chart only when the series changed. */
  draw(series, data) {
    const key = series.map((s) => s.label).join('|');
    if (this.plot && key === this.seriesKey) {
      this.plot.setData(data);
      this.showLatest();
      return;
    }
    this.plot?.destroy();
    this.container.replaceChildren();
    this.seriesKey = key;
    this.plot = new uPlot({
      ...this.size(),
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      scales: { x: { time: true }, y: { range: this.yRange } },
      axes: [
        { stroke: palette().muted, grid: { stroke: '#eef0f3' } },
        { label: this.yLabel, stroke: palette().muted, grid: { stroke: '#eef0f3' }, size: 60, values: this.yValues },
      ],
      series: [{ label: 'time', value: (_u, ts) => (ts === null || ts === undefined ? '—' : clock.format(new Date(ts * 1000))) }, ...series.map((s) => ({ points: { show: false }, ...s }))],
    }, data, this.container);
    this.showLatest();
  }

  /** The legend shows the newest values while the pointer is not on the chart. */
  showLatest() {
    const count = this.plot.data[0].length;
    if (count > 0 && (this.plot.cursor.idx === null || this.plot.cursor.idx === undefined)) this.plot.setLegend({ idx: count - 1 });
  }
}

let latencyChart;
let throughputChart;
let outboxChart;

function drawLatencyChart() {
  const { colours, bad } = palette();
  const sla = (state.overview?.slaSeconds ?? 0.5) * 1000;
  const xs = state.points.map((p) => p.at / 1000);
  const ms = (value) => (isNumber(value) ? value * 1000 : null);
  latencyChart.draw([
    { label: 'P50', stroke: colours[0], width: 2, value: msValue },
    { label: 'P95', stroke: colours[1], width: 2, value: msValue },
    { label: 'P99', stroke: colours[2], width: 2, value: msValue },
    { label: `SLA (P95 ≤ ${formatSeconds(sla / 1000)})`, stroke: bad, width: 1.5, dash: [6, 4], points: { show: false }, value: msValue },
  ], [xs, state.points.map((p) => ms(p.p50)), state.points.map((p) => ms(p.p95)), state.points.map((p) => ms(p.p99)), xs.map(() => sla)]);
}

/** The topics drawn as lines: the busiest over the history kept, at most TOPIC_LINES. */
function chartTopics() {
  const totals = new Map();
  for (const point of state.points) {
    for (const [topic, rate] of Object.entries(point.publishedPerSecond ?? {})) totals.set(topic, (totals.get(topic) ?? 0) + (rate ?? 0));
  }
  return [...totals.entries()].filter(([, total]) => total > 0).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, TOPIC_LINES).map(([topic]) => topic).sort();
}

let throughputTopics = [];
let throughputTopicsChosenAt = 0;

function drawThroughputChart() {
  const { colours, muted } = palette();
  // choose the lines at most every 10 s, so the chart is not rebuilt every second
  if (throughputTopics.length === 0 || Date.now() - throughputTopicsChosenAt > 10_000) {
    const chosen = chartTopics();
    if (chosen.join('|') !== throughputTopics.join('|')) throughputTopics = chosen;
    throughputTopicsChosenAt = Date.now();
  }
  const topics = throughputTopics;
  const xs = state.points.map((p) => p.at / 1000);
  const series = topics.map((topic, i) => ({ label: topic, stroke: colours[i % colours.length], width: 1.5, value: rateValue }));
  const data = [xs, ...topics.map((topic) => state.points.map((p) => p.publishedPerSecond?.[topic] ?? 0))];
  const chosen = new Set(topics);
  series.push({ label: 'other topics', stroke: muted, width: 1, dash: [3, 3], value: rateValue });
  data.push(state.points.map((p) => Object.entries(p.publishedPerSecond ?? {}).reduce((sum, [topic, rate]) => (chosen.has(topic) ? sum : sum + (rate ?? 0)), 0)));
  throughputChart.draw(series, data);
}

function drawOutboxChart() {
  const { colours, bad } = palette();
  const xs = state.points.map((p) => p.at / 1000);
  outboxChart.draw([
    { label: 'outbox pending (all services)', stroke: colours[0], width: 2, fill: `${colours[0]}22`, value: countValue },
    { label: 'dead letters pending', stroke: bad, width: 1.5, value: countValue },
  ], [xs, state.points.map((p) => p.outboxPending ?? null), state.points.map((p) => p.dlqDepth ?? null)]);
}

function drawCharts() {
  drawLatencyChart();
  drawThroughputChart();
  drawOutboxChart();
}

// ---------------------------------------------------------------------------------------------
// Overview figures and tables

function setFigure(selector, text, kind) {
  const element = $(selector);
  element.textContent = text;
  element.classList.toggle('bad', kind === 'bad');
  element.classList.toggle('warn', kind === 'warn');
  element.classList.toggle('good', kind === 'good');
}

function renderFigures(overview, point) {
  const sla = overview.slaSeconds;
  const overall = overview.latency?.overall ?? {};
  const window = overview.windowSeconds;
  setFigure('#fig-p50', formatSeconds(overall.p50));
  setFigure('#fig-p95', formatSeconds(overall.p95), isNumber(overall.p95) && isNumber(sla) ? (overall.p95 > sla ? 'bad' : 'good') : undefined);
  setFigure('#fig-p99', formatSeconds(overall.p99));
  $('#fig-window').textContent = isNumber(window) ? `last ${window} s` : '';
  $('#fig-sla').textContent = isNumber(sla) ? `SLA ${formatSeconds(sla)}${isNumber(overall.p95) ? (overall.p95 > sla ? ': over' : ': within') : ''}` : '';
  $('#fig-count').textContent = isNumber(overall.count) ? `${formatCount(overall.count)} events applied` : '';
  const published = Object.values(point.publishedPerSecond).reduce((sum, rate) => sum + rate, 0);
  setFigure('#fig-published', `${formatRate(published)}/s`);
  setFigure('#fig-consumed', `${formatRate(point.consumedPerSecond)}/s`);
  setFigure('#fig-settled', formatCount(state.settledSinceOpened));
  setFigure('#fig-outbox', formatCount(point.outboxPending), point.outboxPending > 0 ? 'warn' : undefined);
  const oldest = Math.max(0, ...(overview.outbox ?? []).map((row) => row.oldestAgeSeconds ?? 0));
  $('#fig-outbox-age').textContent = point.outboxPending > 0 ? `oldest ${formatSeconds(oldest)}` : 'nothing waiting';
  setFigure('#fig-dlq', formatCount(point.dlqDepth), point.dlqDepth > 0 ? 'bad' : 'good');
}

function renderLatencyTable(overview) {
  const sla = overview.slaSeconds;
  const all = overview.latency?.byConsumer ?? [];
  const quiet = all.filter((row) => !(row.count > 0)).length;
  $('#latency-quiet').textContent = quiet > 0 ? `${quiet} topic–consumer pair${quiet === 1 ? '' : 's'} with no event applied in the window not shown` : '';
  const rows = all.filter((row) => row.count > 0)
    .sort((a, b) => (b.p95 ?? -1) - (a.p95 ?? -1) || a.topic.localeCompare(b.topic) || a.consumer.localeCompare(b.consumer))
    .map((row) => {
      const over = isNumber(row.p95) && isNumber(sla) && row.p95 > sla;
      return h('tr', { 'data-testid': 'latency-row' },
        h('td', {}, row.topic), h('td', {}, row.consumer),
        h('td', { class: 'num' }, formatSeconds(row.p50)),
        h('td', { class: `num${over ? ' bad' : ''}`, title: over ? `over the ${formatSeconds(sla)} SLA` : undefined }, formatSeconds(row.p95), over ? ' ▲' : ''),
        h('td', { class: 'num' }, formatSeconds(row.p99)),
        h('td', { class: 'num' }, formatCount(row.count)));
    });
  fillTable($('#latency-table'), rows, `No event applied in the last ${overview.windowSeconds ?? '?'} s.`);
}

/** Whether a topic had no traffic at all in the overview's window. */
function idle(row) {
  return !(row.publishedPerSecond > 0) && OUTCOMES.every((outcome) => !(row.consumedPerSecond?.[outcome] > 0));
}

function renderThroughputTable(overview) {
  const all = overview.throughput ?? [];
  const showIdle = $('#throughput-idle').checked;
  const hidden = showIdle ? 0 : all.filter(idle).length;
  $('#throughput-hidden').textContent = hidden > 0 ? `${hidden} topic${hidden === 1 ? '' : 's'} without traffic hidden` : '';
  const rows = all.filter((row) => showIdle || !idle(row))
    .sort((a, b) => (b.publishedPerSecond ?? 0) - (a.publishedPerSecond ?? 0) || a.topic.localeCompare(b.topic))
    .map((row) => h('tr', {},
      h('td', {}, row.topic),
      h('td', { class: 'num strong' }, formatRate(row.publishedPerSecond)),
      ...OUTCOMES.map((outcome) => {
        const rate = row.consumedPerSecond?.[outcome] ?? 0;
        const alarming = (outcome === 'dead_lettered' || outcome === 'retried') && rate > 0;
        return h('td', { class: `num${alarming ? ' bad' : ''}` }, formatRate(rate));
      })));
  fillTable($('#throughput-table'), rows, all.length > 0 ? 'No topic has traffic now.' : 'No topic is declared.');
}

function renderOutboxTable(overview) {
  const rows = [...(overview.outbox ?? [])]
    .sort((a, b) => (b.pending ?? 0) - (a.pending ?? 0) || a.service.localeCompare(b.service))
    .map((row) => h('tr', {},
      h('td', {}, row.service),
      h('td', { class: `num${row.pending > 0 ? ' warn' : ''}` }, formatCount(row.pending)),
      h('td', { class: `num${(row.oldestAgeSeconds ?? 0) > STALE_AFTER_SECONDS ? ' bad' : ''}` }, row.pending > 0 ? formatSeconds(row.oldestAgeSeconds) : '—')));
  fillTable($('#outbox-table'), rows, 'No service has an outbox.');
}

function renderHealthTables(overview) {
  fillTable($('#freshness-table'), [...(overview.freshness ?? [])]
    .sort((a, b) => a.consumer.localeCompare(b.consumer) || a.topic.localeCompare(b.topic))
    .map((row) => {
      const stale = isNumber(row.seconds) && row.seconds > STALE_AFTER_SECONDS;
      return h('tr', {}, h('td', {}, row.consumer), h('td', {}, row.topic),
        h('td', { class: `num${stale ? ' bad' : isNumber(row.seconds) ? ' good' : ''}`, title: stale ? `stale: older than ${STALE_AFTER_SECONDS} s` : undefined }, formatSeconds(row.seconds), stale ? ' (stale)' : ''));
    }), 'No read model has applied an event yet.');

  const lag = overview.lag ?? [];
  const caughtUp = lag.filter((row) => !(row.lag > 0)).length;
  $('#lag-caught-up').textContent = caughtUp > 0 ? `${caughtUp} topic–consumer pair${caughtUp === 1 ? '' : 's'} with no lag not shown.` : '';
  fillTable($('#lag-table'), lag.filter((row) => row.lag > 0)
    .sort((a, b) => b.lag - a.lag || a.topic.localeCompare(b.topic) || a.consumer.localeCompare(b.consumer))
    .map((row) => h('tr', {}, h('td', {}, row.topic), h('td', {}, row.consumer), h('td', { class: 'num warn' }, formatCount(row.lag)))),
  lag.length > 0 ? 'Every consumer has caught up.' : 'No lag reported (this transport may not report it).');

  fillTable($('#circuits-table'), [...(overview.circuits ?? [])]
    .sort((a, b) => a.circuit.localeCompare(b.circuit))
    .map((row) => h('tr', {}, h('td', {}, row.circuit), h('td', {}, h('span', { class: `badge circuit-${row.state}` }, String(row.state ?? 'unknown').replace('_', '-'))))),
  'No circuit breaker has been used yet.');

  fillTable($('#caches-table'), [...(overview.caches ?? [])]
    .sort((a, b) => a.cache.localeCompare(b.cache))
    .map((row) => h('tr', {}, h('td', {}, row.cache),
      h('td', { class: 'num' }, formatCount(row.hits)), h('td', { class: 'num' }, formatCount(row.misses)),
      h('td', { class: 'num' }, formatCount(row.invalidations)),
      h('td', { class: 'num' }, isNumber(row.hitRatio) ? h('span', { class: 'ratio' }, h('span', { class: 'ratio-bar', style: `width:${Math.round(row.hitRatio * 100)}%` }), h('span', { class: 'ratio-text' }, `${(row.hitRatio * 100).toFixed(1)} %`)) : '—'))),
  'No cache has been read yet.');
}

/** The dead-letter depth per consumer, as small badges, and the consumer filter's choices. */
function renderDeadLetterDepths(overview) {
  const depths = [...(overview.dlq ?? [])].sort((a, b) => (b.depth ?? 0) - (a.depth ?? 0) || a.consumer.localeCompare(b.consumer));
  const withLetters = depths.filter((row) => row.depth > 0);
  $('#dlq-depths').replaceChildren(...(withLetters.length > 0
    ? withLetters.map((row) => h('span', { class: 'badge bad', 'data-testid': 'dlq-depth-badge' }, `${row.consumer}: ${formatCount(row.depth)}`))
    : [h('span', { class: 'badge good' }, 'no consumer has pending dead letters')]));
  const names = depths.map((row) => row.consumer).sort();
  const signature = names.join('|');
  if (signature === state.dlqConsumers) return;
  state.dlqConsumers = signature;
  const select = $('#dlq-consumer');
  const chosen = select.value;
  select.replaceChildren(h('option', { value: '' }, 'all consumers'), ...names.map((name) => h('option', { value: name }, name)));
  select.value = names.includes(chosen) ? chosen : '';
}

// ---------------------------------------------------------------------------------------------
// Topology

/** Spreads nodes at their wished y (sorted) at least `gap` apart, within [top, bottom] when they fit. */
function spread(nodes, gap, top, bottom) {
  nodes.sort((a, b) => a.y - b.y || a.name.localeCompare(b.name));
  for (let i = 0; i < nodes.length; i += 1) nodes[i].y = Math.max(nodes[i].y, i === 0 ? top : nodes[i - 1].y + gap);
  const overflow = nodes.length > 0 ? nodes[nodes.length - 1].y - bottom : 0;
  if (overflow > 0) {
    for (let i = nodes.length - 1; i >= 0; i -= 1) {
      const limit = i === nodes.length - 1 ? bottom : nodes[i + 1].y - gap;
      nodes[i].y = Math.max(top + i * gap, Math.min(nodes[i].y, limit));
    }
  }
}

/**
 * Lays the topology out in three columns: services that publish (left), topics grouped by
 * owner (middle), services that subscribe (right); each service sits near the middle of the
 * topics it is joined to.
 */
function layoutTopology(topology) {
  const services = new Map((topology.services ?? []).map((s) => [s.name, s]));
  const topics = [...(topology.topics ?? [])].sort((a, b) => a.owner.localeCompare(b.owner) || a.name.localeCompare(b.name));
  const ROW = 26;
  const TOP = 30;
  const topicY = new Map(topics.map((topic, i) => [topic.name, TOP + i * ROW]));
  const bottom = TOP + Math.max(0, topics.length - 1) * ROW;

  const column = (pick) => {
    const joined = new Map();
    for (const topic of topics) {
      for (const name of pick(topic)) {
        if (!joined.has(name)) joined.set(name, []);
        joined.get(name).push(topicY.get(topic.name));
      }
    }
    const nodes = [...joined.entries()].map(([name, ys]) => ({
      name, y: ys.reduce((sum, y) => sum + y, 0) / ys.length, summary: services.get(name)?.summary ?? 'not a service of this platform (an outside publisher or subscriber)',
      kind: !services.has(name) ? 'external' : services.get(name).running ? 'running' : 'stopped',
    }));
    spread(nodes, ROW, TOP, bottom);
    return nodes;
  };
  const publishers = column((topic) => [...new Set([topic.owner, ...(topic.publishers ?? [])])]);
  const subscribers = column((topic) => topic.subscribers ?? []);
  const connected = new Set([...publishers, ...subscribers].map((node) => node.name));
  const loners = [...services.values()].filter((s) => !connected.has(s.name));
  const height = Math.max(bottom, ...publishers.map((n) => n.y), ...subscribers.map((n) => n.y)) + TOP;
  return { topics, topicY, publishers, subscribers, loners, height };
}

function renderTopology(topology) {
  const signature = JSON.stringify(topology);
  if (signature === state.topologySignature) return;
  state.topologySignature = signature;
  const { topics, topicY, publishers, subscribers, loners, height } = layoutTopology(topology);
  const container = $('#topology-graph');
  const running = (topology.services ?? []).filter((s) => s.running).length;
  $('#topology-summary').textContent = `${(topology.services ?? []).length} services (${running} running here) and ${topics.length} topics. Owner services (left) publish topics (middle) that subscriber services (right) keep copies of. Point at a node to see its links.`;
  if (topics.length === 0) {
    container.replaceChildren(h('p', { class: 'empty' }, 'No topic is declared.'));
    return;
  }
  const WIDTH = 1000;
  const SERVICE_W = 150;
  const TOPIC_W = 270;
  const LEFT_X = 10;
  const TOPIC_X = (WIDTH - TOPIC_W) / 2;
  const RIGHT_X = WIDTH - SERVICE_W - 10;
  const NODE_H = 20;
  const root = svg('svg', { viewBox: `0 0 ${WIDTH} ${height}`, width: '100%', role: 'img', 'aria-label': 'Services and topics: owners publish to topics, subscribers keep copies', class: 'topology-svg' });
  root.append(svg('text', { x: LEFT_X, y: 14, class: 'column-title' }, 'publishers'), svg('text', { x: TOPIC_X, y: 14, class: 'column-title' }, 'topics'), svg('text', { x: RIGHT_X, y: 14, class: 'column-title' }, 'subscribers'));
  const edges = svg('g', { class: 'edges' });
  const nodes = svg('g', { class: 'nodes' });
  root.append(edges, nodes);
  const leftY = new Map(publishers.map((n) => [n.name, n.y]));
  const rightY = new Map(subscribers.map((n) => [n.name, n.y]));
  const curve = (x1, y1, x2, y2) => `M${x1},${y1} C${(x1 + x2) / 2},${y1} ${(x1 + x2) / 2},${y2} ${x2},${y2}`;
  for (const topic of topics) {
    const y = topicY.get(topic.name);
    for (const name of new Set([topic.owner, ...(topic.publishers ?? [])])) {
      edges.append(svg('path', { d: curve(LEFT_X + SERVICE_W, leftY.get(name), TOPIC_X, y), class: `edge${name === topic.owner ? '' : ' other-publisher'}`, 'data-a': `p:${name}`, 'data-b': `t:${topic.name}` }));
    }
    for (const name of topic.subscribers ?? []) {
      edges.append(svg('path', { d: curve(TOPIC_X + TOPIC_W, y, RIGHT_X, rightY.get(name)), class: 'edge', 'data-a': `t:${topic.name}`, 'data-b': `s:${name}` }));
    }
  }
  const node = (key, x, y, width, label, kind, title) => {
    const group = svg('g', { class: `node ${kind}`, 'data-key': key, tabindex: 0 },
      svg('title', {}, title),
      svg('rect', { x, y: y - NODE_H / 2, width, height: NODE_H, rx: 5 }),
      svg('text', { x: x + 8, y: y + 4 }, label));
    nodes.append(group);
  };
  const serviceTitle = (n) => `${n.name}${n.kind === 'stopped' ? ' (not running here)' : ''}: ${n.summary}`;
  for (const n of publishers) node(`p:${n.name}`, LEFT_X, n.y, SERVICE_W, n.name, `service ${n.kind}`, serviceTitle(n));
  for (const topic of topics) node(`t:${topic.name}`, TOPIC_X, topicY.get(topic.name), TOPIC_W, topic.name, 'topic', `${topic.name}, owned by ${topic.owner}; subscribers: ${(topic.subscribers ?? []).join(', ') || 'none'}`);
  for (const n of subscribers) node(`s:${n.name}`, RIGHT_X, n.y, SERVICE_W, n.name, `service ${n.kind}`, serviceTitle(n));

  const highlight = (key) => {
    root.classList.toggle('focused', key !== undefined);
    const near = new Set(key ? [key] : []);
    for (const edge of edges.children) {
      const hot = key !== undefined && (edge.dataset.a === key || edge.dataset.b === key);
      edge.classList.toggle('hot', hot);
      if (hot) near.add(edge.dataset.a).add(edge.dataset.b);
    }
    for (const group of nodes.children) group.classList.toggle('hot', near.has(group.dataset.key));
  };
  for (const group of nodes.children) {
    group.addEventListener('mouseenter', () => highlight(group.dataset.key));
    group.addEventListener('focus', () => highlight(group.dataset.key));
    group.addEventListener('mouseleave', () => highlight(undefined));
    group.addEventListener('blur', () => highlight(undefined));
  }
  const parts = [root];
  if (loners.length > 0) {
    parts.push(h('p', { class: 'hint' }, 'Services with no topic: ', ...loners.map((s) => h('span', { class: `badge ${s.running ? '' : 'stopped'}`, title: s.summary }, s.name))));
  }
  container.replaceChildren(...parts);
}

// ---------------------------------------------------------------------------------------------
// The overview loop

function renderOverview(overview) {
  const point = pointOf(overview);
  if (state.lastAt !== undefined && overview.at > state.lastAt) {
    const seconds = Math.min(5, (overview.at - state.lastAt) / 1000); // a gap (API down) is not guessed at
    for (const row of overview.throughput ?? []) {
      for (const outcome of SETTLED_OUTCOMES) state.settledSinceOpened += (row.consumedPerSecond?.[outcome] ?? 0) * seconds;
    }
  }
  state.overview = overview;
  state.lastAt = overview.at;
  addPoint(point);
  renderFigures(overview, point);
  renderTopology(overview.topology ?? { services: [], topics: [] });
  renderLatencyTable(overview);
  renderThroughputTable(overview);
  renderOutboxTable(overview);
  renderHealthTables(overview);
  renderDeadLetterDepths(overview);
  drawCharts();
  const lastUpdated = $('#last-updated');
  lastUpdated.textContent = clock.format(new Date(overview.at));
  lastUpdated.setAttribute('datetime', new Date(overview.at).toISOString());
}

function showUnreachable(error) {
  state.unreachable = true;
  const banner = $('#error-banner');
  const since = state.lastAt ? ` The figures below are from ${clock.format(new Date(state.lastAt))}.` : '';
  banner.textContent = `The admin API does not answer: ${error.message}.${since} Retrying every second.`;
  banner.hidden = false;
  $('#connection-dot').className = 'dot down';
}

function showReachable(overview) {
  const failed = overview?.sources?.failed ?? [];
  const banner = $('#error-banner');
  if (failed.length > 0) {
    // the API answers, but some process's metrics did not: say which, the figures leave them out
    banner.textContent = `Metrics of ${failed.length} process${failed.length === 1 ? '' : 'es'} did not answer and are left out: ${failed.map((f) => `${f.source} (${f.error})`).join('; ')}`;
    banner.hidden = false;
  } else banner.hidden = true;
  state.unreachable = false;
  $('#connection-dot').className = 'dot up';
}

function updateAge() {
  $('#last-updated-age').textContent = state.lastAt ? `(${formatAgo(state.lastAt)})` : '';
}

async function pollOverview() {
  try {
    const overview = await api('GET', '/api/overview');
    renderOverview(overview);
    showReachable(overview);
  } catch (error) {
    showUnreachable(error);
  } finally {
    updateAge();
    setTimeout(() => void pollOverview(), OVERVIEW_EVERY_MS);
  }
}

async function loadHistory() {
  try {
    const history = await api('GET', `/api/history?seconds=${HISTORY_SECONDS}`);
    for (const point of history.points ?? []) addPoint({ ...point, publishedPerSecond: point.publishedPerSecond ?? {} });
  } catch (error) {
    toast(`Could not read the chart history (${error.message}); the charts start now.`, 'warn');
  }
}

// ---------------------------------------------------------------------------------------------
// Dead letters

/** A dead letter's row: context, the event data (collapsible) and its actions. */
function deadLetterRow(entry, status) {
  const pending = status === 'pending';
  const why = h('td', { class: 'why' },
    h('span', { class: 'badge reason' }, entry.reason),
    entry.errorCode ? h('code', { class: 'code' }, entry.errorCode) : null,
    h('div', { class: 'message' }, entry.errorMessage ?? ''),
    h('details', { class: 'event' },
      h('summary', {}, `event ${entry.eventId ?? '(no id)'}${entry.replayCount > 0 ? `, replayed ${entry.replayCount}×` : ''}`),
      h('pre', {}, entry.data === undefined ? '(no event data: the message could not be parsed)' : JSON.stringify(entry.data, null, 2))));
  const actions = pending
    ? h('td', { class: 'actions' },
      h('button', { type: 'button', 'data-testid': 'dlq-replay', disabled: entry.replayable === false, title: entry.replayable === false ? 'This letter has no event to replay (it could not be parsed)' : undefined, onclick: () => openConfirm('replay', entry) }, 'Replay'),
      h('button', { type: 'button', class: 'danger', 'data-testid': 'dlq-discard', onclick: () => openConfirm('discard', entry) }, 'Discard'))
    : h('td', { class: 'actions muted' }, status === 'replayed' ? 'replayed ✓' : status === 'discarded' ? 'discarded' : '');
  return h('tr', { 'data-testid': 'dlq-row', 'data-id': entry.id, 'data-consumer': entry.consumer, 'data-event-id': entry.eventId ?? '', 'data-status': status, class: pending ? '' : 'acted' },
    h('td', {}, entry.consumer),
    h('td', {}, entry.topic),
    why,
    h('td', { class: 'num' }, formatCount(entry.attempts)),
    timeCell(entry.firstFailedAt),
    timeCell(entry.lastFailedAt),
    h('td', {}, h('span', { class: `badge status-${status}`, 'data-testid': 'dlq-status' }, status)),
    actions);
}

const letterKey = (entry) => `${entry.consumer}/${entry.id}`;

let deadLettersTimer;
let deadLettersSignature = '';

async function refreshDeadLetters() {
  clearTimeout(deadLettersTimer);
  const consumer = $('#dlq-consumer').value;
  const status = $('#dlq-status').value;
  const query = new URLSearchParams({ status, limit: '50' });
  if (consumer) query.set('consumer', consumer);
  try {
    const { entries = [] } = await api('GET', `/api/dlq?${query}`);
    const now = Date.now();
    const listed = new Set(entries.map(letterKey));
    for (const [key, acted] of state.acted) {
      if (now - acted.at > ACTED_ROW_KEPT_MS) state.acted.delete(key);
    }
    // a letter acted on here stays in view (with its new status) for a while after it left the list
    const kept = [...state.acted.entries()].filter(([key, acted]) => !listed.has(key) && (!consumer || acted.entry.consumer === consumer)).map(([, acted]) => acted);
    const signature = JSON.stringify([entries.map((e) => [e.id, e.status, e.attempts, e.replayCount]), kept.map((k) => [k.entry.id, k.status])]);
    $('#dlq-summary').textContent = `${entries.length}${entries.length === 50 ? '+' : ''} ${status === 'all' ? '' : `${status} `}dead letter${entries.length === 1 ? '' : 's'}${consumer ? ` of ${consumer}` : ''}, read at ${clock.format(new Date())}`;
    if (signature !== deadLettersSignature) { // rebuilding would close the event details the operator opened
      deadLettersSignature = signature;
      const rows = [...entries.map((entry) => deadLetterRow(entry, state.acted.get(letterKey(entry))?.status ?? entry.status)), ...kept.map((k) => deadLetterRow(k.entry, k.status))];
      fillTable($('#dlq-table'), rows, status === 'pending' ? 'No pending dead letter. Every event reached its consumers.' : `No ${status === 'all' ? '' : `${status} `}dead letter.`);
    }
  } catch (error) {
    $('#dlq-summary').textContent = `Could not read the dead letters: ${error.message}`;
  } finally {
    deadLettersTimer = setTimeout(() => void refreshDeadLetters(), DEAD_LETTERS_EVERY_MS);
  }
}

/** Describes an audit entry's detail briefly. */
function describeDetail(detail) {
  if (detail === null || detail === undefined) return '';
  if (typeof detail !== 'object') return String(detail);
  const parts = [];
  for (const name of ['consumer', 'topic', 'eventId', 'reason', 'previousStatus']) {
    if (detail[name] !== undefined && detail[name] !== null) parts.push(`${name}: ${detail[name]}`);
  }
  return parts.length > 0 ? parts.join(', ') : JSON.stringify(detail);
}

let actionsTimer;

async function refreshActions() {
  clearTimeout(actionsTimer);
  try {
    const { entries = [] } = await api('GET', '/api/actions?limit=20');
    fillTable($('#actions-table'), entries.map((entry) => h('tr', { 'data-testid': 'action-row', 'data-action': entry.action, 'data-target': entry.target },
      timeCell(entry.at), h('td', {}, entry.actor), h('td', {}, h('span', { class: 'badge' }, entry.action)), h('td', {}, h('code', {}, entry.target)),
      h('td', { class: 'detail' }, describeDetail(entry.detail)))), 'No replay or discard yet.');
  } catch (error) {
    fillTable($('#actions-table'), [], `Could not read the audit trail: ${error.message}`);
  } finally {
    actionsTimer = setTimeout(() => void refreshActions(), DEAD_LETTERS_EVERY_MS);
  }
}

/** The action waiting for confirmation in the dialog. */
let pendingAction;

function openConfirm(verb, entry) {
  pendingAction = { verb, entry };
  const dialog = $('#confirm-dialog');
  $('#confirm-title').textContent = verb === 'replay' ? 'Replay this dead letter?' : 'Discard this dead letter?';
  $('#confirm-text').textContent = verb === 'replay'
    ? `The event goes back on ${entry.topic} and every subscriber receives it again; those that already applied it drop it as a duplicate. If its cause is still there, ${entry.consumer} dead-letters it again.`
    : `The letter is kept for the record, marked discarded, and never replayed (unless by id with --force from the CLI). ${entry.consumer} will not see this event.`;
  const fact = (term, value) => [h('dt', {}, term), h('dd', {}, value)];
  $('#confirm-facts').replaceChildren(...fact('Consumer', entry.consumer), ...fact('Topic', entry.topic), ...fact('Event', entry.eventId ?? '—'), ...fact('Why', `${entry.reason}: ${entry.errorMessage ?? ''}`));
  const button = $('#confirm-action');
  button.textContent = verb === 'replay' ? 'Replay dead letter' : 'Discard dead letter';
  button.className = verb === 'replay' ? '' : 'danger';
  button.disabled = false;
  $('#confirm-error').hidden = true;
  dialog.showModal();
  $('#confirm-cancel').focus();
}

async function confirmAction(event) {
  event.preventDefault();
  if (!pendingAction) return;
  const { verb, entry } = pendingAction;
  const button = $('#confirm-action');
  button.disabled = true;
  button.textContent = verb === 'replay' ? 'Replaying…' : 'Discarding…';
  try {
    await api('POST', `/api/dlq/${encodeURIComponent(entry.consumer)}/${encodeURIComponent(entry.id)}/${verb}`, { confirm: true });
    const status = verb === 'replay' ? 'replayed' : 'discarded';
    state.acted.set(letterKey(entry), { entry, status, at: Date.now() });
    pendingAction = undefined;
    $('#confirm-dialog').close('done');
    // update the row at once; the next refresh confirms it
    const row = document.querySelector(`#dlq-table tr[data-id="${CSS.escape(entry.id)}"][data-consumer="${CSS.escape(entry.consumer)}"]`);
    if (row) row.replaceWith(deadLetterRow(entry, status));
    deadLettersSignature = '';
    toast(verb === 'replay' ? `Replayed: ${entry.topic} event ${entry.eventId} goes to its consumers again.` : `Discarded: ${entry.topic} event ${entry.eventId} (${entry.consumer}).`);
    await Promise.all([refreshDeadLetters(), refreshActions()]);
  } catch (error) {
    const box = $('#confirm-error');
    box.textContent = error.status === 404 ? `This letter is no longer pending (someone else acted on it): ${error.message}` : `Could not ${verb} it: ${error.message}`;
    box.hidden = false;
    button.disabled = false;
    button.textContent = verb === 'replay' ? 'Replay dead letter' : 'Discard dead letter';
    if (error.status === 404) void refreshDeadLetters();
  }
}

// ---------------------------------------------------------------------------------------------
// Participation

/**
 * How a participation cell is shown: the API's emoji as a text symbol any font has (a machine
 * without an emoji font shows no box), a colour, and words for screen readers and tooltips.
 */
const CELL_LOOK = {
  '✅': { symbol: '✓', kind: 'good', words: 'verified' },
  '⚠️': { symbol: '⚠', kind: 'warn', words: 'not running' },
  '❌': { symbol: '✗', kind: 'bad', words: 'failed' },
  'N/A': { symbol: 'N/A', kind: 'na', words: 'not applicable' },
};

function renderParticipation(report) {
  const columns = report.columns ?? [];
  const table = $('#participation-table');
  table.tHead.replaceChildren(h('tr', {}, h('th', { scope: 'col' }, 'Service'), ...columns.map((column) => h('th', { scope: 'col', class: 'center' }, COLUMN_TITLES[column] ?? column))));
  fillTable(table, (report.rows ?? []).map((row) => h('tr', {},
    h('th', { scope: 'row' }, row.service),
    ...columns.map((column) => {
      const cell = row.cells?.[column] ?? '';
      const look = CELL_LOOK[cell] ?? { symbol: cell, kind: '', words: cell };
      const evidence = row.evidence?.[column];
      return h('td', { class: `center cell ${look.kind}`, title: `${row.service} · ${COLUMN_TITLES[column] ?? column}: ${look.words}${evidence ? `\n${evidence}` : ''}`, 'aria-label': look.words, 'data-cell': cell }, look.symbol);
    }))), report.running ? 'The audit is running…' : 'The audit has not run yet: press "Run audit".');
  const status = $('#participation-status');
  status.textContent = report.running
    ? 'The audit is running its probes against the live services…'
    : report.available === false ? 'This dashboard cannot run the probes (it was started without the platform).'
      : report.error ? `The last run failed${report.ranAt ? ` (${formatDateTime(report.ranAt)})` : ''}: ${report.error}`
        : report.ranAt ? `Last run ${formatDateTime(report.ranAt)} (${formatAgo(report.ranAt)}); ✓ verified, ✗ failed, ⚠ not running; point at a cell for what its probe saw.` : 'not run yet';
  status.classList.toggle('bad', Boolean(report.error));
  $('#run-audit').disabled = report.running === true || report.available === false;
  $('#run-audit').textContent = report.running ? 'Audit running…' : 'Run audit';
}

let participationTimer;

async function refreshParticipation() {
  clearTimeout(participationTimer);
  try {
    const report = await api('GET', '/api/participation');
    renderParticipation(report);
    if (report.running) participationTimer = setTimeout(() => void refreshParticipation(), PARTICIPATION_EVERY_MS);
  } catch (error) {
    $('#participation-status').textContent = `Could not read the participation table: ${error.message}`;
  }
}

async function runAudit() {
  const button = $('#run-audit');
  button.disabled = true;
  try {
    await api('POST', '/api/participation/run', {});
    toast('The audit started; the table fills in when it is done.');
  } catch (error) {
    if (error.status === 409) toast('An audit is already running; the table fills in when it is done.', 'warn');
    else {
      toast(`Could not start the audit: ${error.message}`, 'bad');
      button.disabled = false;
      return;
    }
  }
  await refreshParticipation();
}

// ---------------------------------------------------------------------------------------------
// Start

/** Marks the nav link of the view in sight. */
function followViews() {
  const links = new Map([...document.querySelectorAll('nav a')].map((a) => [a.getAttribute('href').slice(1), a]));
  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (entry.isIntersecting) {
        for (const link of links.values()) link.removeAttribute('aria-current');
        links.get(entry.target.id)?.setAttribute('aria-current', 'true');
      }
    }
  }, { rootMargin: '-30% 0px -60% 0px' });
  for (const section of document.querySelectorAll('section.view')) observer.observe(section);
}

async function start() {
  if (typeof uPlot !== 'function') {
    showUnreachable(new Error('the chart library did not load from /assets/uPlot.iife.min.js'));
  }
  latencyChart = new LiveChart($('#latency-chart'), {
    yLabel: 'ms', yValues: (_u, values) => values.map((v) => `${v}`),
    yRange: (_u, _min, max) => [0, Math.max((state.overview?.slaSeconds ?? 0.5) * 1000 * 1.25, (max ?? 0) * 1.1)],
  });
  throughputChart = new LiveChart($('#throughput-chart'), { yLabel: 'events/s', yRange: (_u, _min, max) => [0, Math.max(1, (max ?? 0) * 1.15)] });
  outboxChart = new LiveChart($('#outbox-chart'), { yLabel: 'events', yRange: (_u, _min, max) => [0, Math.max(5, (max ?? 0) * 1.15)] });

  $('#confirm-form').addEventListener('submit', (event) => void confirmAction(event));
  $('#confirm-cancel').addEventListener('click', () => { pendingAction = undefined; $('#confirm-dialog').close('cancel'); });
  $('#confirm-dialog').addEventListener('close', () => { pendingAction = undefined; });
  $('#dlq-refresh').addEventListener('click', () => { deadLettersSignature = ''; void refreshDeadLetters(); void refreshActions(); });
  $('#dlq-consumer').addEventListener('change', () => { deadLettersSignature = ''; void refreshDeadLetters(); });
  $('#dlq-status').addEventListener('change', () => { deadLettersSignature = ''; void refreshDeadLetters(); });
  $('#run-audit').addEventListener('click', () => void runAudit());
  $('#throughput-idle').addEventListener('change', () => { if (state.overview) renderThroughputTable(state.overview); });
  followViews();
  setInterval(updateAge, 1_000);

  await loadHistory();
  await pollOverview();
  await Promise.all([refreshDeadLetters(), refreshActions(), refreshParticipation()]);
}

void start();
