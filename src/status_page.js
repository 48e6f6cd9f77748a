/*
 * status_page.js - the status page's script (see status_page.html).
 *
 * Every second it reads metrics.json (the JSON exposition), events (the
 * latest monitor events) and peers (per-peer series, where the server
 * has them), and redraws. Rates are differences between two polls over
 * the server's own uptime, so a slow or late poll never inflates them.
 * Every name and endpoint comes from the host or the network and is put
 * into the page as text (textContent, title), never parsed as HTML.
 *
 * SPDX-License-Identifier: MIT
 */
'use strict';

(function () {
  const INTERVAL_MS = 1000;
  const HISTORY = 300; /* points per chart: 5 minutes at one per second */
  const FETCH_TIMEOUT_MS = 5000;

  const $ = (id) => document.getElementById(id);
  const state = {
    sockets: new Map(), /* key -> {name, type, attached, prev, hist, view, row} */
    total: [],          /* overview history: {rate, p95} */
    prevUptime: null,
    prevCpu: null,
    sortKey: 'name',
    sortDir: 1,
    filter: '',
    polls: 0,
    failures: 0,
    lastOk: null,
    peers: 'unknown', /* unknown | absent | present */
    peersAt: 0,
    eventsTotal: -1,
  };

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  /* ----- number formatting ----- */
  function fmtInt(v) {
    return Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '–';
  }
  function fmtRate(v) {
    if (!Number.isFinite(v)) return '–';
    if (v === 0) return '0';
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(2) + 'G';
    if (a >= 1e6) return (v / 1e6).toFixed(2) + 'M';
    if (a >= 1e4) return (v / 1e3).toFixed(1) + 'k';
    if (a >= 100) return v.toFixed(0);
    if (a >= 1) return v.toFixed(1);
    return v.toFixed(2);
  }
  function fmtBytes(v) {
    if (!Number.isFinite(v)) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 ? v.toFixed(0) : v.toFixed(1)) + ' ' + units[i];
  }
  function fmtSecs(s) {
    if (!Number.isFinite(s) || s <= 0) return '–';
    if (s < 1e-6) return (s * 1e9).toFixed(0) + ' ns';
    if (s < 1e-3) return (s * 1e6).toFixed(s < 1e-5 ? 2 : 1) + ' µs';
    if (s < 1) return (s * 1e3).toFixed(s < 1e-2 ? 2 : 1) + ' ms';
    return s.toFixed(2) + ' s';
  }
  function fmtDuration(s) {
    if (!Number.isFinite(s)) return '–';
    s = Math.floor(s);
    const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24;
    const m = Math.floor(s / 60) % 60, sec = s % 60;
    if (d) return d + 'd ' + h + 'h ' + m + 'm';
    if (h) return h + 'h ' + m + 'm ' + sec + 's';
    if (m) return m + 'm ' + sec + 's';
    return sec + 's';
  }
  function fmtClock(date) {
    return date.toLocaleTimeString('en-GB', { hour12: false });
  }
  function sumValues(obj) {
    let n = 0;
    if (obj && typeof obj === 'object')
      for (const k of Object.keys(obj)) if (typeof obj[k] === 'number') n += obj[k];
    return n;
  }
  function num(v) { return typeof v === 'number' ? v : 0; }

  /* ----- fetching ----- */
  async function getJSON(url) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
    try {
      const r = await fetch(url, { cache: 'no-store', signal: ctl.signal,
                                   headers: { Accept: 'application/json' } });
      if (!r.ok) {
        const e = new Error(url + ': HTTP ' + r.status + ' ' + r.statusText);
        e.status = r.status;
        throw e;
      }
      return await r.json();
    } catch (e) {
      if (e.name === 'AbortError') throw new Error(url + ': no answer within ' + FETCH_TIMEOUT_MS / 1000 + ' s');
      if (e instanceof TypeError) throw new Error(url + ': ' + e.message + ' (server unreachable?)');
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /* ----- the sockets table ----- */
  const COLUMNS = [
    ['name', 'text', (v) => v.name],
    ['type', 'text', (v) => v.type],
    ['listening', '', (v) => fmtInt(v.listening)],
    ['connections', '', (v) => fmtInt(v.connections)],
    ['monitor', 'text', (v) => (v.monitor ? 'up' : 'DOWN')],
    ['sent', '', (v) => fmtInt(v.sent)],
    ['received', '', (v) => fmtInt(v.received)],
    ['rateOut', '', (v) => fmtRate(v.rateOut)],
    ['rateIn', '', (v) => fmtRate(v.rateIn)],
    ['bytesOut', '', (v) => fmtBytes(v.bytesOut) + '/s'],
    ['bytesIn', '', (v) => fmtBytes(v.bytesIn) + '/s'],
    ['errors', '', (v) => fmtInt(v.errors)],
    ['wouldBlock', '', (v) => fmtInt(v.wouldBlock)],
    ['handshake', '', (v) => fmtInt(v.handshake)],
    ['reconnects', '', (v) => fmtInt(v.reconnects)],
    ['p50', '', (v) => fmtSecs(v.p50)],
    ['p95', '', (v) => fmtSecs(v.p95)],
    ['p99', '', (v) => fmtSecs(v.p99)],
  ];

  function makeRow(entry) {
    const tr = el('tr');
    entry.cells = {};
    for (const [key, cls] of COLUMNS) {
      const td = el('td', 'c-' + key + (cls ? ' ' + cls : ''));
      entry.cells[key] = td;
      tr.appendChild(td);
      if (key === 'rateIn') { /* the chart next to the rates */
        const chart = el('td', 'c-chart');
        entry.canvas = el('canvas', 'spark');
        entry.canvas.width = 120;
        entry.canvas.height = 30;
        chart.appendChild(entry.canvas);
        tr.appendChild(chart);
      }
    }
    entry.row = tr;
  }

  function updateRow(entry) {
    const v = entry.view;
    for (const [key, , fmt] of COLUMNS) {
      const td = entry.cells[key];
      const text = fmt(v);
      if (td.textContent !== text) td.textContent = text;
      const raw = v[key];
      td.classList.toggle('zero', typeof raw === 'number' && raw === 0);
    }
    entry.cells.name.title = v.name;
    entry.cells.monitor.classList.toggle('up', !!v.monitor);
    entry.cells.monitor.classList.toggle('down', !v.monitor);
    entry.cells.errors.classList.toggle('bad', v.errors > 0);
    entry.cells.handshake.classList.toggle('bad', v.handshake > 0);
    entry.cells.errors.title = v.errorText;
    /* failures by reason, under the total */
    const hs = entry.cells.handshake;
    if (v.reasons.length) {
      const span = el('span', 'reasons', v.reasons.join(', '));
      hs.appendChild(span);
      hs.title = v.reasons.join('\n');
    } else {
      hs.title = '';
    }
    drawChart(entry.canvas, entry.hist, 1);
  }

  function socketView(s, prev, dt) {
    const errorNames = [];
    for (const op of ['send', 'recv']) {
      const m = (s.errors && s.errors[op]) || {};
      for (const k of Object.keys(m)) errorNames.push(op + ' ' + k + ': ' + m[k]);
    }
    const reasons = [];
    const hf = s.handshake_failures || {};
    for (const k of Object.keys(hf)) reasons.push(k + ' ×' + hf[k]);
    const w = s.latency_window || {};
    const has = num(w.count) > 0;
    const rate = (cur, old) => (prev && dt > 0 && cur >= old ? (cur - old) / dt : NaN);
    return {
      name: String(s.name),
      type: String(s.type),
      listening: num(s.listening),
      connections: num(s.connections),
      monitor: num(s.monitor_up) === 1,
      sent: num(s.messages_sent),
      received: num(s.messages_received),
      rateOut: rate(num(s.messages_sent), prev ? prev.messages_sent : 0),
      rateIn: rate(num(s.messages_received), prev ? prev.messages_received : 0),
      bytesOut: rate(num(s.bytes_sent), prev ? prev.bytes_sent : 0),
      bytesIn: rate(num(s.bytes_received), prev ? prev.bytes_received : 0),
      errors: sumValues(s.errors && s.errors.send) + sumValues(s.errors && s.errors.recv),
      errorText: errorNames.join('\n'),
      wouldBlock: sumValues(s.would_block),
      handshake: sumValues(hf),
      reasons: reasons,
      reconnects: num(s.reconnects),
      p50: has ? num(w.p50_seconds) : NaN,
      p95: has ? num(w.p95_seconds) : NaN,
      p99: has ? num(w.p99_seconds) : NaN,
    };
  }

  function updateSockets(doc) {
    const uptime = num(doc.uptime_seconds);
    const dt = state.prevUptime === null ? 0 : uptime - state.prevUptime;
    const seen = new Set();
    let totalRate = 0, worstP95 = NaN, anyRate = false;
    for (const s of Array.isArray(doc.sockets) ? doc.sockets : []) {
      const key = String(s.name);
      seen.add(key);
      let entry = state.sockets.get(key);
      if (entry && entry.attached !== s.attached_unix_seconds) {
        entry.prev = null; /* detached and attached again: counters restarted */
        entry.hist = [];
      }
      if (!entry) {
        entry = { hist: [], prev: null };
        makeRow(entry);
        state.sockets.set(key, entry);
      }
      entry.attached = s.attached_unix_seconds;
      entry.view = socketView(s, entry.prev, dt);
      entry.prev = s;
      const v = entry.view;
      const rate = v.rateOut + v.rateIn;
      if (Number.isFinite(rate)) {
        entry.hist.push({ rate: rate, p95: v.p95 });
        if (entry.hist.length > HISTORY) entry.hist.shift();
        totalRate += rate;
        anyRate = true;
      }
      if (Number.isFinite(v.p95) && !(v.p95 <= worstP95)) worstP95 = v.p95;
    }
    for (const key of Array.from(state.sockets.keys()))
      if (!seen.has(key)) {
        state.sockets.get(key).row.remove();
        state.sockets.delete(key);
      }
    if (anyRate) {
      state.total.push({ rate: totalRate, p95: worstP95 });
      if (state.total.length > HISTORY) state.total.shift();
      $('ov-rate').textContent = fmtRate(totalRate);
      $('ov-p95').textContent = fmtSecs(worstP95);
    }
    state.prevUptime = uptime;
    for (const entry of state.sockets.values()) {
      const hs = entry.cells.handshake;
      while (hs.firstChild) hs.removeChild(hs.firstChild);
      updateRow(entry);
    }
    render();
    drawChart($('overview-chart'), state.total, 2);
  }

  function compare(a, b) {
    const x = a.view[state.sortKey], y = b.view[state.sortKey];
    let r;
    if (typeof x === 'string' || typeof y === 'string') r = String(x).localeCompare(String(y));
    else if (typeof x === 'boolean') r = (x ? 1 : 0) - (y ? 1 : 0);
    else {
      const fx = Number.isFinite(x), fy = Number.isFinite(y);
      r = fx && fy ? x - y : fx ? 1 : fy ? -1 : 0;
    }
    /* ties in name order, whichever way the column goes */
    if (r === 0 && state.sortKey !== 'name') return a.view.name.localeCompare(b.view.name);
    return r * state.sortDir;
  }

  function matches(name, type) {
    const f = state.filter;
    return !f || name.toLowerCase().includes(f) || type.toLowerCase().includes(f);
  }

  /* Orders and filters the rows; called on every poll and on input. */
  function render() {
    const body = $('sockets').tBodies[0];
    const list = Array.from(state.sockets.values()).sort(compare);
    let shown = 0;
    for (const entry of list) {
      const ok = matches(entry.view.name, entry.view.type);
      entry.row.hidden = !ok;
      if (ok) shown++;
      body.appendChild(entry.row); /* moves it into place */
    }
    const n = state.sockets.size;
    $('socket-count').textContent = state.filter ? shown + ' of ' + n : String(n);
    $('no-sockets').hidden = n > 0;
    for (const th of $('sockets').tHead.rows[0].cells) {
      th.classList.toggle('asc', th.dataset.key === state.sortKey && state.sortDir > 0);
      th.classList.toggle('desc', th.dataset.key === state.sortKey && state.sortDir < 0);
    }
    renderEventsFilter();
  }

  /* ----- charts: message rate (left scale) and p95 (its own scale) ----- */
  function drawChart(canvas, hist, lineWidth) {
    const ctx = canvas.getContext('2d');
    const w = canvas.width, h = canvas.height;
    ctx.clearRect(0, 0, w, h);
    const style = getComputedStyle(document.documentElement);
    ctx.strokeStyle = style.getPropertyValue('--line').trim() || '#ddd';
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(0, h - 0.5);
    ctx.lineTo(w, h - 0.5);
    ctx.stroke();
    if (hist.length < 1) return;
    const series = [['rate', style.getPropertyValue('--rate').trim() || '#2f6fdf'],
                    ['p95', style.getPropertyValue('--p95').trim() || '#e07b1a']];
    /* the newest point on the right edge; until a minute has been seen
     * the points are spread over a minute, not lost in five */
    const step = w / (Math.max(hist.length, 60) - 1);
    const x0 = w - (hist.length - 1) * step;
    for (const [key, color] of series) {
      let max = 0;
      for (const p of hist) if (Number.isFinite(p[key]) && p[key] > max) max = p[key];
      if (max <= 0) continue;
      ctx.strokeStyle = color;
      ctx.lineWidth = lineWidth;
      ctx.beginPath();
      let pen = false;
      hist.forEach((p, i) => {
        if (!Number.isFinite(p[key])) { pen = false; return; }
        const x = x0 + i * step;
        const y = h - 2 - (p[key] / max) * (h - 5);
        if (pen) ctx.lineTo(x, y); else ctx.moveTo(x, y);
        pen = true;
      });
      if (hist.length === 1) ctx.lineTo(w, h - 2 - (hist[0][key] / max) * (h - 5));
      ctx.stroke();
    }
  }

  /* ----- events ----- */
  function updateEvents(doc) {
    const events = Array.isArray(doc.events) ? doc.events : [];
    const total = num(doc.total);
    $('events-count').textContent =
      events.length + (total > events.length ? ' latest of ' + fmtInt(total) : '');
    if (total === state.eventsTotal) return;
    state.eventsTotal = total;
    const body = $('events').tBodies[0];
    while (body.firstChild) body.removeChild(body.firstChild);
    for (let i = events.length - 1; i >= 0; i--) {
      const e = events[i];
      const tr = el('tr');
      const when = new Date(e.ts);
      tr.appendChild(el('td', 'text c-time', isNaN(when) ? String(e.ts) : fmtClock(when)));
      tr.appendChild(el('td', 'text c-socket', e.socket));
      tr.appendChild(el('td', 'text c-event', e.event));
      const detail = e.detail ? e.detail : e.meaning && e.meaning !== 'none' ? e.meaning + ' ' + e.value : '';
      tr.appendChild(el('td', 'text c-detail', detail));
      tr.appendChild(el('td', 'text c-endpoint', e.endpoint));
      tr.cells[1].title = String(e.socket);
      tr.cells[4].title = String(e.endpoint);
      body.appendChild(tr);
    }
    renderEventsFilter();
  }

  function renderEventsFilter() {
    for (const tr of $('events').tBodies[0].rows)
      tr.hidden = !!state.filter && !tr.cells[1].textContent.toLowerCase().includes(state.filter);
  }

  /* ----- process ----- */
  function updateProcess(doc) {
    const p = doc.process || {};
    const dl = $('process');
    while (dl.firstChild) dl.removeChild(dl.firstChild);
    const facts = [];
    const uptime = num(doc.uptime_seconds);
    if (typeof p.cpu_seconds_total === 'number') {
      let cpu = '–';
      if (state.prevCpu && uptime > state.prevCpu.uptime)
        cpu = ((100 * (p.cpu_seconds_total - state.prevCpu.cpu)) / (uptime - state.prevCpu.uptime)).toFixed(1) + ' %';
      state.prevCpu = { cpu: p.cpu_seconds_total, uptime: uptime };
      facts.push(['CPU', cpu], ['CPU time', fmtDuration(p.cpu_seconds_total)]);
    }
    if (typeof p.resident_memory_bytes === 'number') facts.push(['Resident memory', fmtBytes(p.resident_memory_bytes)]);
    if (typeof p.virtual_memory_bytes === 'number') facts.push(['Virtual memory', fmtBytes(p.virtual_memory_bytes)]);
    if (typeof p.open_fds === 'number')
      facts.push(['Open fds', fmtInt(p.open_fds) + (typeof p.max_fds === 'number' ? ' of ' + fmtInt(p.max_fds) : '')]);
    if (typeof p.threads === 'number') facts.push(['Threads', fmtInt(p.threads)]);
    if (typeof p.start_time_seconds === 'number')
      facts.push(['Started', new Date(p.start_time_seconds * 1000).toLocaleString('en-GB', { hour12: false })]);
    facts.push(['Observer uptime', fmtDuration(uptime)]);
    const labels = doc.labels || {};
    for (const k of Object.keys(labels)) facts.push(['Label ' + k, labels[k]]);
    if (!doc.process) facts.push(['Process metrics', 'off']);
    for (const [k, v] of facts) {
      dl.appendChild(el('dt', '', k));
      dl.appendChild(el('dd', '', v));
    }
    $('version').textContent = doc.version ? String(doc.version) : '';
  }

  /* ----- peers (only where the server has per-peer data) ----- */
  /* Rows of peers from either document: /peers ({"sockets":[{"socket":
   * name, "peers":[...], "other":{...}}]}) or the JSON exposition, whose
   * sockets that track peers carry "peers":{"peers":[...],"other":{...}};
   * a plain list, or {"peers":[...]}, is taken as it is. */
  function peerRows(doc) {
    const rows = [];
    const add = (list, socket) => {
      if (!Array.isArray(list)) return;
      for (const p of list)
        if (p && typeof p === 'object') rows.push(socket === undefined ? p : Object.assign({ socket: socket }, p));
    };
    const addOther = (o, socket) => {
      if (o && typeof o === 'object' && num(o.messages_received) + num(o.messages_sent) > 0)
        rows.push(Object.assign({ socket: socket }, o, { peer: 'other' }));
    };
    if (Array.isArray(doc)) add(doc);
    else if (doc && typeof doc === 'object') {
      add(doc.peers);
      for (const s of Array.isArray(doc.sockets) ? doc.sockets : []) {
        if (!s || typeof s !== 'object') continue;
        const name = String(s.socket !== undefined ? s.socket : s.name);
        const table = Array.isArray(s.peers) ? s : s.peers;
        if (!table || typeof table !== 'object') continue;
        add(table.peers, name);
        addOther(table.other, name);
      }
    }
    return rows;
  }

  const ago = (t) => (Number.isFinite(t) && t > 0 ? fmtDuration(Math.max(0, Date.now() / 1000 - t)) + ' ago' : '–');
  /* the columns of libzmqobs's own per-peer documents */
  const PEER_COLUMNS = [
    ['socket', 'Socket', 'text', (v) => v],
    ['peer', 'Peer', 'text', (v) => v],
    ['messages_received', 'Msgs in', '', fmtInt],
    ['bytes_received', 'Bytes in', '', fmtBytes],
    ['messages_sent', 'Msgs out', '', fmtInt],
    ['bytes_sent', 'Bytes out', '', fmtBytes],
    ['error', 'Error bound', '', fmtInt],
    ['last_seen_unix_seconds', 'Last seen', '', ago],
  ];

  function updatePeers(rows) {
    const section = $('peers-section');
    section.hidden = rows.length === 0;
    if (!rows.length) return;
    let cols;
    if (rows.some((r) => typeof r.messages_received === 'number')) {
      cols = PEER_COLUMNS.filter(([k]) => rows.some((r) => r[k] !== undefined));
      rows.sort((a, b) => num(b.messages_received) + num(b.messages_sent) - num(a.messages_received) - num(a.messages_sent));
    } else { /* someone else's document: every scalar field, largest first */
      const keys = [];
      for (const r of rows)
        for (const k of Object.keys(r))
          if ((typeof r[k] === 'number' || typeof r[k] === 'string') && !keys.includes(k) && keys.length < 10) keys.push(k);
      const text = (k) => rows.some((r) => typeof r[k] === 'string');
      cols = keys.map((k) => [k, k.replace(/_/g, ' '), text(k) ? 'text' : '', text(k) ? (v) => v : fmtInt]);
      const numeric = keys.find((k) => !text(k));
      if (numeric) rows.sort((a, b) => num(b[numeric]) - num(a[numeric]));
    }
    const table = $('peers');
    const head = table.tHead.rows[0];
    while (head.firstChild) head.removeChild(head.firstChild);
    for (const [, title, cls] of cols) head.appendChild(el('th', cls ? cls + ' nosort' : 'nosort', title));
    const body = table.tBodies[0];
    while (body.firstChild) body.removeChild(body.firstChild);
    const f = state.filter;
    let n = 0;
    for (const r of rows) {
      if (f && !cols.some(([k]) => typeof r[k] === 'string' && r[k].toLowerCase().includes(f))) continue;
      if (++n > 20) break;
      const tr = el('tr');
      for (const [k, , cls, fmt] of cols)
        tr.appendChild(el('td', cls, r[k] === undefined || r[k] === null ? '' : fmt(r[k])));
      body.appendChild(tr);
    }
  }

  async function pollPeers(metricsDoc) {
    const inline = peerRows(metricsDoc);
    if (inline.length) { updatePeers(inline); return; }
    /* a server without /peers says 404 once; ask again now and then */
    const now = Date.now();
    if (state.peers === 'absent' && now - state.peersAt < 30000) return;
    try {
      const doc = await getJSON('peers');
      state.peers = 'present';
      updatePeers(peerRows(doc));
    } catch (e) {
      if (e.status === 404) { state.peers = 'absent'; state.peersAt = now; }
      $('peers-section').hidden = true;
    }
  }

  /* ----- the poll loop: never overlaps, keeps going whatever fails ----- */
  function showError(msg) {
    const b = $('banner');
    const last = state.lastOk ? ' Last update at ' + fmtClock(state.lastOk) + '.' : '';
    b.textContent = 'Cannot read the metrics: ' + msg + '. Retrying every ' +
                    INTERVAL_MS / 1000 + ' s.' + last;
    b.hidden = false;
    $('main').classList.add('stale');
    document.body.dataset.error = '1';
  }

  function clearError() {
    $('banner').hidden = true;
    $('main').classList.remove('stale');
    delete document.body.dataset.error;
  }

  async function poll() {
    try {
      const doc = await getJSON('metrics.json');
      updateSockets(doc);
      updateProcess(doc);
      let eventsError = null;
      try {
        updateEvents(await getJSON('events'));
      } catch (e) {
        eventsError = e;
      }
      await pollPeers(doc);
      state.lastOk = new Date();
      state.polls++;
      if (eventsError) showError(eventsError.message);
      else clearError();
      const n = state.sockets.size;
      $('summary').textContent = n + (n === 1 ? ' socket' : ' sockets');
      $('updated').textContent = 'updated ' + fmtClock(state.lastOk);
      document.body.dataset.polls = String(state.polls);
    } catch (e) {
      state.failures++;
      state.prevUptime = null; /* no rate across the gap */
      showError(e.message);
      document.body.dataset.failures = String(state.failures);
    }
    setTimeout(poll, INTERVAL_MS);
  }

  function start() {
    for (const th of $('sockets').tHead.rows[0].cells) {
      if (!th.dataset.key) continue;
      th.addEventListener('click', () => {
        const key = th.dataset.key;
        if (state.sortKey === key) state.sortDir = -state.sortDir;
        else {
          state.sortKey = key;
          state.sortDir = th.classList.contains('text') ? 1 : -1; /* numbers: largest first */
        }
        render();
      });
    }
    $('filter').addEventListener('input', (e) => {
      state.filter = e.target.value.trim().toLowerCase();
      render();
    });
    poll();
  }

  start();
})();
