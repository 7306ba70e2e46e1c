// StemeDB console: a small single-page app over the public HTTP API.
// Every value from the server is put into the page with textContent (never
// innerHTML), so subjects, agents and values render escaped.
import { MetricsPanel } from './charts.js';

const LENSES = ['recency', 'authority', 'consensus', 'confidence', 'skeptic', 'layered'];
const LENS_HELP = {
  recency: 'newest claim wins',
  authority: 'trust × confidence',
  consensus: 'most agents and votes',
  confidence: 'highest confidence',
  skeptic: 'no winner: the spread',
  layered: 'consensus in the most authoritative source class',
};
const CLASSES = ['regulatory', 'peer-reviewed / clinical', 'observational / expert report',
  'expert / community reference', 'aggregated community', 'anecdotal', 'unclassified'];
const SUBJECT_PAGE = 50;
const TABLE_ROWS = 100;
const VOTE_LOOKUPS = 100;
const main = document.getElementById('main');
const notice = document.getElementById('notice');
let cleanups = [];
let navSeq = 0;

// ---------- helpers ----------

/** Builds an element; strings become text nodes, null/false are skipped. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

/** Replaces an element's children (strings as text, null/false skipped, arrays flattened). */
function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// Browsers collapse a '.' or '..' path segment (also when percent-encoded),
// so those two subjects travel in the query string instead.
export const subjectHref = (s) => (s === '.' || s === '..'
  ? '/console/subjects/?' + new URLSearchParams({ subject: s })
  : '/console/subjects/' + encodeURIComponent(s));
export const recordHref = (id) => '/console/records/' + encodeURIComponent(id);
const link = (href, text, attrs = {}) => h('a', { href, 'data-nav': true, ...attrs }, text);
const shortId = (id) => (typeof id === 'string' && id.length > 12 ? id.slice(0, 12) + '…' : String(id));
const recordLink = (id) => link(recordHref(id), shortId(id), { class: 'id', title: id });

function fmtTime(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '—';
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return String(ms);
  return d.toISOString().replace('T', ' ').replace(/\.(\d+)Z$/, '.$1 UTC');
}

function timeEl(ms) {
  if (typeof ms !== 'number') return '—';
  const d = new Date(ms);
  return h('time', { datetime: Number.isNaN(d.getTime()) ? null : d.toISOString(), title: `${ms} ms` }, fmtTime(ms));
}

const fmtNum = (x, digits = 2) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '—');

/** An object value `{type, value}` as a node (refs link to their subject). */
function valueNode(v) {
  if (!v || typeof v !== 'object') return h('span', { class: 'none' }, 'no value');
  if (v.type === 'ref') return link(subjectHref(String(v.value)), String(v.value), { class: 'ref' });
  if (v.type === 'text') return h('span', { class: 'text' }, String(v.value));
  return h('span', { class: v.type }, String(v.value));
}

const valueKey = (v) => (v ? `${v.type}:${JSON.stringify(v.value)}` : 'none');

function classLabel(c) {
  const n = typeof c === 'number' ? c : 6;
  return `${n} ${CLASSES[n] || ''}`.trim();
}

function setTitle(t) {
  document.title = `${t} · StemeDB console`;
}

function say(text, kind = 'info') {
  notice.textContent = text;
  notice.dataset.kind = kind;
}

function emptyState(title, text, ...extra) {
  return h('section', { class: 'empty', 'aria-labelledby': 'empty-title' },
    h('h2', { id: 'empty-title' }, title), h('p', {}, text), extra);
}

// ---------- API ----------

const session = {
  get key() { return sessionStorage.getItem('stemedb.key') || ''; },
  get agent() { return sessionStorage.getItem('stemedb.agent') || ''; },
};

class ApiFailure extends Error {
  constructor(status, body) {
    const e = body && body.error ? body.error : null;
    super(e ? `${e.code}: ${e.message}${e.field ? ` (field ${e.field})` : ''}` : `HTTP ${status}`);
    this.status = status;
    this.code = e ? e.code : null;
  }
}

const authHeaders = () => (session.key ? { Authorization: `Bearer ${session.key}` } : {});

async function api(path, { method = 'GET', body } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (session.key) headers.Authorization = `Bearer ${session.key}`;
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (r.status === 401) {
    const e = new ApiFailure(r.status, data);
    e.message = `${e.message} — this server needs an API key: enter one under “API key” at the top`;
    throw e;
  }
  if (!r.ok) throw new ApiFailure(r.status, data);
  return data;
}

const qs = (params) => {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') u.set(k, String(v));
  return u.toString();
};

// ---------- write access ----------

const accessForm = document.getElementById('access-form');
const accessToggle = document.getElementById('access-toggle');

function renderAccess() {
  const badge = document.getElementById('access-state');
  badge.textContent = session.key ? `Key set · ${session.agent}` : 'Read-only';
  badge.dataset.state = session.key ? 'key' : 'read-only';
  document.getElementById('access-agent').value = session.agent;
}

accessToggle.addEventListener('click', () => {
  const open = accessForm.hidden;
  accessForm.hidden = !open;
  accessToggle.setAttribute('aria-expanded', String(open));
  if (open) document.getElementById('access-key').focus();
});
accessForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const key = document.getElementById('access-key').value.trim();
  const agent = document.getElementById('access-agent').value.trim();
  if (!key || !agent) return;
  sessionStorage.setItem('stemedb.key', key);
  sessionStorage.setItem('stemedb.agent', agent);
  document.getElementById('access-key').value = '';
  accessForm.hidden = true;
  accessToggle.setAttribute('aria-expanded', 'false');
  renderAccess();
  say('Key saved for this tab: vote and retract buttons are shown.');
  route();
});
document.getElementById('access-forget').addEventListener('click', () => {
  sessionStorage.removeItem('stemedb.key');
  renderAccess();
  say('Key forgotten: the console is read-only.');
  route();
});

async function vote(target, weight) {
  try {
    const r = await api('/v1/vote', { method: 'POST', body: { target, agent: session.agent, weight } });
    say(`Vote ${weight > 0 ? '+' : ''}${weight} recorded (${r.status}, ${shortId(r.id)}).`);
    route();
  } catch (e) {
    say(`Vote refused: ${e.message}`, 'error');
  }
}

async function retract(target, reason) {
  try {
    const r = await api('/v1/retract', { method: 'POST', body: { target, agent: session.agent, reason: reason || undefined } });
    say(`Retraction recorded (${r.status}, ${shortId(r.id)}).`);
    route();
  } catch (e) {
    say(`Retraction refused: ${e.message}`, 'error');
  }
}

function writeActions(id) {
  if (!session.key) return null;
  return h('span', { class: 'actions' },
    h('button', { type: 'button', class: 'small', onclick: () => vote(id, 1), 'aria-label': `Vote +1 for ${shortId(id)}` }, '+1'),
    h('button', { type: 'button', class: 'small', onclick: () => vote(id, -1), 'aria-label': `Vote −1 for ${shortId(id)}` }, '−1'),
    h('button', { type: 'button', class: 'small danger', onclick: () => retract(id, ''), 'aria-label': `Retract ${shortId(id)}` }, 'Retract'));
}

// ---------- search view ----------

function viewSearch() {
  setTitle('Subjects');
  const params = new URLSearchParams(location.search);
  const prefix = params.get('prefix') || '';
  const limit = Math.min(Math.max(parseInt(params.get('limit') || '', 10) || SUBJECT_PAGE, 1), 1000);
  const input = h('input', { id: 'search', name: 'prefix', type: 'search', value: prefix, autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. drug:' });
  const list = h('ul', { id: 'subject-list', class: 'subjects' });
  const status = h('p', { id: 'subject-count', class: 'muted', role: 'status' });
  const prev = h('button', { type: 'button', id: 'prev-page', disabled: true }, 'Previous page');
  const next = h('button', { type: 'button', id: 'next-page', disabled: true }, 'Next page');
  const cursors = [null];
  let page = 0;

  async function load() {
    status.textContent = 'Loading…';
    try {
      const r = await api('/v1/subjects?' + qs({ prefix, limit, cursor: cursors[page] }));
      list.replaceChildren(...r.subjects.map((s) => h('li', {}, link(subjectHref(s), s))));
      cursors[page + 1] = r.next_cursor;
      prev.disabled = page === 0;
      next.disabled = !r.next_cursor;
      const first = page * limit + 1;
      status.textContent = r.subjects.length === 0
        ? (page === 0 ? (prefix ? `No subject starts with “${prefix}”.` : 'No subjects stored yet.') : 'No more subjects.')
        : `Subjects ${first}–${first + r.subjects.length - 1}${prefix ? ` starting with “${prefix}”` : ''}, page ${page + 1}.`;
    } catch (e) {
      status.textContent = `Cannot list subjects: ${e.message}`;
    }
  }
  prev.addEventListener('click', () => { if (page > 0) { page -= 1; load(); } });
  next.addEventListener('click', () => { if (cursors[page + 1]) { page += 1; load(); } });

  const form = h('form', { role: 'search', class: 'search', 'aria-label': 'Subjects',
    onsubmit: (ev) => {
      ev.preventDefault();
      const p = input.value;
      const u = new URL(location.href);
      if (p) u.searchParams.set('prefix', p); else u.searchParams.delete('prefix');
      history.pushState(null, '', u.pathname + u.search);
      route();
    } },
  h('label', { for: 'search' }, 'Subject prefix'),
  h('div', { class: 'row' }, input, h('button', { type: 'submit' }, 'Search')));

  const charts = h('section', { class: 'live', 'aria-labelledby': 'live-title' }, h('h2', { id: 'live-title' }, 'Live'));
  main.replaceChildren(
    h('h1', { tabindex: '-1' }, 'Subjects'),
    h('p', { class: 'lead' }, 'Find a subject to see every claim about it and how each lens resolves them.'),
    form,
    h('section', { 'aria-labelledby': 'results-title' }, h('h2', { id: 'results-title', class: 'visually-hidden' }, 'Results'),
      status, list, h('div', { class: 'pager' }, prev, next)),
    charts);
  startMetrics(charts);
  load();
}

function startMetrics(container) {
  const panel = new MetricsPanel(container, (path) => fetch(path, { headers: authHeaders() }));
  panel.start();
  cleanups.push(() => panel.stop());
}

// ---------- subject view ----------

async function viewSubject(subject) {
  setTitle(subject);
  const asOfParam = new URLSearchParams(location.search).get('as_of');
  let asOf = asOfParam !== null && /^-?\d+$/.test(asOfParam) ? Number(asOfParam) : null;
  main.replaceChildren(
    h('p', { class: 'crumbs' }, link('/', 'Subjects'), ' / '),
    h('h1', { tabindex: '-1' }, h('span', { class: 'kind' }, 'Subject'), ' ', h('span', { class: 'subject-name' }, subject)),
    h('p', { class: 'muted', role: 'status' }, 'Loading…'));
  const started = performance.now();
  const seq = navSeq;
  let table;
  try {
    table = await api('/v1/query?' + qs({ subject, include_retracted: 'true', limit: 10000 }));
    if (seq !== navSeq) return;
  } catch (e) {
    if (seq !== navSeq) return;
    main.lastChild.textContent = `Cannot load ${subject}: ${e.message}`;
    return;
  }
  if (!table.results.some((r) => r.candidates.length > 0)) {
    main.lastChild.remove();
    main.append(emptyState('No claims', `Nothing is stored about “${subject}”. Subjects are exact strings: check the spelling, or search by prefix.`,
      h('p', {}, link('/?' + qs({ prefix: subject.slice(0, 3) }), 'Search subjects starting with “' + subject.slice(0, 3) + '”'))));
    return;
  }
  const times = [...new Set(table.results.flatMap((r) => r.candidates.map((c) => c.timestamp)))].sort((a, b) => a - b);
  const latest = times[times.length - 1];
  const sections = new Map();

  // as_of slider: one stop per distinct claim time; the last stop means "latest".
  const slider = h('input', { id: 'as-of', type: 'range', min: 0, max: times.length - 1, step: 1,
    value: asOf === null ? times.length - 1 : Math.max(0, times.findLastIndex((t) => t <= asOf)),
    'aria-describedby': 'as-of-value' });
  const out = h('output', { id: 'as-of-value', for: 'as-of' });
  const nowBtn = h('button', { type: 'button', id: 'as-of-latest', class: 'small' }, 'Latest');
  const describe = () => {
    out.textContent = asOf === null ? `latest (${fmtTime(latest)})` : fmtTime(asOf);
    slider.setAttribute('aria-valuetext', asOf === null ? 'latest' : fmtTime(asOf));
  };
  let timer = null;
  const setAsOf = (value, immediate) => {
    asOf = value;
    describe();
    const u = new URL(location.href);
    if (asOf === null) u.searchParams.delete('as_of'); else u.searchParams.set('as_of', String(asOf));
    history.replaceState(null, '', u.pathname + u.search + u.hash);
    routedAt = u.pathname + u.search;
    clearTimeout(timer);
    timer = setTimeout(resolveAll, immediate ? 0 : 200);
  };
  const fromSlider = () => {
    const i = Number(slider.value);
    return i >= times.length - 1 ? null : times[i];
  };
  slider.addEventListener('input', () => setAsOf(fromSlider(), false));
  slider.addEventListener('change', () => setAsOf(fromSlider(), true));
  nowBtn.addEventListener('click', () => { slider.value = String(times.length - 1); setAsOf(null, true); });
  describe();

  const predicates = table.results.filter((r) => r.candidates.length > 0);
  const total = predicates.reduce((n, r) => n + r.candidates.length, 0);
  const body = [];
  for (const r of predicates) {
    const lensGrid = h('div', { class: 'lenses', role: 'list', 'aria-label': `Lenses for ${r.predicate}` });
    const tableBox = h('div', { class: 'table-box' });
    const sec = h('section', { class: 'predicate', 'data-predicate': r.predicate, 'aria-labelledby': `p-${sections.size}` },
      h('h2', { id: `p-${sections.size}` }, h('span', { class: 'kind' }, 'Predicate'), ' ', r.predicate),
      h('h3', { class: 'sub' }, 'Six lenses'), lensGrid,
      h('h3', { class: 'sub' }, `Candidates (${r.candidates.length})`), tableBox);
    sections.set(r.predicate, { sec, lensGrid, tableBox, candidates: r.candidates });
    body.push(sec);
  }
  const index = h('ul', { class: 'predicate-index', 'aria-label': 'Predicates' },
    predicates.map((r, i) => h('li', {}, h('a', { href: `#p-${i}` }, r.predicate), ' ', h('span', { class: 'badge', 'data-index-for': r.predicate }, '…'))));
  replace(main,
    h('p', { class: 'crumbs' }, link('/', 'Subjects'), ' / ', link('/?' + qs({ prefix: subject }), 'similar')),
    h('h1', { tabindex: '-1' }, h('span', { class: 'kind' }, 'Subject'), ' ', h('span', { class: 'subject-name' }, subject)),
    h('p', { class: 'muted' }, `${predicates.length} predicate${predicates.length === 1 ? '' : 's'}, ${total} candidate claim${total === 1 ? '' : 's'} (retracted ones included and marked).`),
    index,
    h('div', { class: 'asof', role: 'group', 'aria-labelledby': 'as-of-label' },
      h('label', { id: 'as-of-label', for: 'as-of' }, 'As of'), slider, out, nowBtn,
      h('p', { class: 'hint' }, 'Moves through the times claims were made; lenses re-resolve with what was known then.')),
    body);

  for (const s of sections.values()) renderCandidates(s, TABLE_ROWS);
  await resolveAll();
  if (seq !== navSeq) return;
  main.dataset.renderMs = String(Math.round(performance.now() - started));
  loadVotes([...sections.values()]);

  async function resolveAll() {
    const params = { subject, limit: 10000, as_of: asOf };
    let answers;
    try {
      answers = await Promise.all(LENSES.map((lens) => api('/v1/query?' + qs({ ...params, lens }))));
      if (seq !== navSeq) return;
    } catch (e) {
      if (seq !== navSeq) return;
      say(`Cannot resolve: ${e.message}`, 'error');
      return;
    }
    for (const [pred, s] of sections) {
      const cards = LENSES.map((lens, i) => {
        const res = answers[i].results.find((x) => x.predicate === pred);
        return lensCard(lens, res ? res.resolution : null);
      });
      s.lensGrid.replaceChildren(...cards);
      const consensus = answers[LENSES.indexOf('consensus')].results.find((x) => x.predicate === pred);
      const badge = index.querySelector(`[data-index-for="${CSS.escape(pred)}"]`);
      if (badge) {
        const c = consensus && consensus.resolution ? consensus.resolution.conflict : null;
        const none = typeof c !== 'number' || !consensus.resolution.candidates;
        badge.textContent = none ? 'nothing survives' : c > 0 ? `conflict ${c.toFixed(2)}` : 'no conflict';
        badge.className = `badge${none ? '' : c > 0 ? ' warn' : ' ok'}`;
      }
      for (const row of s.tableBox.querySelectorAll('tr[data-ts]')) {
        row.classList.toggle('later', asOf !== null && Number(row.dataset.ts) > asOf);
      }
    }
    main.dataset.asOf = asOf === null ? 'latest' : String(asOf);
  }
}

function lensCard(lens, res) {
  const card = h('article', { class: 'lens', role: 'listitem', 'data-lens': lens, 'aria-label': `${lens} lens` },
    h('h4', {}, lens, h('span', { class: 'help' }, LENS_HELP[lens])));
  if (!res || res.candidates === 0 || (!res.value && lens !== 'skeptic' && !res.explanation?.length)) {
    append(card, [h('p', { class: 'lens-value none' }, 'nothing survives')]);
    return card;
  }
  const conflict = typeof res.conflict === 'number' ? res.conflict : 0;
  const meter = h('div', { class: 'meter', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': 1,
    'aria-valuenow': conflict.toFixed(2), 'aria-label': `conflict ${conflict.toFixed(2)}` },
  h('span', { class: 'fill' }));
  meter.firstChild.style.width = `${Math.round(conflict * 100)}%`;
  meter.dataset.level = conflict < 0.34 ? 'low' : conflict < 0.67 ? 'mid' : 'high';
  if (lens === 'skeptic') {
    append(card, [
      h('p', { class: 'lens-value status', 'data-status': res.status || '' }, res.status || '—'),
      h('ul', { class: 'shares' }, (res.explanation || []).map((e) =>
        h('li', {}, valueNode(e.value), ' ', h('span', { class: 'muted' }, `${Math.round((e.share || 0) * 100)}%`))))]);
  } else {
    append(card, [h('p', { class: 'lens-value' }, valueNode(res.value))]);
  }
  append(card, [
    h('dl', { class: 'figures' },
      h('dt', {}, 'confidence'), h('dd', { class: 'lens-confidence' }, fmtNum(res.confidence)),
      h('dt', {}, 'conflict'), h('dd', { class: 'lens-conflict' }, fmtNum(conflict))),
    meter]);
  if (res.winners && res.winners.length) {
    append(card, [h('p', { class: 'winners' }, 'winner ', res.winners.slice(0, 3).map((w) => recordLink(w)))]);
  }
  if (lens === 'layered' && Array.isArray(res.classes)) {
    append(card, [h('ul', { class: 'classes' }, res.classes.map((c) =>
      h('li', {}, h('span', { class: 'muted' }, `class ${classLabel(c.class)}: `), valueNode(c.resolution && c.resolution.value))))]);
  }
  return card;
}

function renderCandidates(s, rows) {
  const sorted = [...s.candidates].sort((a, b) => b.timestamp - a.timestamp || (a.id < b.id ? 1 : -1));
  const shown = sorted.slice(0, rows);
  const tbody = h('tbody', {}, shown.map((c) => {
    const src = c.source;
    return h('tr', { 'data-id': c.id, 'data-ts': c.timestamp, class: c.retracted ? 'retracted' : null },
      h('td', { 'data-label': 'Value' }, valueNode(c.object), c.retracted ? h('span', { class: 'badge warn' }, 'retracted') : null),
      h('td', { 'data-label': 'Agent', class: 'agent' }, c.agent),
      h('td', { 'data-label': 'Confidence', class: 'num' }, fmtNum(c.confidence)),
      h('td', { 'data-label': 'Source' }, src ? h('span', { title: String(src.uri) }, classLabel(src.class)) : h('span', { class: 'muted' }, classLabel(6))),
      h('td', { 'data-label': 'Time' }, timeEl(c.timestamp)),
      h('td', { 'data-label': 'Signature' }, c.signature ? h('span', { class: 'badge ok' }, 'signed') : h('span', { class: 'muted' }, 'unsigned')),
      h('td', { 'data-label': 'Votes', class: 'votes' }, '…'),
      h('td', { 'data-label': 'Record' }, recordLink(c.id), writeActions(c.id)));
  }));
  const t = h('table', { class: 'candidates' },
    h('caption', { class: 'visually-hidden' }, `Candidates for ${s.sec.dataset.predicate}, newest first`),
    h('thead', {}, h('tr', {}, ['Value', 'Agent', 'Confidence', 'Source class', 'Time', 'Signature', 'Votes', 'Record'].map((c) => h('th', { scope: 'col' }, c)))),
    tbody);
  const more = sorted.length > rows
    ? h('button', { type: 'button', class: 'show-all', onclick: () => { renderCandidates(s, sorted.length); loadVotes([s]); } }, `Show all ${sorted.length} candidates`)
    : null;
  replace(s.tableBox, h('div', { class: 'scroll', tabindex: '0', role: 'region', 'aria-label': `Candidates for ${s.sec.dataset.predicate}` }, t), more);
}

/** Fills the Votes cells of the first rows (bounded number of record look-ups, 6 at a time). */
async function loadVotes(list) {
  const cells = list.flatMap((s) => [...s.tableBox.querySelectorAll('tr[data-id]')]).slice(0, VOTE_LOOKUPS);
  const rest = list.flatMap((s) => [...s.tableBox.querySelectorAll('tr[data-id]')]).slice(VOTE_LOOKUPS);
  for (const row of rest) {
    const cell = row.querySelector('.votes');
    cell.replaceChildren(link(recordHref(row.dataset.id), 'see record'));
  }
  let next = 0;
  const worker = async () => {
    while (next < cells.length) {
      const row = cells[next++];
      const cell = row.querySelector('.votes');
      try {
        const rec = await api('/v1/assertions/' + row.dataset.id);
        const up = rec.votes.filter((v) => v.weight > 0);
        const down = rec.votes.filter((v) => v.weight < 0);
        cell.textContent = rec.votes.length ? `+${up.length} / −${down.length}` : 'none';
        cell.title = rec.votes.map((v) => `${v.agent}: ${v.weight}`).join(', ');
      } catch {
        cell.textContent = '?';
      }
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
}

// ---------- record view ----------

async function viewRecord(id) {
  setTitle(`Record ${shortId(id)}`);
  const head = h('h1', { tabindex: '-1' }, h('span', { class: 'kind' }, 'Record'), ' ', h('span', { class: 'id-text' }, shortId(id)));
  main.replaceChildren(h('p', { class: 'crumbs' }, link('/', 'Subjects'), ' / '), head, h('p', { class: 'muted', role: 'status' }, 'Loading…'));
  if (!/^[0-9a-fA-F]{64}$/.test(id)) {
    main.lastChild.remove();
    main.append(emptyState('Not a record id', `“${id}” is not a record id: ids are 64 hexadecimal characters.`, h('p', {}, link('/', 'Back to subjects'))));
    return;
  }
  let rec;
  let trace;
  const seq = navSeq;
  try {
    [rec, trace] = await Promise.all([api('/v1/assertions/' + id), api('/v1/trace/' + id)]);
    if (seq !== navSeq) return;
  } catch (e) {
    if (seq !== navSeq) return;
    main.lastChild.remove();
    if (e.status === 404) {
      main.append(emptyState('No such record', `No record with id ${id} is stored here.`, h('p', {}, link('/', 'Back to subjects'))));
    } else {
      main.append(emptyState('Cannot load the record', e.message));
    }
    return;
  }
  main.lastChild.remove();
  const about = rec.subject ?? (trace.target && trace.target.subject);
  if (about !== undefined) append(main.querySelector('.crumbs'), [link(subjectHref(about), about)]);
  head.replaceChildren(h('span', { class: 'kind' }, `${rec.kind} record`), ' ', h('span', { class: 'id-text' }, shortId(id)));
  const fields = [['id', h('code', { class: 'full-id' }, rec.id)], ['kind', rec.kind]];
  const add = (k, v) => { if (v !== undefined && v !== null) fields.push([k, v]); };
  add('subject', rec.subject !== undefined ? link(subjectHref(rec.subject), rec.subject, { class: 'subject-link' }) : null);
  add('predicate', rec.predicate);
  add('value', rec.object ? valueNode(rec.object) : null);
  add('agent', rec.agent);
  add('confidence', rec.confidence !== undefined ? fmtNum(rec.confidence) : null);
  add('time', rec.timestamp !== undefined ? timeEl(rec.timestamp) : null);
  add('source', rec.source ? h('span', {}, `class ${classLabel(rec.source.class)} — `, h('span', { class: 'uri' }, String(rec.source.uri))) : null);
  add('lifecycle', rec.lifecycle);
  add('valid from', rec.valid_from !== undefined ? timeEl(rec.valid_from) : null);
  add('valid to', rec.valid_to !== undefined ? timeEl(rec.valid_to) : null);
  add('target', rec.target ? recordLink(rec.target) : null);
  add('weight', rec.weight);
  add('reason', rec.reason);
  add('name', rec.name);
  add('subject prefix', rec.subject_prefix);
  add('score', rec.score);
  add('signature', h('span', { class: rec.signature_status === 'valid' ? 'badge ok' : 'muted', id: 'signature-status' }, rec.signature_status));
  const dl = h('dl', { class: 'fields' }, fields.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));

  const list = (items, render, none) => (items.length ? h('ul', { class: 'trace-list' }, items.map((x) => h('li', {}, render(x)))) : h('p', { class: 'muted' }, none));
  const claim = (r) => [recordLink(r.id), ' ', r.object ? valueNode(r.object) : r.kind, ' ', h('span', { class: 'muted' }, `by ${r.agent} · ${fmtTime(r.timestamp)}`)];
  const voteItem = (v) => [recordLink(v.id), ' ', h('span', { class: 'num' }, `${v.weight > 0 ? '+' : ''}${v.weight}`), ' ', h('span', { class: 'muted' }, `by ${v.agent} · ${fmtTime(v.timestamp)}`)];
  const sec = (title, idp, content) => h('section', { class: 'trace', id: idp, 'aria-labelledby': `${idp}-h` }, h('h2', { id: `${idp}-h` }, title), content);

  const actions = rec.kind === 'assertion' && session.key
    ? sec('Act on it', 'act', h('div', { class: 'row' }, writeActions(id)))
    : null;
  append(main, [dl,
    rec.retraction ? h('p', { class: 'banner warn' }, 'Retracted — lenses skip this claim.') : null,
    sec('Votes', 'votes', list(rec.votes || [], voteItem, 'No votes.')),
    sec('Retraction', 'retraction', rec.retraction
      ? h('p', {}, recordLink(rec.retraction.id), ' ', h('span', {}, `by ${rec.retraction.agent} · ${fmtTime(rec.retraction.timestamp)}`), rec.retraction.reason ? h('span', { class: 'muted' }, ` — ${rec.retraction.reason}`) : null)
      : h('p', { class: 'muted' }, 'Not retracted.')),
    sec('Parents (nearest first)', 'parents', [list(trace.parents || [], claim, 'No parent.'),
      trace.missing_parent ? h('p', { class: 'muted' }, 'Parent not stored here: ', h('code', {}, trace.missing_parent)) : null]),
    sec('Children', 'children', list(trace.children || [], claim, 'No children.')),
    sec('Epoch', 'epoch', trace.epoch ? h('p', {}, recordLink(trace.epoch.id), ' ', trace.epoch.name || '') : h('p', { class: 'muted' }, 'No epoch.')),
    trace.target ? sec('Target', 'target', h('ul', { class: 'trace-list' }, h('li', {}, claim(trace.target)))) : null,
    actions]);
}

// ---------- cluster view ----------

function viewCluster() {
  setTitle('Cluster');
  const box = h('div', { id: 'cluster-status', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Loading…'));
  const charts = h('section', { class: 'live', 'aria-labelledby': 'live-title' }, h('h2', { id: 'live-title' }, 'Live'));
  main.replaceChildren(h('h1', { tabindex: '-1' }, 'Cluster'), box, charts);
  startMetrics(charts);
  let stopped = false;
  let timer = null;
  const load = async () => {
    try {
      renderCluster(box, await api('/v1/cluster/status'));
    } catch (e) {
      box.replaceChildren(emptyState('Cluster status unavailable', e.message));
    }
    if (!stopped) timer = setTimeout(load, 3000);
  };
  cleanups.push(() => { stopped = true; clearTimeout(timer); });
  load();
}

function renderCluster(box, s) {
  if (s.mode === 'single') {
    box.replaceChildren(h('section', { class: 'empty single', 'data-mode': 'single' },
      h('h2', {}, 'Single node'),
      h('p', {}, 'This server runs alone (cluster.enabled = false): no members, partitions, hints or replication lag. Every write is stored here only.')));
    return;
  }
  const q = s.quorum || {};
  const rep = s.replication || {};
  const groups = new Map();
  for (const p of s.partitions || []) {
    const k = (p.replicas || []).join(', ');
    groups.set(k, (groups.get(k) || 0) + 1);
  }
  const ae = rep.last_anti_entropy;
  replace(box,
    h('p', {}, 'Node ', h('strong', { id: 'node-id' }, s.node_id), ' is ',
      h('span', { class: `badge mode-${s.mode}`, id: 'cluster-mode' }, s.mode.replace('_', '-')),
      ` — sees ${q.visible} of ${q.total} members (${q.majority ? 'a majority' : 'not a majority'}; on minority: ${q.on_minority}).`),
    h('h2', {}, 'Members'),
    h('div', { class: 'scroll', tabindex: '0', role: 'region', 'aria-label': 'Members' }, h('table', { id: 'members' },
      h('thead', {}, h('tr', {}, ['Node', 'Status', 'API', 'Gateway', 'Last seen', 'Generation'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, (s.members || []).map((m) => h('tr', { 'data-node': m.id },
        h('td', {}, m.id), h('td', {}, h('span', { class: `badge st-${String(m.status).toLowerCase()}` }, m.status)),
        h('td', {}, m.api_addr), h('td', {}, m.gateway_addr), h('td', {}, timeEl(m.last_seen)), h('td', { class: 'num' }, m.generation)))))),
    h('h2', {}, 'Replication'),
    h('dl', { class: 'fields', id: 'replication' },
      h('dt', {}, 'factor'), h('dd', {}, rep.factor ?? '—'),
      h('dt', {}, 'hints pending'), h('dd', { id: 'hints-pending' }, rep.hints_pending ?? 'unknown'),
      h('dt', {}, 'replication lag'), h('dd', { id: 'replication-lag' }, typeof rep.replication_lag_seconds === 'number' ? `${rep.replication_lag_seconds.toFixed(3)} s` : 'unknown'),
      h('dt', {}, 'last anti-entropy'), h('dd', { id: 'last-anti-entropy' }, antiEntropy(ae))),
    h('h2', {}, `Partitions (${(s.partitions || []).length})`),
    h('table', { id: 'partitions' }, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Replicas (best first)'), h('th', { scope: 'col' }, 'Partitions'))),
      h('tbody', {}, [...groups].map(([k, n]) => h('tr', {}, h('td', {}, k || 'none'), h('td', { class: 'num' }, n))))));
}

function antiEntropy(ae) {
  if (!ae || typeof ae !== 'object') return 'none yet';
  const peers = Array.isArray(ae.peers) ? ae.peers : [];
  const n = (k) => (typeof ae[k] === 'number' ? ae[k] : 0);
  return h('span', {},
    typeof ae.finished_at_ms === 'number' ? [timeEl(ae.finished_at_ms), ' — '] : null,
    `${new Set(peers.map((p) => p.peer)).size} peer(s), ${n('failed_peers')} failed, `,
    `${n('records_fetched')} records fetched, ${n('records_pushed')} pushed`,
    h('details', {}, h('summary', {}, 'details'), h('pre', { class: 'json' }, JSON.stringify(ae, null, 2))));
}

// ---------- router ----------

function decode(s) {
  try { return decodeURIComponent(s); } catch { return s; }
}

export function route() {
  for (const f of cleanups) f();
  cleanups = [];
  navSeq += 1;
  routedAt = location.pathname + location.search;
  const path = location.pathname;
  let section = null;
  let m;
  if (path === '/' || path === '/console' || path === '/console/') {
    section = 'search';
    viewSearch();
  } else if ((m = path.match(/^\/console\/subjects\/(.+)$/))) {
    viewSubject(decode(m[1]));
  } else if (path === '/console/subjects/' && new URLSearchParams(location.search).get('subject')) {
    viewSubject(new URLSearchParams(location.search).get('subject'));
  } else if ((m = path.match(/^\/console\/records\/([^/]+)\/?$/))) {
    viewRecord(decode(m[1]));
  } else if (path === '/console/cluster' || path === '/console/cluster/') {
    section = 'cluster';
    viewCluster();
  } else {
    setTitle('Not found');
    main.replaceChildren(h('h1', { tabindex: '-1' }, 'Not found'),
      emptyState('No such page', `The console has no page at ${path}.`, h('p', {}, link('/', 'Back to subjects'))));
  }
  for (const a of document.querySelectorAll('nav a[data-section]')) {
    if (a.dataset.section === section) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}

document.addEventListener('click', (ev) => {
  const a = ev.target.closest && ev.target.closest('a[data-nav]');
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  ev.preventDefault();
  history.pushState(null, '', url.pathname + url.search);
  say('');
  route();
  const h1 = main.querySelector('h1');
  if (h1) h1.focus({ preventScroll: false });
});
// In-page anchors (#p-1) change only the hash: no new view.
let routedAt = '';
window.addEventListener('popstate', () => {
  if (location.pathname + location.search !== routedAt) route();
});
renderAccess();
route();
