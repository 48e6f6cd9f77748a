/*
 * status_page_check.js - drives the status page in headless Chromium
 * (playwright-core) against tests/status_host.c and checks the rendered
 * page; run by tests/test_status_page.sh, which installs playwright-core.
 *
 *   node tests/status_page_check.js PLAYWRIGHT_DIR HOST_BINARY SCREENSHOT
 *
 * Exits 0 when every check passed, 1 with the failed check otherwise.
 *
 * SPDX-License-Identifier: MIT
 */
'use strict';

const path = require('path');
const net = require('net');
const http = require('http');
const readline = require('readline');
const { spawn } = require('child_process');

const [pwDir, hostBin, shotPath] = process.argv.slice(2);
const { chromium } = require(path.resolve(pwDir, 'node_modules', 'playwright-core'));

const TRAFFIC = {
  '<script>alert(1)</script>': 'REQ',
  '"dq" \'sq\' back\\slash &amp;': 'REP',
  '<img src=x onerror="window.__pwned=1">': 'PUSH',
  'zähler→✓': 'PULL',
  dealer: 'DEALER',
  router: 'ROUTER',
};
const NAMES = Object.keys(TRAFFIC);

let host, browser;
let checks = 0;
function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
  checks++;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* ----- the host process and its line protocol ----- */
const lines = [];
let lineWaiter = null;
function startHost() {
  host = spawn(hostBin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  readline.createInterface({ input: host.stdout }).on('line', (l) => {
    lines.push(l);
    if (lineWaiter) lineWaiter();
  });
  host.on('exit', (code, sig) => {
    host.exited = { code, sig };
    if (lineWaiter) lineWaiter();
  });
}
async function expectLine(prefix, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const i = lines.findIndex((l) => l.startsWith(prefix));
    if (i >= 0) return lines.splice(i, 1)[0];
    if (host.exited) throw new Error('host exited (' + JSON.stringify(host.exited) + ') before "' + prefix + '"');
    if (Date.now() > end) throw new Error('no "' + prefix + '" from the host');
    await new Promise((r) => { lineWaiter = r; setTimeout(r, 200); });
    lineWaiter = null;
  }
}
async function command(cmd, reply) {
  host.stdin.write(cmd + '\n');
  return expectLine(reply);
}

/* ----- plain HTTP from here, for the exposition ----- */
function get(port, p) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, timeout: 5000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/* Prometheus text 0.0.4: name{labels} value, label values unescaped. */
function parseProm(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{)?/.exec(line);
    if (!m) throw new Error('bad exposition line: ' + line);
    let i = m[0].length;
    const labels = {};
    if (m[2]) {
      while (line[i] !== '}') {
        const eq = line.indexOf('=', i);
        const name = line.slice(i, eq);
        i = eq + 2; /* =" */
        let v = '';
        while (line[i] !== '"') {
          if (line[i] === '\\') {
            const c = line[i + 1];
            v += c === 'n' ? '\n' : c;
            i += 2;
          } else v += line[i++];
        }
        i++;
        labels[name] = v;
        if (line[i] === ',') i++;
      }
      i++;
    }
    out.push({ name: m[1], labels, value: Number(line.slice(i).trim()) });
  }
  return out;
}
/* the sum of a family's series for one socket; a family that lists only
 * non-zero series (errors, handshake failures) may have none */
function sumOf(samples, name, socket, zeroIfNone) {
  let n = 0, found = false;
  for (const s of samples)
    if (s.name === name && s.labels.socket === socket) { n += s.value; found = true; }
  if (!found && !zeroIfNone) throw new Error('no ' + name + ' for ' + JSON.stringify(socket));
  return n;
}

/* ----- the page ----- */
async function rows(page) {
  return page.$$eval('#sockets tbody tr', (trs) =>
    trs.map((tr) => {
      const o = { hidden: tr.hidden };
      for (const td of tr.cells) {
        const c = Array.from(td.classList).find((x) => x.startsWith('c-'));
        if (c) o[c.slice(2)] = c === 'c-handshake' ? td.firstChild ? td.firstChild.textContent : '' : td.textContent;
      }
      return o;
    }));
}
const int = (s) => Number(String(s).replace(/,/g, ''));
async function polls(page) {
  return Number(await page.evaluate(() => document.body.dataset.polls || 0));
}
async function waitPolls(page, n, ms = 20000) {
  const start = await polls(page);
  await page.waitForFunction((want) => Number(document.body.dataset.polls || 0) >= want, start + n, { timeout: ms });
}
/* Pixels of a canvas in the message-rate colour (blue: far more blue
 * than red), which the grey baseline is not. */
async function inkedPixels(page, selector) {
  return page.$eval(selector, (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && d[i + 2] > d[i] + 60) n++;
    return n;
  });
}

/* Sends a ZMTP 3.0 greeting with a mechanism no socket speaks: the REP
 * counts one HANDSHAKE_FAILED_PROTOCOL. */
function badHandshake(endpoint) {
  const m = /^tcp:\/\/127\.0\.0\.1:(\d+)$/.exec(endpoint);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(m[1]), '127.0.0.1', () => {
      const g = Buffer.alloc(64);
      g[0] = 0xff; g[8] = 1; g[9] = 0x7f; g[10] = 3; g[11] = 0;
      g.write('BOGUS', 12, 'ascii');
      s.write(g);
    });
    s.on('data', () => {});
    s.on('close', resolve);
    s.on('error', () => resolve());
    setTimeout(() => { s.destroy(); resolve(); }, 5000);
    s.on('timeout', reject);
  });
}

async function main() {
  startHost();
  const port = Number((await expectLine('port ')).split(' ')[1]);
  const repEndpoint = (await expectLine('rep_endpoint ')).split(' ')[1];

  /* the headers every page resource carries */
  for (const [p, type] of [['/', 'text/html'], ['/status.js', 'text/javascript'], ['/status.css', 'text/css'],
                           ['/metrics.json', 'application/json'], ['/events', 'application/json']]) {
    const r = await get(port, p);
    check(r.status === 200, p + ' answers 200');
    check(r.headers['content-type'].startsWith(type + '; charset=utf-8'), p + ' is ' + type);
    check(/^default-src 'none'; script-src 'self'; style-src 'self';/.test(r.headers['content-security-policy']), p + ' has the CSP');
    check(r.headers['x-content-type-options'] === 'nosniff', p + ' has nosniff');
  }

  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  const problems = [];
  let dialogs = 0;
  page.on('dialog', (d) => { dialogs++; d.dismiss().catch(() => {}); });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('console', (m) => {
    /* the failed fetches while the server is away are expected */
    if (m.type() === 'error' && !/Failed to load resource|ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE/.test(m.text()))
      problems.push('console: ' + m.text());
  });
  await page.goto('http://127.0.0.1:' + port + '/');
  await waitPolls(page, 4);

  /* live traffic: every traffic socket listed with non-zero rates on its
   * sending or receiving side */
  let r = await rows(page);
  for (const name of NAMES) {
    const row = r.find((x) => x.name === name);
    check(row, 'socket ' + JSON.stringify(name) + ' listed (literally)');
    check(row.type === TRAFFIC[name], name + ' type');
    const out = parseFloat(row.rateOut), inn = parseFloat(row.rateIn);
    const wantOut = ['REQ', 'REP', 'PUSH', 'DEALER'].includes(row.type);
    const wantIn = ['REQ', 'REP', 'PULL', 'ROUTER'].includes(row.type);
    if (wantOut) check(out > 0, name + ' msg/s out > 0 under traffic (' + row.rateOut + ')');
    if (wantIn) check(inn > 0, name + ' msg/s in > 0 under traffic (' + row.rateIn + ')');
    check(row.monitor === 'up', name + ' monitor up');
  }
  check(r.length === NAMES.length, 'exactly the attached sockets are listed');

  await badHandshake(repEndpoint);

  /* stop the traffic: the counts are stable, the page and the exposition
   * must agree exactly (two readings of the exposition around one poll) */
  await command('pause', 'paused');
  let agreed = false, lastDiff = '';
  for (let attempt = 0; attempt < 10 && !agreed; attempt++) {
    const before = (await get(port, '/metrics')).body;
    await waitPolls(page, 2);
    const after = (await get(port, '/metrics')).body;
    const zmqLines = (t) => t.split('\n').filter((l) => l.startsWith('zmq_')).join('\n');
    const prom = parseProm(after);
    r = await rows(page);
    lastDiff = zmqLines(before) === zmqLines(after) ? '' : 'the exposition still moved; ';
    for (const name of NAMES) {
      const row = r.find((x) => x.name === name);
      const want = {
        sent: sumOf(prom, 'zmq_messages_sent_total', name),
        received: sumOf(prom, 'zmq_messages_received_total', name),
        errors: sumOf(prom, 'zmq_errors_total', name, true),
        wouldBlock: sumOf(prom, 'zmq_would_block_total', name),
        handshake: sumOf(prom, 'zmq_handshake_failures_total', name, true),
        reconnects: sumOf(prom, 'zmq_reconnects_total', name),
        listening: sumOf(prom, 'zmq_listening', name),
        connections: sumOf(prom, 'zmq_connections', name),
      };
      for (const k of Object.keys(want))
        if (int(row[k]) !== want[k]) lastDiff += name + ' ' + k + ': page ' + row[k] + ' exposition ' + want[k] + '; ';
    }
    agreed = lastDiff === '';
  }
  check(agreed, 'page counts equal the exposition: ' + lastDiff);
  const json = JSON.parse((await get(port, '/metrics.json')).body);
  const prom = parseProm((await get(port, '/metrics')).body);
  for (const s of json.sockets)
    check(s.messages_sent === sumOf(prom, 'zmq_messages_sent_total', s.name), 'JSON and text agree for ' + s.name);
  const rep = r.find((x) => x.name === NAMES[1]);
  check(int(rep.handshake) === 1, 'one failed handshake on the REP (' + rep.handshake + ')');
  const reasons = await page.$$eval('#sockets td.c-handshake .reasons', (s) => s.map((x) => x.textContent));
  check(reasons.length === 1 && /^ZMTP_MECHANISM_MISMATCH ×1$|×1$/.test(reasons[0]), 'the failure is shown by reason: ' + reasons);
  check(int(r.find((x) => x.name === 'dealer').sent) > 0, 'traffic was counted');

  /* per-peer data: the router's peer, named by the dealer's routing id,
   * with its count equal to /peers' */
  const PEER = '<b>peer "1"</b>';
  const peersDoc = JSON.parse((await get(port, '/peers')).body);
  const routerPeers = peersDoc.sockets.find((x) => x.socket === 'router');
  check(routerPeers && routerPeers.peers.length === 1 && routerPeers.peers[0].peer === PEER, '/peers has the dealer');
  check(await page.$eval('#peers-section', (x) => !x.hidden), 'the peers section is shown');
  const peerCells = await page.$$eval('#peers tbody tr', (trs) => trs.map((tr) => Array.from(tr.cells, (c) => c.textContent)));
  check(peerCells.length === 1 && peerCells[0][0] === 'router' && peerCells[0][1] === PEER, 'the peer row, name literal: ' + JSON.stringify(peerCells));
  /* the peers (and "other", empty here) add up to the socket's counts */
  check(int(peerCells[0][2]) === routerPeers.peers[0].messages_received &&
        int(peerCells[0][2]) === int(r.find((x) => x.name === 'router').received),
        'the peer\'s messages equal /peers\' and the router\'s: ' + JSON.stringify([peerCells[0], routerPeers.peers[0]]));

  /* hostile names: shown literally, nothing ran */
  check(await page.evaluate(() => window.__pwned === undefined), 'no injected handler ran');
  check(dialogs === 0, 'no dialog opened');
  check(await page.evaluate(() => document.querySelectorAll('img, b').length === 0), 'no element came from a name');
  check(await page.evaluate(() => document.scripts.length === 1), 'only the page\'s own script');

  /* charts drawn */
  check((await inkedPixels(page, '#overview-chart')) > 100, 'the overview chart is drawn');
  const sparks = await page.$$eval('#sockets tbody tr', (trs) => trs.length);
  check(sparks === NAMES.length, 'one chart per socket');
  for (let i = 1; i <= NAMES.length; i++)
    check((await inkedPixels(page, '#sockets tbody tr:nth-child(' + i + ') canvas')) > 20, 'socket chart ' + i + ' is drawn');

  /* events: the table shows /events, newest first, names literal */
  const evDoc = JSON.parse((await get(port, '/events')).body);
  await waitPolls(page, 1);
  const evRows = await page.$$eval('#events tbody tr', (trs) => trs.map((tr) => Array.from(tr.cells, (c) => c.textContent)));
  check(evRows.length > 0, 'the events table is not empty');
  check(evRows.length === evDoc.events.length, 'every event of /events is listed (' + evRows.length + ' vs ' + evDoc.events.length + ')');
  const newest = evDoc.events[evDoc.events.length - 1];
  check(evRows[0][1] === newest.socket && evRows[0][2] === newest.event && evRows[0][4] === newest.endpoint, 'newest event first');
  check(evRows.some((c) => c[1] === NAMES[0] && c[2] === 'CONNECTED'), 'the REQ\'s CONNECTED event, name literal');
  check(evRows.some((c) => c[1] === NAMES[1] && c[2] === 'HANDSHAKE_FAILED_PROTOCOL'), 'the failed handshake event');

  /* process metrics */
  const facts = await page.$$eval('#process dt', (d) => d.map((x) => x.textContent));
  for (const f of ['CPU', 'Resident memory', 'Open fds', 'Threads'])
    check(facts.includes(f), 'process fact ' + f);

  await command('resume', 'resumed');
  await waitPolls(page, 6);
  await page.screenshot({ path: shotPath });

  /* the server goes away: the error is shown, polling goes on; it comes
   * back: the error is cleared */
  await command('unserve', 'unserved');
  await page.waitForFunction(() => document.body.dataset.error === '1' && !document.getElementById('banner').hidden, null, { timeout: 20000 });
  const banner = await page.$eval('#banner', (b) => b.textContent);
  check(/^Cannot read the metrics: .*Retrying every 1 s\./.test(banner), 'the banner says what failed: ' + banner);
  const failures = Number(await page.evaluate(() => document.body.dataset.failures));
  await page.waitForFunction((f) => Number(document.body.dataset.failures) >= f + 2, failures, { timeout: 20000 });
  await command('serve', 'served');
  await page.waitForFunction(() => document.getElementById('banner').hidden && !document.body.dataset.error, null, { timeout: 20000 });
  check(true, 'the banner cleared when the server came back');

  /* 100 sockets: all listed; the filter and the sort work */
  await command('more 94', 'more 94');
  await page.waitForFunction(() => document.querySelectorAll('#sockets tbody tr').length === 100, null, { timeout: 20000 });
  await page.fill('#filter', 'zähler');
  r = await rows(page);
  let visible = r.filter((x) => !x.hidden);
  check(visible.length === 1 && visible[0].name === 'zähler→✓', 'the filter leaves the one match');
  check((await page.$eval('#socket-count', (e) => e.textContent)) === '1 of 100', 'the count says 1 of 100');
  await page.fill('#filter', 'worker-08');
  visible = (await rows(page)).filter((x) => !x.hidden);
  check(visible.length === 10, 'worker-08x: ten matches (' + visible.length + ')');
  await page.fill('#filter', '');
  await page.click('#sockets th[data-key="sent"]');
  r = await rows(page);
  check(r.length === 100 && r.every((x) => !x.hidden), 'no filter: 100 rows');
  for (let i = 1; i < r.length; i++)
    check(int(r[i - 1].sent) >= int(r[i].sent), 'sorted by messages sent, largest first');
  check(int(r[0].sent) > 0 && int(r[99].sent) === 0, 'busy sockets first, idle last');
  const idleNames = r.filter((x) => int(x.sent) === 0).map((x) => x.name);
  check(idleNames.length === 96 && JSON.stringify(idleNames) === JSON.stringify(idleNames.slice().sort((a, b) => a.localeCompare(b))),
        'ties in name order');
  await page.click('#sockets th[data-key="name"]');
  r = await rows(page);
  const names = r.map((x) => x.name);
  check(JSON.stringify(names) === JSON.stringify(names.slice().sort((a, b) => a.localeCompare(b))), 'sorted by name');
  check(names.includes('worker-093') && names.includes('<script>alert(1)</script>'), 'names at 100 sockets');

  /* /peers alone (the exposition without peers, as from a server that
   * keeps them apart), answered here: the table shows it, largest first,
   * names as text; then /peers answers 404: the section goes */
  const page2 = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  page2.on('dialog', (d) => { dialogs++; d.dismiss().catch(() => {}); });
  page2.on('pageerror', (e) => problems.push('page error: ' + e.message));
  let peersMode = 'doc';
  await page2.route('**/metrics.json', async (route) => {
    const res = await route.fetch();
    const doc = await res.json();
    for (const s of doc.sockets) delete s.peers;
    await route.fulfill({ response: res, json: doc });
  });
  await page2.route('**/peers', (route) => peersMode === '404'
    ? route.fulfill({ status: 404, contentType: 'text/plain', body: 'not found\n' })
    : route.fulfill({
      status: 200,
      contentType: 'application/json',
      body: JSON.stringify({ sockets: [
        { socket: 'router', type: 'ROUTER', key: 'routing_id', max_peers: 8, tracked: 2, peers: [
          { peer: '10.0.0.2:5555', messages_received: 7, bytes_received: 70, messages_sent: 0, bytes_sent: 0, error: 0,
            first_seen_unix_seconds: 1767322245.5, last_seen_unix_seconds: 1767322250 },
          { peer: '<img src=y onerror="window.__pwned=2">', messages_received: 42, bytes_received: 4200, messages_sent: 1,
            bytes_sent: 10, error: 3, first_seen_unix_seconds: 1767322245.5, last_seen_unix_seconds: 1767322250 },
        ], other: { peer: 'other', messages_received: 9, bytes_received: 90, messages_sent: 0, bytes_sent: 0 } },
      ] }),
    }));
  await page2.goto('http://127.0.0.1:' + port + '/');
  await page2.waitForFunction(() => !document.getElementById('peers-section').hidden, null, { timeout: 20000 });
  const peerHead = await page2.$$eval('#peers thead th', (t) => t.map((x) => x.textContent));
  check(JSON.stringify(peerHead) === JSON.stringify(['Socket', 'Peer', 'Msgs in', 'Bytes in', 'Msgs out', 'Bytes out', 'Error bound', 'Last seen']),
        'peer columns: ' + peerHead);
  const peerRowsSeen = await page2.$$eval('#peers tbody tr', (trs) => trs.map((tr) => Array.from(tr.cells, (c) => c.textContent).slice(0, 7)));
  check(JSON.stringify(peerRowsSeen) === JSON.stringify([
    ['router', '<img src=y onerror="window.__pwned=2">', '42', '4.1 KiB', '1', '10 B', '3'],
    ['router', 'other', '9', '90 B', '0', '0 B', ''],
    ['router', '10.0.0.2:5555', '7', '70 B', '0', '0 B', '0'],
  ]), 'peer rows, busiest first, literal: ' + JSON.stringify(peerRowsSeen));
  check(await page2.evaluate(() => window.__pwned === undefined && document.querySelectorAll('img').length === 0), 'no peer name ran');
  peersMode = '404';
  await page2.waitForFunction(() => document.getElementById('peers-section').hidden, null, { timeout: 20000 });
  check(true, 'the peers section hides when /peers answers 404');
  await page2.close();

  check(problems.length === 0, 'no script error and no CSP violation: ' + problems.join(' | '));
  await browser.close();
  browser = null;
  host.stdin.end('quit\n');
  for (let i = 0; i < 100 && !host.exited; i++) await sleep(100);
  check(host.exited && host.exited.code === 0, 'the host exits cleanly');
  console.log('status_page_check: ' + checks + ' checks passed');
}

const watchdog = setTimeout(() => {
  console.error('status_page_check: FAIL: timed out');
  cleanup(1);
}, 180000);

function cleanup(code) {
  clearTimeout(watchdog);
  const done = () => {
    if (host && !host.exited) host.kill('SIGKILL');
    process.exit(code);
  };
  if (browser) browser.close().then(done, done);
  else done();
}

process.on('SIGTERM', () => {
  console.error('status_page_check: FAIL: terminated');
  cleanup(1);
});

main().then(() => cleanup(0), (e) => {
  console.error('status_page_check: FAIL: ' + (e && e.stack ? e.stack : e));
  cleanup(1);
});
