// Slack Socket Mode benchmark: events delivered to hermesd over Socket Mode WebSockets (as
// Slack's servers send them), answered by the echo model with chat.postMessage, against the
// api channel's req/s on the same hermesd in the same run.
//
//   node bench/node/slack_socket.mjs [--hermesd PATH] [--seconds 10] [--in-flight 64] [--sockets 2]
//     [--api-connections 16] [--max-wait-s 30]
//
// This process (pinned to CPU 0 with taskset when there are two CPUs or more) makes a
// self-signed certificate for 127.0.0.1 (openssl) and forks a Slack stand-in, a process of
// its own on the same CPU: the Web API on node:http (POST /api/auth.test, the bot's identity;
// /api/apps.connections.open, a wss:// URL with a one-time ticket for the app token;
// /api/chat.postMessage, which counts the answers) and Socket Mode's WebSockets on an HTTPS
// server (ws), which greet each socket with `hello` and take the acknowledgements. hermesd
// (threads: 1, every thread on CPU 1) has an api channel and a Slack channel in mode: socket
// with connections: --sockets, the echo model behind one route; measuring starts once both sockets
// have been greeted and the channel is healthy. Then, one after another:
//   - the api channel's baseline: wrk (CPU 0) POSTs /v1/chat/completions over
//     --api-connections keep-alive connections, run.mjs's body (as email.mjs);
//   - Socket Mode with 1 and with --in-flight envelopes in flight: the stand-in sends
//     events_api envelopes (a `message` event in one of 64 DM conversations, one user each,
//     a unique event_id and ts) round-robin over the open sockets and sends the next one when
//     hermesd acknowledges one ({"envelope_id": …}). An envelope not acknowledged within 3 s
//     is sent again, as Slack does (retry_attempt + 1, retry_reason "timeout", perhaps on the
//     other socket), at most 3 times; then it counts as given up.
// Acknowledged/s counts the acknowledgements within the run; the latency runs from an
// envelope's first sending to its acknowledgement. After each run it waits until the
// envelopes still in flight are acknowledged (or given up) and the stand-in's chat.postMessage
// count stops growing for 2 s (or every acknowledged event is answered, or --max-wait-s), and
// reports answers posted per second from the start of the run to the last answer. The echo
// model's answer quotes the event's text, so the stand-in also counts answers posted twice
// for one event and acknowledged events never answered. Also reported: hermesd's RSS (idle,
// peak, at the end) and CPU share per run, the stand-in's CPU share (near 100%: the stand-in
// may be the limit), the sockets opened, the lines hermesd logged (at warn and above); its
// Slack metrics go to stderr. Prints a Markdown section (`## Slack Socket Mode`); figures it
// could not take print as NaN, and the exit status is 1 when hermesd did not start.
import { execFileSync, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';
import { cpuSeconds, freePort, rssMiB, spawnHermesd, untilHermesdReady, wrkApiBaseline } from './processes.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = { hermesd: process.env.HERMESD ?? path.resolve(here, '../../build/default/bin/hermesd'), seconds: 10,
               'in-flight': 64, sockets: 2, 'api-connections': 16, 'max-wait-s': 30 };
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const SECONDS = Number(args.seconds), IN_FLIGHT = Number(args['in-flight']);
const API_CONNECTIONS = Number(args['api-connections']), MAX_WAIT_S = Number(args['max-wait-s']);
const SOCKETS = Number(args.sockets);  // the channel's connections: (1 to 10)
const CONVERSATIONS = 64;               // DM conversations, one user each
const ACK_TIMEOUT_MS = 3000;           // Slack's acknowledgement window; then the envelope is sent again
const MAX_RETRIES = 3;
const APP_TOKEN = 'xapp-1-A0001-bench-socket-mode';
const BOT_TOKEN = 'xoxb-bench-token';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------
// The Slack stand-in: its own process (forked below with --role stand-in), told what to do
// over the IPC channel.
// ---------------------------------------------------------------------------------------
async function standIn() {
  const tls = { key: readFileSync(path.join(args.dir, 'key.pem')), cert: readFileSync(path.join(args.dir, 'cert.pem')) };
  const tickets = new Set();
  const sockets = [];  // open and greeted, in the order they opened
  const state = { hellos: 0, closed: 0, refused: 0, answers: 0, lastAnswerAt: 0, unreadable: 0, strayAcks: 0 };
  const answered = new Map();  // event number -> chat.postMessage calls quoting it
  const acked = new Set();     // event numbers acknowledged (any run)
  let run = null;              // the load under way, or draining
  let rr = 0;                  // round-robin over the sockets
  let sequence = 0;            // event numbers, unique in this process
  const base = Math.floor(Date.now() / 1000);

  // --- The Web API ---
  const json = (res, status, body) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  let posted = 0;
  const api = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const auth = req.headers.authorization ?? '';
      const method = req.url.replace(/^\/api\//, '').replace(/\?.*/, '');
      if (req.method !== 'POST') return json(res, 405, { ok: false, error: 'method_not_allowed' });
      if (method === 'auth.test') {
        if (auth !== `Bearer ${BOT_TOKEN}`) return json(res, 200, { ok: false, error: 'invalid_auth' });
        return json(res, 200, { ok: true, user_id: 'UBOT', team_id: 'T0001', bot_id: 'B0001' });
      }
      if (method === 'apps.connections.open') {
        if (auth !== `Bearer ${APP_TOKEN}`) return json(res, 200, { ok: false, error: 'invalid_auth' });
        const ticket = randomUUID();
        tickets.add(ticket);
        return json(res, 200, { ok: true, url: `wss://127.0.0.1:${wsServer.address().port}/link/?ticket=${ticket}` });
      }
      if (method === 'chat.postMessage') {
        if (auth !== `Bearer ${BOT_TOKEN}`) return json(res, 200, { ok: false, error: 'invalid_auth' });
        let body = {};
        try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { /* counted below as unreadable */ }
        if (typeof body.channel !== 'string' || typeof body.text !== 'string') {
          state.unreadable++;
          return json(res, 200, { ok: false, error: 'invalid_arguments' });
        }
        state.answers++;
        state.lastAnswerAt = Date.now();
        const n = /hello (\d+)/.exec(body.text)?.[1];
        if (n !== undefined) answered.set(Number(n), (answered.get(Number(n)) ?? 0) + 1);
        posted++;
        const ts = `${base + 100000 + Math.floor(posted / 1e6)}.${String(posted % 1e6).padStart(6, '0')}`;
        return json(res, 200, { ok: true, channel: body.channel, ts, message: { text: body.text, ts } });
      }
      return json(res, 200, { ok: false, error: 'unknown_method' });
    });
  });
  api.keepAliveTimeout = 65000;  // Slack's front ends keep connections longer than Node's 5 s
  api.headersTimeout = 66000;

  // --- Socket Mode ---
  const wsServer = https.createServer(tls);
  const wss = new WebSocketServer({ server: wsServer, path: '/link/', perMessageDeflate: false, maxPayload: 1 << 20 });
  wss.on('connection', (ws, req) => {
    const ticket = new URL(req.url, 'https://127.0.0.1').searchParams.get('ticket');
    if (!tickets.delete(ticket)) {  // tickets are good for one connection
      state.refused++;
      ws.close(1008, 'invalid ticket');
      return;
    }
    ws._socket.setNoDelay(true);
    sockets.push(ws);
    ws.send(JSON.stringify({ type: 'hello', num_connections: sockets.length, debug_info: { host: 'bench' },
                             connection_info: { app_id: 'A0001' } }));
    state.hellos++;
    ws.on('message', (data) => {
      let m;
      try { m = JSON.parse(data.toString()); } catch { state.unreadable++; return; }
      if (typeof m?.envelope_id === 'string') acknowledged(m.envelope_id);
      else state.unreadable++;
    });
    ws.on('error', () => {});
    ws.on('close', () => {
      state.closed++;
      const i = sockets.indexOf(ws);
      if (i >= 0) sockets.splice(i, 1);
    });
  });

  // --- The load: `k` envelopes in flight ---
  function envelope(n) {
    const conv = n % CONVERSATIONS;
    const ts = `${base + Math.floor(n / 1e6)}.${String(n % 1e6).padStart(6, '0')}`;
    return {
      envelope_id: randomUUID(), type: 'events_api', accepts_response_payload: false, retry_attempt: 0,
      retry_reason: '',
      payload: { type: 'event_callback', team_id: 'T0001', api_app_id: 'A0001', event_id: `EvSOCK${n}`,
                 event_time: base, event: { type: 'message', channel: `DSOCK${conv}`, channel_type: 'im',
                                            user: `USOCK${conv}`, text: `hello ${n}`, ts, event_ts: ts } },
    };
  }
  function transmit(e) {
    e.sentAt = performance.now();
    if (!sockets.length) return;  // none open: the sweep sends it again later
    sockets[rr++ % sockets.length].send(JSON.stringify(e.body));
  }
  function sendNew() {
    const n = sequence++;
    const e = { n, body: envelope(n), first: performance.now(), sentAt: 0 };
    run.inflight.set(e.body.envelope_id, e);
    run.sent++;
    transmit(e);
  }
  function acknowledged(id) {
    const e = run?.inflight.get(id);
    if (!e) { state.strayAcks++; return; }  // a second acknowledgement, or one after giving up
    const now = performance.now();
    run.inflight.delete(id);
    run.latencies.push(now - e.first);
    acked.add(e.n);
    run.ackedEvents.push(e.n);
    if (now < run.deadline) {
      run.acked++;
      sendNew();
    } else if (!run.inflight.size) run.settled?.();
  }
  // Envelopes without an acknowledgement for ACK_TIMEOUT_MS: sent again, or given up.
  setInterval(() => {
    if (!run) return;
    const now = performance.now();
    for (const [id, e] of run.inflight) {
      if (now - e.sentAt < ACK_TIMEOUT_MS) continue;
      if (e.body.retry_attempt >= MAX_RETRIES) {
        run.inflight.delete(id);
        run.givenUp++;
        if (now < run.deadline) sendNew();
        continue;
      }
      e.body.retry_attempt++;
      e.body.retry_reason = 'timeout';
      run.retries++;
      transmit(e);
    }
    if (now >= run.deadline && !run.inflight.size) run.settled?.();
  }, 250).unref();

  async function load(k, seconds) {
    run = { inflight: new Map(), latencies: [], ackedEvents: [], acked: 0, sent: 0, retries: 0, givenUp: 0,
            answersBefore: state.answers, settled: null };
    run.startWall = Date.now();
    run.start = performance.now();
    run.deadline = run.start + seconds * 1000;
    const cpuBefore = process.cpuUsage();
    for (let i = 0; i < k; i++) sendNew();
    await sleep(seconds * 1000);
    const cpu = process.cpuUsage(cpuBefore);
    const elapsed = (performance.now() - run.start) / 1000;
    return { acked: run.acked, sent: run.sent, seconds: elapsed, clientCpu: (cpu.user + cpu.system) / 1e6 / elapsed };
  }

  // After the run: the envelopes still in flight, then the answers.
  async function drain(maxWaitS) {
    const waitUntil = Date.now() + maxWaitS * 1000;
    if (run.inflight.size) {
      await Promise.race([new Promise((r) => { run.settled = r; }), sleep(Math.max(0, waitUntil - Date.now()))]);
    }
    const expected = run.ackedEvents.length;
    let lastGrowth = Date.now(), seen = state.answers;
    while (Date.now() < waitUntil && state.answers - run.answersBefore < expected && Date.now() - lastGrowth < 2000) {
      await sleep(50);
      if (state.answers > seen) { seen = state.answers; lastGrowth = Date.now(); }
    }
    const lat = Float64Array.from(run.latencies).sort();
    const pct = (q) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(q * lat.length))] : NaN);
    const delivered = state.answers - run.answersBefore;
    const unanswered = run.ackedEvents.filter((n) => !answered.has(n)).length;
    const last = state.answers > run.answersBefore ? state.lastAnswerAt : NaN;
    const result = { ackedTotal: expected, latencyMs: { p50: pct(0.5), p99: pct(0.99) }, retries: run.retries,
                     givenUp: run.givenUp, stillInFlight: run.inflight.size, delivered,
                     deliverySeconds: (last - run.startWall) / 1000, drained: delivered >= expected, unanswered };
    run = null;
    return result;
  }

  function totals() {
    let duplicates = 0, unknown = 0;
    for (const [n, count] of answered) {
      if (count > 1) duplicates += count - 1;
      if (!acked.has(n)) unknown++;  // answered, never acknowledged (given up): delivered all the same
    }
    return { ...state, open: sockets.length, duplicates, answeredUnacked: unknown };
  }

  await new Promise((r) => api.listen(0, '127.0.0.1', r));
  await new Promise((r) => wsServer.listen(0, '127.0.0.1', r));
  process.on('disconnect', () => process.exit(0));
  process.on('message', async ({ id, cmd, k, seconds, maxWaitS }) => {
    let result;
    if (cmd === 'stats') result = totals();
    else if (cmd === 'load') result = await load(k, seconds);
    else if (cmd === 'drain') result = await drain(maxWaitS);
    process.send({ id, result });
  });
  process.send({ ready: true, apiPort: api.address().port });
}

if (args.role === 'stand-in') {
  await standIn();
} else {
  await main();
}

// ---------------------------------------------------------------------------------------
// The benchmark: hermesd, wrk, the runs, the report.
// ---------------------------------------------------------------------------------------
async function main() {
  // The machine's CPUs, not this process's: run.mjs may start it already pinned to CPU 0.
  const CPUS = os.cpus().length;
  const PINNED = CPUS >= 2;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'hermes-bench-slack-socket-'));

  let hermesd = null, stand = null;
  process.on('exit', () => {
    if (hermesd && hermesd.exitCode === null) hermesd.kill('SIGKILL');
    if (stand && stand.exitCode === null) stand.kill('SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

  // This process (and the stand-in forked from it, which inherits the mask) on CPU 0.
  if (PINNED) execFileSync('taskset', ['-a', '-cp', '0', String(process.pid)], { stdio: 'ignore' });

  // --- The stand-in, and requests to it over IPC ---
  let asked = 0;
  const pending = new Map();
  const ask = (cmd, extra = {}) => new Promise((resolve, reject) => {
    if (!stand?.connected) return reject(new Error('the Slack stand-in is gone'));
    const id = ++asked;
    pending.set(id, { resolve, reject });
    stand.send({ id, cmd, ...extra });
  });
  async function startStandIn() {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
                             '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
                             '-keyout', path.join(tmp, 'key.pem'), '-out', path.join(tmp, 'cert.pem')],
                 { stdio: 'ignore' });
    stand = fork(fileURLToPath(import.meta.url), ['--role', 'stand-in', '--dir', tmp], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new Promise((resolve, reject) => {
      stand.on('message', (m) => {
        if (m.ready) resolve(m.apiPort);
        else if (pending.has(m.id)) { pending.get(m.id).resolve(m.result); pending.delete(m.id); }
      });
      stand.on('exit', (code) => {
        const gone = new Error(`the Slack stand-in exited (${code})`);
        for (const p of pending.values()) p.reject(gone);
        pending.clear();
        reject(gone);
      });
    });
  }

  // --- hermesd, every thread on CPU 1; its output kept for the report. ---
  let hermes = null;  // spawnHermesd's: the child and its output
  const hermesLog = () => hermes?.log() ?? '';
  async function startHermes({ httpPort, apiPort }) {
    const dir = path.join(tmp, 'data');
    const conf = path.join(tmp, 'hermes.yaml');
    writeFileSync(conf, `gateway: {instance: bench-slack-socket, data_dir: ${JSON.stringify(dir)}, threads: 1}
log: {level: warn}
listeners:
  - {name: local, bind: loopback, port: ${httpPort}}
channels:
  - {name: api, type: api, listener: local}
  - name: slack
    type: slack
    mode: socket
    app_token: "\${env:BENCH_SLACK_APP}"
    bot_token: "\${env:BENCH_SLACK_BOT}"
    api_url: "http://127.0.0.1:${apiPort}/api"
    connections: ${SOCKETS}
    tls: {ca_file: ${JSON.stringify(path.join(tmp, 'cert.pem'))}}
models:
  - {name: demo, type: echo}
agents:
  - {name: general, model: demo}
routes:
  - {name: default, agent: general}
audit: {store_text: hash}
`);
    hermes = spawnHermesd(args.hermesd, ['--config', conf], { BENCH_SLACK_APP: APP_TOKEN, BENCH_SLACK_BOT: BOT_TOKEN });
    hermesd = hermes.child;
    // Ready: /healthz answers, both sockets were greeted, the channel is healthy (auth.test done).
    const slackStatus = async () => {
      const r = await fetch(`http://127.0.0.1:${httpPort}/status`, { signal: AbortSignal.timeout(1000) });
      const status = r.status === 200 ? await r.json() : null;
      return status?.channels?.find((c) => c.name === 'slack') ?? null;
    };
    await untilHermesdReady(hermes, async () => (await slackStatus())?.healthy === true &&
                                                  (await ask('stats')).hellos >= SOCKETS,
                            async () => `open ${SOCKETS} Slack sockets: ${JSON.stringify(await slackStatus().catch(() => null))}`);
  }

  const results = {};
  let idleRss = NaN, peakRss = NaN, endRss = NaN, failure = null, totals = null, started = false;
  const ports = { http: await freePort() };
  try {
    ports.api = await startStandIn();
    await startHermes({ httpPort: ports.http, apiPort: ports.api });
    started = true;
    await sleep(300);
    idleRss = rssMiB(hermesd.pid);
    const sampler = setInterval(() => { peakRss = Math.max(peakRss || 0, rssMiB(hermesd.pid)); }, 200);
    results.api = await wrkApiBaseline(tmp, `http://127.0.0.1:${ports.http}/v1/chat/completions`, API_CONNECTIONS, SECONDS);
    for (const k of [1, IN_FLIGHT]) {
      const cpuBefore = cpuSeconds(hermesd.pid);
      const load = await ask('load', { k, seconds: SECONDS });
      const hermesCpu = (cpuSeconds(hermesd.pid) - cpuBefore) / load.seconds;
      results[k] = { ...load, hermesCpu, ...(await ask('drain', { maxWaitS: MAX_WAIT_S })) };
    }
    clearInterval(sampler);
    endRss = rssMiB(hermesd.pid);
    totals = await ask('stats');
  } catch (e) {
    failure = e;
    console.error(e.message);
  }
  // For the reader of stderr: what hermesd counted (envelopes by outcome, sockets, outbox).
  if (started) {
    const text = await fetch(`http://127.0.0.1:${ports.http}/metrics`).then((r) => r.text()).catch(() => '');
    const counted = text.split('\n').filter((l) => /^hermes_(slack_|outbox_pending)/.test(l));
    if (counted.length) console.error(counted.join('\n'));
  }
  if (hermesd && hermesd.exitCode === null) {
    hermesd.kill('SIGTERM');
    await Promise.race([new Promise((r) => hermesd.once('exit', r)), sleep(5000)]);
  }
  if (stand?.connected) stand.disconnect();

  // --- The report. ---
  const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : 'NaN');
  const perSecond = (n, s) => (n > 0 ? n / s : NaN);  // nothing acknowledged or answered: the setup is broken
  const rate = (k) => perSecond(results[k]?.acked, results[k]?.seconds);
  const answers = (k) => perSecond(results[k]?.delivered, results[k]?.deliverySeconds);
  const acks = (k) => {
    const r = results[k];
    return r ? `${f(rate(k))} (${r.acked} in ${f(r.seconds, 1)} s)` : 'NaN';
  };
  const latency = (k) => `${f(results[k]?.latencyMs.p50, 2)} / ${f(results[k]?.latencyMs.p99, 2)}`;
  const delivered = (k) => {
    const r = results[k];
    if (!r) return 'NaN';
    return `${f(answers(k))} (${r.delivered} of ${r.ackedTotal} in ${f(r.deliverySeconds, 1)} s` +
      `${r.drained ? '' : `; not all answered within the ${MAX_WAIT_S} s wait`})`;
  };
  const resent = (k) => {
    const r = results[k];
    return r ? `${r.retries} / ${r.givenUp}${r.stillInFlight ? ` (${r.stillInFlight} still unacknowledged)` : ''}` : 'NaN';
  };
  const apiRps = results.api?.rps ?? NaN;
  const warnings = hermesLog().split('\n').filter((l) => l.trim()).length;
  const lines = ['## Slack Socket Mode', '',
    `hermesd (threads: 1${PINNED ? ', on CPU 1' : ''}) takes Slack events over Socket Mode: a Node stand-in for Slack ` +
    `(${PINNED ? 'CPU 0, ' : ''}its own process) serves the Web API (auth.test, apps.connections.open, ` +
    `chat.postMessage) and the WebSockets (wss://, a self-signed certificate hermesd trusts through tls.ca_file); ` +
    `hermesd keeps ${SOCKETS} sockets open. For ${SECONDS} s per run the stand-in keeps 1, then ${IN_FLIGHT}, ` +
    `events_api envelopes in flight, round-robin over the sockets (a \`message\` event in one of ${CONVERSATIONS} ` +
    'DM conversations, one user each, a unique ts), and sends the next when hermesd acknowledges one (after claiming ' +
    'it durably in intake.db); an envelope without acknowledgement for 3 s is sent again, as Slack does. Each event ' +
    'is answered by the echo model and posted with chat.postMessage to the stand-in, which counts the answers. ' +
    'Latency: first sending to acknowledgement. Answers/s runs from the start of a run to its last answer (waited ' +
    `for until the count stood still for 2 s, at most ${MAX_WAIT_S} s). Baseline: the api channel of the same ` +
    `hermesd, wrk at ${API_CONNECTIONS} connections, the echo model. Aims, not gates.`, '',
    '| figure | value |', '|---|---|',
    `| envelopes acknowledged/s, 1 in flight | ${acks(1)} |`,
    `| envelopes acknowledged/s, ${IN_FLIGHT} in flight | ${acks(IN_FLIGHT)} |`,
    `| acknowledgement latency p50 / p99 (ms), 1 in flight | ${latency(1)} |`,
    `| acknowledgement latency p50 / p99 (ms), ${IN_FLIGHT} in flight | ${latency(IN_FLIGHT)} |`,
    `| answers posted/s (chat.postMessage), 1 in flight | ${delivered(1)} |`,
    `| answers posted/s, ${IN_FLIGHT} in flight | ${delivered(IN_FLIGHT)} |`,
    `| envelopes sent again (no acknowledgement in 3 s) / given up, 1 in flight | ${resent(1)} |`,
    `| envelopes sent again / given up, ${IN_FLIGHT} in flight | ${resent(IN_FLIGHT)} |`,
    `| answers posted twice for one event / acknowledged events not answered | ` +
      `${totals ? totals.duplicates : 'NaN'} / ${results[1] && results[IN_FLIGHT] ? results[1].unanswered + results[IN_FLIGHT].unanswered : 'NaN'} |`,
    `| sockets opened (${SOCKETS} expected) / closed during the runs | ` +
      `${totals ? `${totals.hellos} / ${totals.closed}` : 'NaN'} |`,
    `| api channel req/s, ${API_CONNECTIONS} connections (baseline) | ${f(apiRps)}` +
      `${results.api?.errors ? ` (${results.api.errors} errors)` : ''} |`,
    `| acknowledged/s at ${IN_FLIGHT} ÷ api req/s | ${f(rate(IN_FLIGHT) / apiRps, 2)} |`,
    `| answers posted/s at ${IN_FLIGHT} ÷ api req/s | ${f(answers(IN_FLIGHT) / apiRps, 2)} |`,
    `| hermesd RSS idle / peak over the runs / at the end | ${f(idleRss, 1)} / ${f(peakRss, 1)} / ${f(endRss, 1)} MiB |`,
    `| hermesd CPU during the runs (all threads; 100% = one CPU), 1 / ${IN_FLIGHT} in flight | ` +
      `${f(results[1]?.hermesCpu * 100)}% / ${f(results[IN_FLIGHT]?.hermesCpu * 100)}% |`,
    `| stand-in CPU (sockets and Web API), 1 / ${IN_FLIGHT} in flight | ${f(results[1]?.clientCpu * 100)}% / ` +
      `${f(results[IN_FLIGHT]?.clientCpu * 100)}%${results[IN_FLIGHT]?.clientCpu > 0.9 ? ' (near full: the stand-in may be the limit)' : ''} |`,
    `| hermesd log lines (level warn and above) | ${warnings} |`,
  ];
  console.log(lines.join('\n'));
  if (warnings) console.error(`hermesd's log (first lines):\n${hermesLog().split('\n').slice(0, 10).join('\n')}`);
  if (totals && (totals.unreadable || totals.strayAcks || totals.refused || totals.answeredUnacked)) {
    console.error(`stand-in: ${totals.unreadable} unreadable message(s) or call(s), ${totals.strayAcks} acknowledgement(s) ` +
                  `of no envelope in flight, ${totals.refused} socket(s) with a bad ticket, ${totals.answeredUnacked} ` +
                  'answer(s) to events never acknowledged');
  }
  process.exit(failure ? 1 : 0);
}
