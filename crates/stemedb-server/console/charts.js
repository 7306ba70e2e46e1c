// Live charts from the server's Prometheus text (GET /metrics): writes per
// second, query latency and records stored, drawn as hand-made SVG.

const SVG = 'http://www.w3.org/2000/svg';
const POINTS = 60;
const INTERVAL_MS = 2000;
const QUERY_ROUTE = '/v1/query';

/** Parses Prometheus text exposition into [{name, labels, value}]. */
export function parseProm(text) {
  const out = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    let i = 0;
    while (i < line.length && /[A-Za-z0-9_:]/.test(line[i])) i += 1;
    const name = line.slice(0, i);
    const labels = {};
    if (line[i] === '{') {
      i += 1;
      while (i < line.length && line[i] !== '}') {
        const eq = line.indexOf('=', i);
        if (eq < 0) break;
        const key = line.slice(i, eq).trim().replace(/^,/, '').trim();
        i = eq + 1;
        if (line[i] !== '"') break;
        i += 1;
        let val = '';
        while (i < line.length && line[i] !== '"') {
          if (line[i] === '\\' && i + 1 < line.length) {
            const n = line[i + 1];
            val += n === 'n' ? '\n' : n;
            i += 2;
          } else {
            val += line[i];
            i += 1;
          }
        }
        i += 1;
        labels[key] = val;
        while (line[i] === ',' || line[i] === ' ') i += 1;
      }
      i += 1;
    }
    const parts = line.slice(i).trim().split(/\s+/);
    const value = parts[0] === '+Inf' ? Infinity : parts[0] === '-Inf' ? -Infinity : Number(parts[0]);
    if (name && parts[0] !== undefined && !Number.isNaN(value)) out.push({ name, labels, value });
  }
  return out;
}

const sum = (samples, name, pred = () => true) =>
  samples.filter((s) => s.name === name && pred(s.labels)).reduce((a, s) => a + s.value, 0);

const has = (samples, name) => samples.some((s) => s.name === name);

/** Quantile q of a histogram given cumulative bucket deltas [{le, count}] sorted by le. */
export function quantile(buckets, q) {
  if (!buckets.length) return null;
  const total = buckets[buckets.length - 1].count;
  if (total <= 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return prevLe;
      const inBucket = b.count - prevCount;
      const frac = inBucket > 0 ? (rank - prevCount) / inBucket : 1;
      return prevLe + (b.le - prevLe) * frac;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

function histogram(samples, route) {
  const pick = (l) => l.route === route;
  const buckets = samples
    .filter((s) => s.name === 'stemedb_http_request_duration_seconds_bucket' && pick(s.labels))
    .map((s) => ({ le: s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), count: s.value }))
    .sort((a, b) => a.le - b.le);
  return {
    sum: sum(samples, 'stemedb_http_request_duration_seconds_sum', pick),
    count: sum(samples, 'stemedb_http_request_duration_seconds_count', pick),
    buckets,
  };
}

class Chart {
  constructor(id, title, unit, digits) {
    this.unit = unit;
    this.digits = digits;
    this.values = [];
    this.svg = document.createElementNS(SVG, 'svg');
    this.svg.setAttribute('viewBox', '0 0 300 100');
    this.svg.setAttribute('preserveAspectRatio', 'none');
    this.svg.setAttribute('role', 'img');
    this.svg.setAttribute('aria-labelledby', `${id}-title ${id}-value`);
    this.line = document.createElementNS(SVG, 'path');
    this.line.setAttribute('class', 'line');
    this.area = document.createElementNS(SVG, 'path');
    this.area.setAttribute('class', 'area');
    this.dot = document.createElementNS(SVG, 'circle');
    this.dot.setAttribute('class', 'dot');
    this.dot.setAttribute('r', '0');
    this.svg.append(this.area, this.line, this.dot);
    this.value = document.createElement('span');
    this.value.className = 'value';
    this.value.id = `${id}-value`;
    this.value.textContent = '…';
    this.max = document.createElement('span');
    this.max.className = 'max';
    this.el = document.createElement('figure');
    this.el.className = 'chart';
    this.el.id = id;
    const cap = document.createElement('figcaption');
    const t = document.createElement('span');
    t.className = 'title';
    t.id = `${id}-title`;
    t.textContent = title;
    cap.append(t, this.value);
    this.el.append(cap, this.svg, this.max);
  }

  push(v, label) {
    this.values.push(v);
    if (this.values.length > POINTS) this.values.shift();
    this.value.textContent = label ?? (v === null ? 'n/a' : `${v.toFixed(this.digits)} ${this.unit}`);
    this.el.dataset.value = v === null ? '' : String(v);
    this.draw();
  }

  draw() {
    const nums = this.values.filter((v) => v !== null);
    const top = Math.max(1e-9, ...nums) * 1.15;
    const x = (i) => (300 * (i + POINTS - this.values.length)) / (POINTS - 1);
    const y = (v) => 98 - (96 * v) / top;
    let d = '';
    let area = '';
    let start = null;
    this.values.forEach((v, i) => {
      if (v === null) {
        if (start !== null) area += `L${x(i - 1).toFixed(1)},98L${x(start).toFixed(1)},98Z`;
        start = null;
        return;
      }
      const p = `${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      d += (start === null ? 'M' : 'L') + p;
      area += (start === null ? `M${x(i).toFixed(1)},98L` : 'L') + p;
      if (start === null) start = i;
    });
    if (start !== null) area += `L${x(this.values.length - 1).toFixed(1)},98L${x(start).toFixed(1)},98Z`;
    this.line.setAttribute('d', d);
    const last = this.values[this.values.length - 1];
    if (last === null || last === undefined) {
      this.dot.setAttribute('r', '0');
    } else {
      this.dot.setAttribute('cx', x(this.values.length - 1).toFixed(1));
      this.dot.setAttribute('cy', y(last).toFixed(1));
      this.dot.setAttribute('r', '2.5');
    }
    this.el.dataset.points = String(nums.length);
    this.area.setAttribute('d', area);
    this.max.textContent = nums.length ? `max ${Math.max(...nums).toFixed(this.digits)} ${this.unit} over ${Math.round((this.values.length * INTERVAL_MS) / 1000)} s` : '';
  }
}

/** Polls /metrics every 2 s and updates three charts inside `container`. */
export class MetricsPanel {
  constructor(container, fetcher) {
    this.fetcher = fetcher;
    this.writes = new Chart('chart-writes', 'Writes/s', '/s', 1);
    this.latency = new Chart('chart-latency', 'Query latency (p95)', 'ms', 2);
    this.stored = new Chart('chart-stored', 'Records stored', '', 0);
    this.status = document.createElement('p');
    this.status.className = 'muted';
    const grid = document.createElement('div');
    grid.className = 'charts';
    grid.append(this.writes.el, this.latency.el, this.stored.el);
    container.append(grid, this.status);
    this.prev = null;
    this.timer = null;
    this.stopped = false;
  }

  start() {
    this.tick();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  async tick() {
    try {
      const r = await this.fetcher('/metrics');
      if (!r.ok) throw new Error(`GET /metrics answered ${r.status}`);
      this.sample(parseProm(await r.text()), performance.now());
      this.status.textContent = 'From GET /metrics every 2 s; latency is the p95 of GET /v1/query over each interval.';
    } catch (e) {
      this.status.textContent = `Metrics unavailable: ${e.message}`;
    }
    if (!this.stopped) this.timer = setTimeout(() => this.tick(), INTERVAL_MS);
  }

  sample(samples, now) {
    const cur = {
      at: now,
      writes: sum(samples, 'stemedb_records_written_total'),
      query: histogram(samples, QUERY_ROUTE),
    };
    const stored = has(samples, 'stemedb_records_stored') ? sum(samples, 'stemedb_records_stored') : null;
    this.stored.push(stored, stored === null ? 'n/a' : Math.round(stored).toLocaleString('en-US'));
    const p = this.prev;
    if (p) {
      const dt = (cur.at - p.at) / 1000;
      this.writes.push(dt > 0 ? Math.max(0, cur.writes - p.writes) / dt : null);
      const dc = cur.query.count - p.query.count;
      if (dc > 0) {
        const deltas = cur.query.buckets.map((b) => {
          const old = p.query.buckets.find((o) => o.le === b.le);
          return { le: b.le, count: b.count - (old ? old.count : 0) };
        });
        const q95 = quantile(deltas, 0.95);
        this.latency.push(q95 === null ? null : q95 * 1000);
      } else {
        this.latency.push(null, 'no queries');
      }
    }
    this.prev = cur;
  }
}
