// The soak run behind bench/soak: one hermesd under a steady, moderate mixed load for
// --minutes, its RSS and open file descriptors sampled every --interval seconds, to see
// whether memory or descriptors grow once the load is steady (a leak) rather than how fast
// hermesd is. Writes bench/results/<date>-soak.md (the samples and the verdict) and
// <date>-soak.png (RSS and fds over time, gnuplot).
//
//   node bench/node/soak.mjs --hermesd PATH --upstream PATH [--minutes 10] [--rate 300]
//     [--interval 10] [--pidfile FILE]
//   node bench/node/soak.mjs --plot-from bench/results/<date>-soak.md   (the plot again)
//
// Load, open-loop at --rate operations/s in a fixed rotation (not as fast as possible: at a
// fixed rate memory reflects the steady state, not a backlog): per 20 operations, 10 API
// chat completions (a quarter of them naming one of 32 sessions with `user`), 3 streamed API
// completions, 4 web chat messages (16 WebSockets, one message at a time each, each socket
// reconnecting and resuming its session every 200 messages) and 3 Slack events signed as
// Slack signs them (8 DM conversations), answered through bench_upstream's Web API
// stand-in. Every conversation set is bounded, so sessions reach their caps early in the
// run instead of growing through it. An operation whose kind already has its full number
// in flight is skipped and counted, never queued: a backlog in the client would hide
// hermesd falling behind and grow the client, not hermesd.
//
// Verdict: PASS when RSS and fds of the last sample are within 5% of the sample at minute
// 2 (runs under 3 minutes: of the sample nearest 1/5 of the run). Exit 0 pass, 1 fail or
// hermesd died during the run, 2 a component did not start (or the load got no answers).
// --pidfile: every child's process group id is appended there, so bench/soak can kill
// them even if this process is killed outright.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { CPUS, freePort, spawnPinned as spawnChild } from './processes.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const args = { minutes: '10', rate: '300', interval: '10' };
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const MINUTES = Number(args.minutes), RATE = Number(args.rate), INTERVAL_S = Number(args.interval);
if (!(MINUTES > 0) || !(RATE > 0) || !(INTERVAL_S > 0)) {
  console.error('soak: --minutes, --rate and --interval must be positive numbers');
  process.exit(2);
}
const SLACK = { secret: 'soak-signing-secret-5d1c0e9a77b2', token: 'xoxb-soak-token', lanes: 8 };
const API_KEY = crypto.randomBytes(32).toString('hex');
// In flight at most, per kind; also the keep-alive connections each kind holds open.
const CAP = { api: 16, stream: 16, webchat: 16, slack: 8 };
// The rotation of kinds per 20 operations, interleaved so that no kind comes in bursts.
const ROTATION = ['api', 'stream', 'api', 'webchat', 'slack', 'api', 'api', 'webchat', 'stream', 'api',
                  'slack', 'api', 'webchat', 'api', 'stream', 'api', 'webchat', 'slack', 'api', 'api'];
const WEBCHAT_RECONNECT_EVERY = 200;
const REQUEST_TIMEOUT_MS = 30000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (s) => console.error(`soak: ${s}`);

const tmp = mkdtempSync(path.join(os.tmpdir(), 'hermes-soak-'));

// RSS and fds over time, two panels, the ±5% band around the reference shaded. Returns
// gnuplot's complaint, or null.
function plotSoak({ samples, ref, pass, minutes, rate, date, png }) {
  const data = path.join(tmp, 'soak.tsv');
  writeFileSync(data, samples.map((x) => `${x.t / 60}\t${x.rss}\t${x.fds}\t${x.anon}`).join('\n') + '\n');
  // The top of each panel: above the band too, which autoscaling (data only) would cut.
  const top = (key) => Math.ceil(Math.max(...samples.map((x) => x[key]), ref[key] * 1.05) * 1.12);
  const band = (key, label) => `${ref[key] * 0.95} with filledcurves y1=${ref[key] * 1.05} lc rgb "#2a9d8f" ` +
    `title "±5% of ${label}"`;
  const label = minutes >= 3 ? 'minute 2' : 'the reference';
  const plot = `set terminal pngcairo size 1000,700 font "DejaVu Sans,11"
set output ${JSON.stringify(png)}
set multiplot layout 2,1 title ${JSON.stringify(`hermesd soak ${date}: ${rate} operations/s for ${minutes} min. ` +
  `${pass ? 'PASS' : 'FAIL'} (rule: last sample within 5% of ${label})`)}
set grid
set lmargin 10
set arrow 1 from ${ref.t / 60}, graph 0 to ${ref.t / 60}, graph 1 nohead dt 2 lc rgb "#2a9d8f"
set label 1 "${label}" at ${ref.t / 60}, graph 0.06 offset 0.5,0 tc rgb "#2a9d8f"
set xrange [0:${minutes}]
set xlabel "minutes"
set key bottom right
set style fill transparent solid 0.15 noborder
set ylabel "RSS (MiB)"
set yrange [0:${top('rss')}]
plot [0:${minutes}] ${band('rss', label)}, \\
     ${JSON.stringify(data)} using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb "#1d3557" title "VmRSS", \\
     ${JSON.stringify(data)} using 1:4 with linespoints lw 1 pt 6 ps 0.5 lc rgb "#888888" title "of which anonymous"
set ylabel "open file descriptors"
set yrange [0:${top('fds')}]
plot [0:${minutes}] ${band('fds', label)}, \\
     ${JSON.stringify(data)} using 1:3 with linespoints lw 2 pt 7 ps 0.6 lc rgb "#e76f51" title "fds"
unset multiplot
`;
  const gp = spawnSync('gnuplot', [], { input: plot });
  return gp.status === 0 ? null : String(gp.stderr).trim() || gp.error?.message || `exit ${gp.status}`;
}

// --plot-from REPORT.md: draws the plot again from a report's table (after a change to the
// plot, without another run), next to the report, and exits.
if (args['plot-from']) {
  const text = readFileSync(args['plot-from'], 'utf8');
  const num = (v) => Number(v.replace(/,/g, ''));
  const samples = [];
  let ref = null;
  for (const m of text.matchAll(/^\| (\d+):(\d\d)( \(reference\))?[^|]*\| ([\d.,]+) \| ([\d.,]+) \| (\d+) \|/gm)) {
    samples.push({ t: Number(m[1]) * 60 + Number(m[2]), rss: num(m[4]), anon: num(m[5]), fds: Number(m[6]) });
    if (m[3]) ref = samples.at(-1);
  }
  const minutes = Number(/--minutes ([\d.]+)/.exec(text)?.[1]);
  const rate = Number(/--rate ([\d.]+)/.exec(text)?.[1]);
  const date = /^# Hermes soak, (\d{4}-\d\d-\d\d)/m.exec(text)?.[1];
  if (!samples.length || !ref || !minutes || !rate || !date) {
    console.error(`soak: ${args['plot-from']} is not a bench/soak report`);
    process.exit(2);
  }
  const png = args['plot-from'].replace(/\.md$/, '') + '.png';
  const error = plotSoak({ samples, ref, pass: /\*\*Verdict: PASS\.\*\*/.test(text), minutes, rate, date, png });
  if (error) console.error(`soak: gnuplot failed: ${error}`);
  else console.error(`soak: written to ${png}`);
  rmSync(tmp, { recursive: true, force: true });
  process.exit(error ? 1 : 0);
}

const children = [];
const kill = (child) => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ } };
process.on('exit', () => {
  children.forEach(kill);
  rmSync(tmp, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

// Stops every child and waits for it, so that it is reaped here rather than left a zombie
// (a container's pid 1 may never reap it): SIGTERM to its group, SIGKILL after 5 s.
async function stopAll() {
  await Promise.all(children.map(async (child) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    try { process.kill(-child.pid, 'SIGTERM'); } catch { return; }
    if (await Promise.race([exited.then(() => true), sleep(5000).then(() => false)])) return;
    kill(child);
    await exited;
  }));
}

// A component that does not start: say which and why, exit 2 (bench/soak's contract).
async function startFailure(message) {
  console.error(`soak: FAILED TO START: ${message}`);
  await stopAll();
  process.exit(2);
}

// As in run.mjs: hermesd on CPU 1, the upstream and this load client on CPU 0, so that the
// client's work does not show up as hermesd's latency. Each child in its own process group.
function spawnPinned(cmd, argv, options = {}) {
  const child = spawnChild(children, cmd, argv, options);
  if (args.pidfile && child.pid) appendFileSync(args.pidfile, `${child.pid}\n`);
  return child;
}

async function start(name, cmd, argv, { cpu, ready, env } = {}) {
  const child = spawnPinned(cmd, argv, { cpu, env });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  child.on('error', (e) => { output += `\n${e.message}`; });
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) await startFailure(`${name} exited:\n${output}`);
    if (await ready(output)) return { child, output: () => output };
    await sleep(100);
  }
  await startFailure(`${name} not ready within 20 s:\n${output}`);
}

if (CPUS >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status !== 0) {
  await startFailure('taskset (util-linux) does not work');
}

// --- the components -----------------------------------------------------------------------

// bench_upstream: non-stream answers at once, streams of 8 chunks 5 ms apart (so streams
// are in flight for a while, as real ones are); also Slack's Web API stand-in.
const upPort = await freePort();
await start('bench_upstream', args.upstream,
            ['--port', String(upPort), '--chunks', '8', '--pace-ms', '5'],
            { cpu: 0, ready: (o) => o.includes('listening') });

const port = await freePort();
const dataDir = path.join(tmp, 'data');
mkdirSync(dataDir);
const conf = path.join(tmp, 'hermes.yaml');
// upstream_idle_connections: 8 (default 128): the idle pool otherwise keeps the busiest
// moment of the last half-minute or more, and on a shared machine that is a stall's
// backlog, not the load: in a run with the default a stall at 0:50 took the fds from 88 to
// 115, still 111 at minute 2 and 92 at minute 10, a "fail" that was no leak. With a small
// cap the count is steady, so the rule sees leaks; the excess connections of a burst are
// closed and reopened, which exercises that path too.
writeFileSync(conf, `gateway: {instance: soak, data_dir: ${JSON.stringify(dataDir)}, threads: 1, upstream_idle_connections: 8}
log: {level: warn}
listeners:
  - {name: local, bind: loopback, port: ${port}}
channels:
  - name: api
    type: api
    listener: local
    keys: [{name: soak, key: "\${env:SOAK_API_KEY}"}]
  - {name: webchat, type: webchat, listener: local}
  - name: slack
    type: slack
    listener: local
    signing_secret: "\${env:SOAK_SLACK_SIGNING_SECRET}"
    bot_token: "\${env:SOAK_SLACK_BOT_TOKEN}"
    api_url: "http://127.0.0.1:${upPort}/api"
models:
  - {name: up, type: openai, base_url: "http://127.0.0.1:${upPort}/v1", model: bench}
agents:
  - {name: general, model: up}
routes:
  - {name: default, agent: general}
`);
const base = `http://127.0.0.1:${port}`;
// Ready when the API answers with the key and the Slack channel has its bot id (auth.test).
const ready = async () => {
  try {
    const r = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
      body: '{"messages":[{"role":"user","content":"hi"}]}' });
    await r.arrayBuffer();
    if (r.status !== 200) return false;
    const status = await (await fetch(`${base}/status`)).json();
    return status.channels?.find((c) => c.name === 'slack')?.healthy === true;
  } catch { return false; }
};
const hermes = await start('hermesd', args.hermesd, ['--config', conf], {
  cpu: 1, ready,
  env: { SOAK_API_KEY: API_KEY, SOAK_SLACK_SIGNING_SECRET: SLACK.secret, SOAK_SLACK_BOT_TOKEN: SLACK.token } });
const PID = hermes.child.pid;  // taskset execs hermesd: same pid
if (CPUS >= 2) spawnSync('taskset', ['-a', '-cp', '0', String(process.pid)], { stdio: 'ignore' });

// --- counters -----------------------------------------------------------------------------

const KINDS = ['api', 'stream', 'webchat', 'slack'];
const zero = () => Object.fromEntries(KINDS.map((k) => [k, 0]));
let done = zero(), errors = zero(), skipped = zero();
const totals = { done: zero(), errors: zero(), skipped: zero() };
const errorKinds = {};  // "api 503" → count, over the run
const inFlight = zero();
const fail = (kind, why) => {
  errors[kind]++;
  errorKinds[`${kind} ${why}`] = (errorKinds[`${kind} ${why}`] ?? 0) + 1;
};

// --- API (plain and streamed) -------------------------------------------------------------

// fifo: every keep-alive socket takes its turn, so none sits idle long enough for hermesd's
// idle_timeout to close it and the client's connection count (hermesd's fds) stays put.
const agents = {
  api: new http.Agent({ keepAlive: true, maxSockets: CAP.api, scheduling: 'fifo' }),
  stream: new http.Agent({ keepAlive: true, maxSockets: CAP.stream, scheduling: 'fifo' }),
  slack: new http.Agent({ keepAlive: true, maxSockets: CAP.slack, scheduling: 'fifo' }),
};

// Resolves {status, body}, or {status: 0, error} for a socket error or timeout.
function post(agent, pathname, headers, body) {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: pathname, method: 'POST', agent,
                               headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: text }));
      res.on('error', (e) => resolve({ status: 0, error: e.code ?? e.message }));
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })));
    req.on('error', (e) => resolve({ status: 0, error: e.code ?? e.message }));
    req.end(body);
  });
}

let apiSeq = 0;
async function apiOnce(kind) {
  const stream = kind === 'stream';
  const n = apiSeq++;
  const request = { messages: [{ role: 'user', content: `soak ${n}` }], stream };
  if (!stream && n % 4 === 0) request.user = `soak-${(n / 4) % 32}`;  // 32 API sessions
  const r = await post(agents[kind], '/v1/chat/completions',
                       { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
                       JSON.stringify(request));
  if (r.status !== 200) return fail(kind, r.status || r.error);
  // A stream that ends without [DONE] was cut short: an error, though the status was 200.
  if (stream ? !r.body.includes('data: [DONE]') : !r.body.includes('"choices"')) return fail(kind, 'incomplete');
  done[kind]++;
}

// --- Slack --------------------------------------------------------------------------------

// Headers as Slack signs a request: v0= + hex HMAC-SHA256(secret, "v0:<timestamp>:<body>").
// Signed when sent: the timestamp must be within Slack's 5 minutes, and a run is longer.
const signedSlack = (body) => {
  const stamp = String(Math.floor(Date.now() / 1000));
  return { 'content-type': 'application/json', 'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
           'x-slack-request-timestamp': stamp,
           'x-slack-signature': 'v0=' + crypto.createHmac('sha256', SLACK.secret).update(`v0:${stamp}:${body}`).digest('hex') };
};

const slackBase = Math.floor(Date.now() / 1000);
let slackSeq = 0;
async function slackOnce() {
  const i = slackSeq++;
  const lane = i % SLACK.lanes;
  const ts = `${slackBase + Math.floor(i / 1e6)}.${String(i % 1e6).padStart(6, '0')}`;
  const body = JSON.stringify({
    token: 'soak', team_id: 'T1', api_app_id: 'A1', type: 'event_callback', event_id: `EvSoak${i}`,
    event_time: slackBase,
    event: { type: 'message', channel: `DSOAK${lane}`, user: `USOAK${lane}`, text: `soak ${i}`, ts, event_ts: ts,
             channel_type: 'im' },
    authorizations: [{ team_id: 'T1', user_id: 'UBOT', is_bot: true }],
  });
  const r = await post(agents.slack, '/slack/slack/events', signedSlack(body), body);
  if (r.status !== 200) return fail('slack', r.status || r.error);
  done.slack++;
}

async function slackPosts() {
  try {
    return (await (await fetch(`http://127.0.0.1:${upPort}/stats`)).json()).chat_postMessage;
  } catch { return NaN; }
}

// --- web chat -----------------------------------------------------------------------------

// One socket: one message at a time; a `done` frame completes it. Every
// WEBCHAT_RECONNECT_EVERY messages it closes and reconnects with its session token, so
// connection set-up and teardown run all through the soak while the sessions stay 16.
class ChatSocket {
  constructor() { this.ws = null; this.session = null; this.busy = true; this.sent = 0; this.timer = null; }

  connect() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/chat/ws`, { origin: base, perMessageDeflate: false });
      let settled = false;  // ready, or failed: the promise is decided
      // `on`, not `once`: an error after ready (a reset) would otherwise be unhandled and end
      // the process; the 'close' that follows every error does the reconnecting.
      ws.on('error', (e) => { if (!settled) { settled = true; reject(e); } });
      ws.once('open', () => ws.send(JSON.stringify(this.session ? { type: 'hello', session: this.session }
                                                                : { type: 'hello' })));
      ws.on('message', (data) => this.onFrame(JSON.parse(data), () => { settled = true; resolve(); }));
      // A socket lost after ready is reconnected here; one lost before it, by reconnect()'s
      // loop that awaits this promise (not both: two loops would open two sockets).
      ws.on('close', () => {
        if (!settled) { settled = true; return reject(new Error('closed before ready')); }
        if (this.ws === ws && !this.closing) this.lost('closed');
      });
      this.ws = ws;
    });
  }

  onFrame(frame, readied) {
    if (frame.type === 'ready') {
      this.session = frame.session;
      this.busy = false;
      return readied();
    }
    if (frame.type === 'done') { done.webchat++; return this.finish(); }
    if (frame.type === 'error' || frame.type === 'notice') { fail('webchat', frame.code); return this.finish(); }
  }

  send() {
    this.busy = true;
    this.sent++;
    this.ws.send(JSON.stringify({ type: 'message', text: `soak ${this.sent}` }));
    this.timer = setTimeout(() => this.lost('timeout'), REQUEST_TIMEOUT_MS);
  }

  finish() {
    clearTimeout(this.timer);
    if (this.sent % WEBCHAT_RECONNECT_EVERY === 0) return this.reconnect();
    this.busy = false;
  }

  lost(why) {
    clearTimeout(this.timer);
    fail('webchat', why);
    this.reconnect();
  }

  async reconnect() {
    this.busy = true;
    this.closing = true;
    this.ws?.terminate();
    this.closing = false;
    for (;;) {
      try { return await this.connect(); } catch (e) { fail('webchat', `connect ${e.code ?? e.message}`); }
      await sleep(1000);
    }
  }
}

// --- the run ------------------------------------------------------------------------------

const sockets = Array.from({ length: CAP.webchat }, () => new ChatSocket());
try {
  await Promise.all(sockets.map((s) => s.connect()));
} catch (e) {
  await startFailure(`web chat WebSocket did not open: ${e.message}`);
}
// Open every keep-alive connection now, so that the client's connection count is at its
// cap from the start rather than creeping up with the first rare burst of the run. With
// requests that call no model (the model list, Slack's url_verification): a burst of model
// calls would also swell hermesd's upstream pool, which then shrinks over the next 30 s.
const get = (agent, pathname) => new Promise((resolve) => {
  http.get({ host: '127.0.0.1', port, path: pathname, agent, headers: { authorization: `Bearer ${API_KEY}` } }, (res) => {
    res.resume();
    res.on('end', () => resolve(res.statusCode));
  }).on('error', () => resolve(0));
});
const verification = JSON.stringify({ type: 'url_verification', token: 'soak', challenge: 'soak' });
const opened = await Promise.all([
  ...Array.from({ length: CAP.api }, () => get(agents.api, '/v1/models')),
  ...Array.from({ length: CAP.stream }, () => get(agents.stream, '/v1/models')),
  ...Array.from({ length: CAP.slack }, () => post(agents.slack, '/slack/slack/events', signedSlack(verification),
                                                  verification).then((r) => r.status)),
]);
if (opened.some((status) => status !== 200)) await startFailure(`opening the load's connections: statuses ${opened.join(' ')}`);
// One operation of each kind, before the clock starts: a kind that cannot be answered at
// all is a set-up problem (exit 2), not a soak result.
await apiOnce('api');
await apiOnce('stream');
await slackOnce();
sockets[0].send();
for (let i = 0; i < 100 && sockets[0].busy; i++) await sleep(50);
for (const kind of KINDS) {
  if (done[kind] === 0) await startFailure(`no answer to a first ${kind} operation: ${JSON.stringify(errorKinds)}\n${hermes.output()}`);
}
done = zero(); errors = zero();

function launch(kind) {
  if (kind === 'webchat') {
    const s = sockets.find((x) => !x.busy);
    if (!s) return skipped.webchat++;
    return s.send();
  }
  if (inFlight[kind] >= CAP[kind]) return skipped[kind]++;
  inFlight[kind]++;
  (kind === 'slack' ? slackOnce() : apiOnce(kind)).finally(() => { inFlight[kind]--; });
}

const stat = () => {
  const status = readFileSync(`/proc/${PID}/status`, 'utf8');
  const kib = (key) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  // utime + stime (fields 14 and 15), after the command name, which may hold spaces.
  const fields = readFileSync(`/proc/${PID}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { rss: kib('VmRSS') / 1024, anon: kib('RssAnon') / 1024, fds: readdirSync(`/proc/${PID}/fd`).length, ticks };
};
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100;
const alive = () => hermes.child.exitCode === null && hermes.child.signalCode === null;

const samples = [];
const startedAt = new Date();
const t0 = performance.now();
let last = { ...stat(), at: t0, posts: await slackPosts() };
samples.push({ t: 0, rss: last.rss, anon: last.anon, fds: last.fds, rps: NaN, errors: 0, skipped: 0, cpu: NaN,
               replies: NaN });
log(`hermesd pid ${PID} on ${base}; ${RATE} operations/s for ${MINUTES} min, a sample every ${INTERVAL_S} s`);
log(`t=0s RSS ${last.rss.toFixed(1)} MiB, ${last.fds} fds`);

// Open loop: every 10 ms, launch what is due since t0 at RATE/s, whatever is in flight.
let issued = 0;
const endAt = t0 + MINUTES * 60000;
const ticker = setInterval(() => {
  const due = Math.floor(((Math.min(performance.now(), endAt) - t0) / 1000) * RATE);
  while (issued < due) launch(ROTATION[issued++ % ROTATION.length]);
}, 10);

let died = null;
for (let k = 1; k * INTERVAL_S <= MINUTES * 60 + 1e-9; k++) {
  await sleep(Math.max(0, t0 + k * INTERVAL_S * 1000 - performance.now()));
  if (!alive()) {
    died = `hermesd exited (code ${hermes.child.exitCode}, signal ${hermes.child.signalCode}) after ${k * INTERVAL_S - INTERVAL_S}–${k * INTERVAL_S} s`;
    break;
  }
  const now = performance.now();
  let s;
  try { s = stat(); } catch {  // gone between the check and the read
    died = `hermesd exited after ${k * INTERVAL_S - INTERVAL_S}–${k * INTERVAL_S} s`;
    break;
  }
  const posts = await slackPosts();
  const seconds = (now - last.at) / 1000;
  const sum = (o) => KINDS.reduce((a, kind) => a + o[kind], 0);
  samples.push({ t: k * INTERVAL_S, rss: s.rss, anon: s.anon, fds: s.fds, rps: sum(done) / seconds,
                 errors: sum(errors), skipped: sum(skipped), cpu: ((s.ticks - last.ticks) / CLK_TCK / seconds) * 100,
                 replies: (posts - last.posts) / seconds });
  for (const kind of KINDS) {
    totals.done[kind] += done[kind]; totals.errors[kind] += errors[kind]; totals.skipped[kind] += skipped[kind];
  }
  done = zero(); errors = zero(); skipped = zero();
  last = { ...s, at: now, posts };
  const x = samples.at(-1);
  log(`t=${x.t}s RSS ${x.rss.toFixed(1)} MiB (anon ${x.anon.toFixed(1)}), ${x.fds} fds, ${x.rps.toFixed(0)} req/s, ` +
      `${x.errors} errors, ${x.skipped} skipped, CPU ${x.cpu.toFixed(0)}%`);
}
clearInterval(ticker);
const loadSeconds = (performance.now() - t0) / 1000;
// Let what is in flight finish, so that the report's counts are whole.
for (let i = 0; i < 50 && (KINDS.some((k) => k !== 'webchat' && inFlight[k] > 0) || sockets.some((s) => s.busy)); i++) {
  await sleep(100);
}
for (const s of sockets) { s.closing = true; s.ws?.terminate(); }
Object.values(agents).forEach((a) => a.destroy());

// --- verdict ------------------------------------------------------------------------------

const lastSample = samples.at(-1);
// Minute 2 leaves the first two minutes for warming up (caches, pools, sessions filling to
// their caps). A run too short for that compares with 1/5 of its length instead.
const refT = MINUTES >= 3 ? 120 : (MINUTES * 60) / 5;
const ref = samples.reduce((best, x) => (Math.abs(x.t - refT) < Math.abs(best.t - refT) ? x : best), samples[1] ?? samples[0]);
const ratio = (key) => lastSample[key] / ref[key];
const within = (r) => Math.abs(r - 1) <= 0.05;
const complete = !died && lastSample.t >= MINUTES * 60 - 1e-9;
const pass = complete && ref !== lastSample && within(ratio('rss')) && within(ratio('fds'));

const f = (n, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : '—');
const mmss = (t) => `${Math.floor(t / 60)}:${String(Math.round(t % 60)).padStart(2, '0')}`;
const pct = (r) => `${r >= 1 ? '+' : ''}${f((r - 1) * 100, 1)}%`;
const sumOf = (o) => KINDS.reduce((a, kind) => a + o[kind], 0);
const date = startedAt.toISOString().slice(0, 10);
const results = path.join(root, 'bench/results');
mkdirSync(results, { recursive: true });
const md = path.join(results, `${date}-soak.md`), png = path.join(results, `${date}-soak.png`);
const refLabel = MINUTES >= 3 ? 'minute 2' : `${mmss(ref.t)} (1/5 of the run: under 3 minutes, minute 2 is too early)`;

const lines = [];
const say = (s = '') => lines.push(s);
say(`# Hermes soak, ${startedAt.toISOString()}`);
say();
say(`\`bench/soak --minutes ${MINUTES} --rate ${RATE}${INTERVAL_S !== 10 ? ` --interval ${INTERVAL_S}` : ''}\`: hermesd ${args.hermesd} (threads: 1, ` +
    'upstream_idle_connections: 8, audit on) with an api ' +
    'channel (API key), a web chat channel and a Slack channel, all answered by bench_upstream (OpenAI format; ' +
    'also the Slack Web API stand-in). ' +
    `${CPUS} CPUs (${os.cpus()[0]?.model ?? 'unknown'})` +
    (CPUS >= 2 ? '; hermesd on CPU 1, the load client and bench_upstream on CPU 0 (taskset)' : '') +
    `; load average at the start ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}.`);
say();
say(`Load: ${RATE} operations/s, open loop, in a fixed rotation: per 20, 10 API chat completions (a quarter in 32 ` +
    'sessions), 3 streamed API completions (8 chunks 5 ms apart), 4 web chat messages (16 WebSockets, one ' +
    `message at a time each, reconnecting with their session every ${WEBCHAT_RECONNECT_EVERY} messages) and 3 ` +
    `Slack events signed as Slack signs them (${SLACK.lanes} DMs), each answered with chat.postMessage. In flight at ` +
    `most per kind: ${KINDS.map((k) => `${k} ${CAP[k]}`).join(', ')}; an operation beyond that is skipped, not queued.`);
say();
say('| time | RSS MiB | of which anon MiB | fds | req/s | errors | skipped | hermesd CPU % | Slack replies/s |');
say('|---|---|---|---|---|---|---|---|---|');
for (const x of samples) {
  const mark = x === ref ? ' (reference)' : x === lastSample && x !== samples[0] ? ' (last)' : '';
  say(`| ${mmss(x.t)}${mark} | ${f(x.rss, 1)} | ${f(x.anon, 1)} | ${x.fds} | ${f(x.rps)} | ${x.t ? x.errors : '—'} | ` +
      `${x.t ? x.skipped : '—'} | ${f(x.cpu)} | ${f(x.replies)} |`);
}
say();
say('req/s: operations answered in the interval (API 200 with a complete body, web chat `done`, Slack event ' +
    'acknowledged), per second. RSS: VmRSS of /proc/PID/status; anon: RssAnon (the rest is mapped files: the ' +
    'binary, libraries, SQLite\'s shared memory). fds: entries of /proc/PID/fd.');
say();
const totalDone = sumOf(totals.done), totalErrors = sumOf(totals.errors), totalSkipped = sumOf(totals.skipped);
say(`Over ${f(loadSeconds)} s: ${f(totalDone)} operations answered (${f(totalDone / loadSeconds)}/s of ${RATE}/s asked; ` +
    `${KINDS.map((k) => `${k} ${f(totals.done[k])}`).join(', ')}), ${f(totalErrors)} errors` +
    `${totalErrors ? ` (${Object.entries(errorKinds).map(([k, v]) => `${k}: ${v}`).join(', ')})` : ''}, ` +
    `${f(totalSkipped)} skipped (${KINDS.map((k) => `${k} ${f(totals.skipped[k])}`).join(', ')}).`);
say();
if (died) say(`**hermesd died during the run**: ${died}.`);
say(`**Verdict: ${pass ? 'PASS' : 'FAIL'}.** Rule: RSS and fds at ${mmss(MINUTES * 60)} within 5% of ${refLabel}. ` +
    `RSS ${f(ref.rss, 1)} → ${f(lastSample.rss, 1)} MiB (${pct(ratio('rss'))}), ` +
    `fds ${ref.fds} → ${lastSample.fds} (${pct(ratio('fds'))}).` + (complete ? '' : ' The run did not complete.'));
say();
say(`Plot: \`${path.relative(root, png)}\`.`);

const plotError = plotSoak({ samples, ref, pass, minutes: MINUTES, rate: RATE, date, png });
if (plotError) {
  lines.push('', `(No plot: gnuplot failed: ${plotError})`);
  log(`gnuplot failed: ${plotError}`);
}
writeFileSync(md, lines.join('\n') + '\n');
console.log(lines.join('\n'));
log(`written to ${path.relative(root, md)} and ${path.relative(root, png)}`);
await stopAll();
process.exit(pass ? 0 : 1);
