// CDP relay benchmark: the time the relay adds to a command's round trip, and screenshot
// throughput through it, both against the same Chromium reached directly in the same run.
//
//   node bench/node/cdp.mjs [--hermesd PATH] [--chromium /usr/bin/chromium] [--seconds 10]
//
// Starts Chromium (headless, its own profile) and hermesd (threads: 1, a `browsers:` entry),
// then alternates direct and relayed runs: Runtime.evaluate("1+1") round trips on 1 and on
// 16 page sessions at once (p50/p99 per command, and the relay's addition), and
// Page.captureScreenshot of a 1920x1080 page (MB/s of screenshot data, relay/direct).
// Goals (docs/performance.md): added p99 < 200 µs; screenshots >= 0.8x direct. Prints a
// Markdown table.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';

const args = { hermesd: process.env.HERMESD, chromium: '/usr/bin/chromium', seconds: 10 };
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
if (args.hermesd) process.env.HERMESD = args.hermesd;
const { Daemon, sleep } = await import('../../tests/e2e/daemon.mjs');
const SECONDS = Number(args.seconds);
const KEY = 'bench-cdp-key';

function startSite() {
  // A page with enough on it that a screenshot is a real PNG, not a blank one.
  const cells = Array.from({ length: 400 }, (_, i) =>
    `<div style="background:hsl(${(i * 37) % 360},70%,${30 + (i % 40)}%)">${i}</div>`).join('');
  const page = `<title>bench</title><style>body{display:grid;grid-template-columns:repeat(20,1fr);margin:0}
    div{height:54px;font:14px sans-serif;color:#fff}</style>${cells}`;
  return new Promise((resolve) => {
    const server = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(page);
    });
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

async function startChromium() {
  if (!existsSync(args.chromium)) throw new Error(`Chromium not found at ${args.chromium}`);
  const profile = await mkdtemp(path.join(os.tmpdir(), 'hermes-bench-chromium-'));
  const child = spawn(args.chromium, ['--headless', '--no-sandbox', '--disable-background-networking', '--disable-gpu',
                                      `--user-data-dir=${profile}`, '--remote-debugging-port=0', 'about:blank'],
                      { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    const file = path.join(profile, 'DevToolsActivePort');
    if (existsSync(file)) {
      const [port] = (await readFile(file, 'utf8')).split('\n');
      if (port) return { child, profile, port: Number(port) };
    }
    await sleep(50);
  }
  throw new Error('Chromium did not start');
}

class Conn {
  constructor(url) {
    this.ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    this.next = 1;
    this.waiting = new Map();
    this.ws.on('message', (data) => {
      const m = JSON.parse(data);
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.error) w.reject(new Error(m.error.message)); else w.resolve({ result: m.result, bytes: data.length });
    });
  }
  open() { return new Promise((resolve, reject) => { this.ws.once('open', resolve); this.ws.once('error', reject); }); }
  send(method, params = {}) {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }
  close() { this.ws.close(); }
}

// `count` page sessions: pages opened through /json/new (direct, or relayed with the key).
async function openPages(newUrl, headers, count) {
  const conns = [];
  for (let i = 0; i < count; i++) {
    const res = await fetch(newUrl, { method: 'PUT', headers });
    if (res.status !== 200) throw new Error(`${newUrl}: ${res.status} ${await res.text()}`);
    const target = await res.json();
    const c = new Conn(target.webSocketDebuggerUrl);
    await c.open();
    c.id = target.id;
    conns.push(c);
  }
  return conns;
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

async function roundTrips(conns, seconds) {
  const samples = [];
  const end = performance.now() + seconds * 1000;
  await Promise.all(conns.map(async (c) => {
    while (performance.now() < end) {
      const t = performance.now();
      await c.send('Runtime.evaluate', { expression: '1+1', returnByValue: true });
      samples.push((performance.now() - t) * 1000);  // µs
    }
  }));
  samples.sort((a, b) => a - b);
  return { n: samples.length, p50: percentile(samples, 0.5), p99: percentile(samples, 0.99) };
}

async function screenshots(conn, url, seconds) {
  await conn.send('Page.enable');
  await conn.send('Emulation.setDeviceMetricsOverride', { width: 1920, height: 1080, deviceScaleFactor: 1, mobile: false });
  await conn.send('Page.navigate', { url });
  await sleep(500);
  let bytes = 0, shots = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    const r = await conn.send('Page.captureScreenshot', { format: 'png' });
    bytes += r.bytes;
    shots++;
  }
  const s = (performance.now() - start) / 1000;
  return { mbps: bytes / s / 1e6, shots, size: bytes / shots };
}

const site = await startSite();
const browser = await startChromium();
const hermes = new Daemon();
const siteUrl = `http://127.0.0.1:${site.address().port}/`;
const results = {};
try {
  await hermes.start(({ dataDir, port }) => `gateway: {instance: bench-cdp, data_dir: ${JSON.stringify(dataDir)}, threads: 1}
log: {level: warn}
listeners:
  - {name: local, bind: loopback, port: ${port}}
browsers:
  - {name: b, listener: local, endpoint: "http://127.0.0.1:${browser.port}", keys: [{name: bench, key: "\${env:BENCH_CDP_KEY}"}],
     allow_urls: ["${siteUrl}*"], max_sessions: 64, max_frame: 64MiB}
`, { BENCH_CDP_KEY: KEY });
  const direct = (n) => openPages(`http://127.0.0.1:${browser.port}/json/new?about:blank`, {}, n);
  const relayed = (n) => openPages(`http://127.0.0.1:${hermes.port}/cdp/b/json/new?about:blank`,
                                   { Authorization: `Bearer ${KEY}` }, n);
  for (const sessions of [1, 16]) {
    for (const [name, open] of [['direct', direct], ['relay', relayed]]) {
      const conns = await open(sessions);
      await roundTrips(conns, Math.min(1, SECONDS / 4));  // warm-up
      results[`rt ${sessions} ${name}`] = await roundTrips(conns, SECONDS / 2);
      for (const c of conns) c.close();
    }
  }
  for (const [name, open] of [['direct', direct], ['relay', relayed]]) {
    const [conn] = await open(1);
    results[`shot ${name}`] = await screenshots(conn, siteUrl, SECONDS / 2);
    conn.close();
  }
} finally {
  await hermes.stop();
  browser.child.kill('SIGKILL');
  await sleep(200);
  await rm(browser.profile, { recursive: true, force: true, maxRetries: 5 });
  site.close();
}

const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : 'NaN');
const lines = ['## CDP relay', '',
  `Chromium ${'(Debian)'} reached directly and through hermesd's relay, alternated in one run (${SECONDS / 2} s each).`, '',
  '| Runtime.evaluate("1+1") | commands | p50 µs | p99 µs | added p50 µs | added p99 µs (goal < 200) |', '|---|---|---|---|---|---|'];
for (const sessions of [1, 16]) {
  const d = results[`rt ${sessions} direct`], r = results[`rt ${sessions} relay`];
  lines.push(`| ${sessions} session(s), direct | ${d.n} | ${f(d.p50)} | ${f(d.p99)} | | |`);
  lines.push(`| ${sessions} session(s), relay | ${r.n} | ${f(r.p50)} | ${f(r.p99)} | ${f(r.p50 - d.p50)} | ${f(r.p99 - d.p99)} |`);
}
const sd = results['shot direct'], sr = results['shot relay'];
lines.push('', '| Page.captureScreenshot 1920x1080 PNG | MB/s | screenshots | bytes each |', '|---|---|---|---|');
lines.push(`| direct | ${f(sd.mbps, 1)} | ${sd.shots} | ${f(sd.size)} |`);
lines.push(`| relay | ${f(sr.mbps, 1)} | ${sr.shots} | ${f(sr.size)} |`);
lines.push('', `Screenshots through the relay: **${f(sr.mbps / sd.mbps, 2)}x** direct (goal >= 0.8x).`);
console.log(lines.join('\n'));
