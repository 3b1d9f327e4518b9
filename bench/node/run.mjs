// The benchmark driver behind bench/run: the same fast upstream (bench_upstream), and in
// front of it, interleaved in one run: direct (baseline), nginx proxy_pass with upstream
// keep-alive, hermesd (api channel, one route, audit on with its defaults) and the Portkey
// gateway. Load comes from separate processes on CPU 0: wrk; for streams (scenario 4)
// bench_ttft (C++, time to first token at c=1) and the Node client stream_client.mjs (512
// concurrent); for Slack and WhatsApp events (scenario 6) chat_client.mjs. Scenarios 5, 9,
// 10 and 11 are scripts of their own that start their own hermesd: webchat.mjs (web chat),
// cdp.mjs (the CDP relay), email.mjs (mail over LMTP, answers by SMTP to a sink) and
// slack_socket.mjs (Slack Socket Mode: events over wss:// from a Slack stand-in, answers by
// chat.postMessage to it).
// Figures are reported as differences and ratios within the run. Prints Markdown and writes
// bench/results/<date>-s<scenarios>.md (a smoke run: <date>-smoke.md, not committed).
//
//   node bench/node/run.mjs --hermesd PATH --upstream PATH --ttft PATH [--scenarios 1,2,3,4,5,6,7,8,9,10,11]
//     [--seconds 10] [--rounds 3] [--smoke]
//
// --rounds: scenarios 1 and 2, the headline ratios, run every contender once per round,
// rounds one after another; each figure is the median over the rounds, and the Hermes/nginx
// ratio is given per round too. On a shared machine the speed of the whole host drifts by
// tens of percent within minutes: contenders measured side by side, several times, keep
// that drift out of the ratio better than one long run each.
//
// --smoke: every scenario with 1 s runs and small connection counts, in well under a minute,
// to keep the harness working (CI). Its figures are not worth quoting.
// Exit status 1 when a contender did not start or a scenario produced no figures; never
// because of a figure's value: benchmarks are not tests.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CPUS, freePort, spawnPinned as spawnChild } from './processes.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const args = {};
for (let i = 2; i < process.argv.length; i++) {
  const key = process.argv[i].replace(/^--/, '');
  const value = process.argv[i + 1];
  if (value === undefined || value.startsWith('--')) args[key] = true;  // a flag: --smoke
  else args[key] = process.argv[++i];
}
const SMOKE = args.smoke === true;
const SCENARIOS = new Set(String(args.scenarios ?? '1,2,3,4,5,6,7,8,9,10,11').split(',').map(Number));
const SECONDS = Number(args.seconds ?? (SMOKE ? 1 : 10));
const ROUNDS = Math.max(1, Number(args.rounds ?? (SMOKE ? 1 : 3)));
// What a smoke run shrinks besides the duration: what would otherwise take long.
// Scenario 4's streams: 64 chunks 20 ms apart, a smoke run 2 ms apart (the same work, sooner).
// Scenario 11: 64 Socket Mode envelopes in flight, a smoke run 16.
const PLAN = SMOKE
  ? { levels: [1, 512], streams: 64, paceMs: 2, ttftStreams: 20, webchatConnections: 200, deliveryWaitS: 5,
      socketInFlight: 16 }
  : { levels: [1, 8, 64, 512], streams: 512, paceMs: 20, ttftStreams: 500, webchatConnections: 10000,
      deliveryWaitS: 30, socketInFlight: 64 };
const STREAM = { chunks: 64, paceMs: PLAN.paceMs };
const SLACK = { secret: 'bench-signing-secret-8f742231b10e', token: 'xoxb-bench-token', concurrency: 64 };
const WHATSAPP = { secret: 'bench-app-secret-4f8e2c1d9b7a', token: 'EAAG-bench-token', verify: 'bench-verify' };
const tmp = mkdtempSync(path.join(os.tmpdir(), 'hermes-bench-'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Every child runs in its own process group, killed whole at exit: nginx's worker and the
// hermesd that webchat.mjs starts go with their parent, also after an exception or ^C.
const children = [];
const kill = (child) => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ } };
process.on('exit', () => {
  children.forEach(kill);
  rmSync(tmp, { recursive: true, force: true });  // configs, and the data dirs of every hermesd
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

// Why the run will exit 1: a contender that did not start, a scenario without figures.
const problems = [];
const need = (what, values) => {
  if (values.some((v) => !Number.isFinite(v))) problems.push(`${what}: no figures`);
};

// Spawns `cmd` pinned to `cpu` (when there are two CPUs or more).
function spawnPinned(cmd, argv, options = {}) {
  return spawnChild(children, cmd, argv, options);
}

// Runs a command to its end; resolves its stdout, rejects with its output on failure.
function run(cmd, argv, options) {
  return new Promise((resolve, reject) => {
    const child = spawnPinned(cmd, argv, options);
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${err || out}`))));
  });
}

// A Node load client of bench/node, on CPU 0 like wrk; resolves the JSON object it prints.
async function runClient(script, argv) {
  return JSON.parse(await run('node', [path.join(here, script), ...argv.map(String)], { cpu: 0 }));
}

// Starts a long-running process pinned to `cpu` and waits for `ready`.
async function start(name, cmd, argv, { cpu, ready, env } = {}) {
  const child = spawnPinned(cmd, argv, { cpu, env });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited: ${output}`);
    if (await ready(output)) return child;
    await sleep(100);
  }
  kill(child);
  throw new Error(`${name} did not start: ${output}`);
}

// A contender that does not start is reported and left out; the others still run.
async function tryStart(name, startFn) {
  try {
    return await startFn();
  } catch (e) {
    problems.push(`${name} did not start: ${e.message.split('\n')[0]}`);
    console.error(e.message);
    return null;
  }
}

// Runs one measurement; a failure is reported and leaves its figures empty (n/a).
async function measure(what, fn) {
  try {
    return await fn();
  } catch (e) {
    problems.push(`${what} failed: ${e.message.split('\n')[0]}`);
    console.error(e.message);
    return {};
  }
}

const answers = (url, headers = {}) => async () => {
  try {
    const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers },
                                 body: '{"model":"auto","messages":[{"role":"user","content":"hi"}]}' });
    await r.arrayBuffer();
    return r.status === 200;
  } catch { return false; }
};

const healthy = (url) => async () => {
  try {
    const r = await fetch(url);
    await r.arrayBuffer();
    return r.status === 200;
  } catch { return false; }
};

async function upstream(latencyMs, chunks = 8, paceMs = 0) {
  const port = await freePort();
  const child = await start(`upstream ${latencyMs}ms`, args.upstream,
                            ['--port', String(port), '--latency-ms', String(latencyMs), '--chunks', String(chunks),
                             '--pace-ms', String(paceMs)], { cpu: 0, ready: (o) => o.includes('listening') });
  return { name: 'direct', url: `http://127.0.0.1:${port}/v1/chat/completions`, headers: {}, port, child };
}

async function nginx(upPort) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmp, 'nginx-'));
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(conf, `worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream up { server 127.0.0.1:${upPort}; keepalive 128; }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
}
`);
  const url = `http://127.0.0.1:${port}/v1/chat/completions`;
  const child = await start('nginx', '/usr/sbin/nginx', ['-c', conf], { cpu: 1, ready: answers(url) });
  return { name: 'nginx', url, headers: {}, child };
}

// A hermesd config: one loopback listener, `channels` (YAML list items), and one openai
// model on the upstream behind one route. Returns the config file's path.
function hermesConfig({ instance, dir, port, upPort, channels }) {
  const conf = path.join(dir, 'hermes.yaml');
  writeFileSync(conf, `gateway: {instance: ${instance}, data_dir: ${JSON.stringify(dir)}, threads: 1}
log: {level: warn}
listeners:
  - {name: local, bind: loopback, port: ${port}, max_connections: 20000}
channels:
${channels}
models:
  - {name: up, type: openai, base_url: "http://127.0.0.1:${upPort}/v1", model: bench}
agents:
  - {name: general, model: up}
routes:
  - {name: default, agent: general}
`);
  return conf;
}

async function hermes(upPort) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmp, 'hermes-'));
  const conf = hermesConfig({ instance: 'bench', dir, port, upPort,
                              channels: '  - {name: api, type: api, listener: local}' });
  const url = `http://127.0.0.1:${port}/v1/chat/completions`;
  const child = await start('hermesd', args.hermesd, ['--config', conf], { cpu: 1, ready: answers(url) });
  return { name: 'hermes', url, headers: {}, pid: child.pid, child };
}

// hermesd with a Slack channel whose Web API is bench_upstream's stand-in (which also
// serves the model); ready once auth.test has told it the bot's user id.
async function hermesSlack(upPort) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmp, 'hermes-slack-'));
  const conf = hermesConfig({ instance: 'bench-slack', dir, port, upPort, channels: `  - name: slack
    type: slack
    listener: local
    signing_secret: "\${env:BENCH_SLACK_SIGNING_SECRET}"
    bot_token: "\${env:BENCH_SLACK_BOT_TOKEN}"
    api_url: "http://127.0.0.1:${upPort}/api"` });
  const identified = async () => {
    try {
      const status = await (await fetch(`http://127.0.0.1:${port}/status`)).json();
      return status.channels?.find((c) => c.name === 'slack')?.healthy === true;
    } catch { return false; }
  };
  const child = await start('hermesd (slack)', args.hermesd, ['--config', conf], {
    cpu: 1, ready: identified, env: { BENCH_SLACK_SIGNING_SECRET: SLACK.secret, BENCH_SLACK_BOT_TOKEN: SLACK.token } });
  return { name: 'hermes', url: `http://127.0.0.1:${port}/slack/slack/events`, pid: child.pid, child };
}

// hermesd with a WhatsApp channel whose Graph API is bench_upstream's stand-in. Pacing
// is off: the figure is the gateway's, not Meta's limits.
async function hermesWhatsApp(upPort) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmp, 'hermes-whatsapp-'));
  const conf = hermesConfig({ instance: 'bench-whatsapp', dir, port, upPort, channels: `  - name: wa
    type: whatsapp
    listener: local
    app_secret: "\${env:BENCH_WA_APP_SECRET}"
    verify_token: "\${env:BENCH_WA_VERIFY}"
    access_token: "\${env:BENCH_WA_TOKEN}"
    api_url: "http://127.0.0.1:${upPort}/graph"
    send_rate: 1000
    recipient_interval: 0s` });
  const child = await start('hermesd (whatsapp)', args.hermesd, ['--config', conf], {
    cpu: 1, ready: healthy(`http://127.0.0.1:${port}/healthz`),
    env: { BENCH_WA_APP_SECRET: WHATSAPP.secret, BENCH_WA_VERIFY: WHATSAPP.verify, BENCH_WA_TOKEN: WHATSAPP.token } });
  return { name: 'hermes', url: `http://127.0.0.1:${port}/whatsapp/wa/events`, pid: child.pid, child };
}

// `streaming`: through portkey_streaming.mjs, without which Portkey cannot stream (see there).
async function portkey(upPort, { streaming = false } = {}) {
  const port = await freePort();
  const server = path.join(here, streaming ? 'portkey_streaming.mjs' : 'node_modules/@portkey-ai/gateway/build/start-server.js');
  const headers = { 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `http://127.0.0.1:${upPort}/v1`,
                    Authorization: 'Bearer sk-bench' };
  const url = `http://127.0.0.1:${port}/v1/chat/completions`;
  const child = await start('portkey', 'node', [server, `--port=${port}`, '--headless'],
                            { cpu: 1, ready: answers(url, headers) });
  return { name: 'portkey', url, headers, child };
}

// The four contenders in front of one upstream; those that did not start are left out.
async function frontOf(up, options) {
  const front = [up];
  for (const [name, startFn] of [['nginx', nginx], ['hermes', hermes], ['portkey', portkey]]) {
    const c = await tryStart(name, () => startFn(up.port, options));
    if (c) front.push(c);
  }
  return front;
}

function luaFor(target, stream) {
  const file = path.join(tmp, `${target.name}-${stream ? 's' : 'n'}.lua`);
  const body = JSON.stringify({ model: 'auto', stream, messages: [{ role: 'user', content: 'hello bench' }] });
  const headers = { 'Content-Type': 'application/json', ...target.headers };
  writeFileSync(file, `wrk.method = "POST"\nwrk.body = ${JSON.stringify(body)}\n` +
    Object.entries(headers).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`).join('\n') + '\n');
  return file;
}

const toMs = (v, unit) => Number(v) * ({ us: 0.001, ms: 1, s: 1000 }[unit] ?? 1);

// Not synchronous: the RSS sampler of scenario 7 must run while wrk does.
async function wrk(target, connections, seconds, { stream = false } = {}) {
  const argv = ['-t', String(Math.min(2, connections)), '-c', String(connections), '-d', `${seconds}s`, '--latency',
                '-s', luaFor(target, stream), target.url];
  let out;
  try {
    out = await run('wrk', argv, { cpu: 0 });
  } catch (e) {
    problems.push(`wrk on ${target.name} failed: ${e.message.split('\n')[0]}`);
    return { rps: NaN, p50: NaN, p99: NaN, errors: NaN };
  }
  const pct = (p) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    return m ? toMs(m[1], m[2]) : NaN;
  };
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = sock ? sock.slice(1).map(Number).reduce((a, b) => a + b, 0) : 0;
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN), p50: pct(50), p99: pct(99),
           errors: non2xx + socketErrors };
}

const rssMiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const f = (n, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
const us = (ms) => f(ms * 1000);
const errorsWithCodes = (r) => {
  const codes = Object.entries(r.codes ?? {});
  return `${f(r.errors)}${codes.length ? ` (${codes.map(([k, v]) => `${k}: ${v}`).join(', ')})` : ''}`;
};

// A Node client near a full CPU measures itself as much as the contender: say so.
const busyClients = (results) => Object.entries(results).filter(([, r]) => r.client_cpu > 0.9)
  .map(([name, r]) => `${name} (${f(r.client_cpu * 100)}%)`);

const lines = [];
const say = (s = '') => { lines.push(s); console.log(s); };

const up = await upstream(0);
const contenders = await frontOf(up);
const hermesTarget = contenders.find((c) => c.name === 'hermes');
say(`# Hermes benchmark${SMOKE ? ' (smoke)' : ''}, ${new Date().toISOString()}`);
say();
say(`${CPUS} CPUs (${os.cpus()[0]?.model ?? 'unknown'}). ` +
    (CPUS >= 2 ? 'Contenders run on CPU 1; wrk, the Node load clients and the upstream on CPU 0 (taskset). ' : '') +
    `hermesd ${args.hermesd} with threads: 1 and audit on; nginx with 1 worker; Portkey on Node ${process.version}. ` +
    `Runs of ${SECONDS} s, interleaved per contender; scenarios 1 and 2 in ${ROUNDS} round(s), medians reported.`);
if (SMOKE) {
  say();
  say('Smoke run (`--smoke`): every scenario with 1 s runs and small connection counts, to check that the harness ' +
      'works. The figures are not worth quoting.');
}
say();

// The median of numbers (NaN when there are none).
function median(values) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}
const perRound = (values, digits) => values.map((v) => f(v, digits)).join(', ');

// Runs `measure(contender)` for every contender, ROUNDS times, contenders side by side.
async function inRounds(measure) {
  const rounds = [];
  for (let k = 0; k < ROUNDS; k++) {
    const r = {};
    for (const c of contenders) r[c.name] = await measure(c);
    rounds.push(r);
  }
  return rounds;
}

if (SCENARIOS.has(1)) {
  const rounds = await inRounds((c) => wrk(c, 1, SECONDS));
  const added = (round, name, key) => round[name][key] - round.direct[key];
  say('## 1. Added latency at c=1, non-stream (µs, contender − direct)');
  say();
  say(`Medians over ${ROUNDS} round(s); "added" is taken per round, then the median.`);
  say();
  say('| contender | p50 | p99 | added p50 | added p99 |');
  say('|---|---|---|---|---|');
  for (const c of contenders) {
    const p50 = median(rounds.map((r) => r[c.name].p50));
    const p99 = median(rounds.map((r) => r[c.name].p99));
    const direct = c.name === 'direct';
    say(`| ${c.name} | ${us(p50)} | ${us(p99)} | ${direct ? '—' : us(median(rounds.map((r) => added(r, c.name, 'p50'))))} | ` +
        `${direct ? '—' : us(median(rounds.map((r) => added(r, c.name, 'p99'))))} |`);
    need(`scenario 1, ${c.name}`, [p50, p99]);
  }
  const ratios = rounds.map((r) => added(r, 'hermes', 'p99') / added(r, 'nginx', 'p99'));
  const ratios50 = rounds.map((r) => added(r, 'hermes', 'p50') / added(r, 'nginx', 'p50'));
  say();
  say(`Goal: Hermes added p99 < 80 µs and ≤ 1.5× nginx's. Hermes/nginx added p99: ${f(median(ratios), 2)} ` +
      `(per round: ${perRound(ratios, 2)}); added p50: ${f(median(ratios50), 2)} (per round: ${perRound(ratios50, 2)}).`);
  say();
}

let apiRps = NaN;  // hermesd's req/s in scenario 2: scenario 6's baseline
if (SCENARIOS.has(2) || SCENARIOS.has(7)) {
  const idle = hermesTarget ? rssMiB(hermesTarget.pid) : NaN;
  let rssUnderLoad = NaN;
  const rounds = await inRounds(async (c) => {
    if (c !== hermesTarget) return wrk(c, 64, SECONDS);
    const sample = () => { rssUnderLoad = Math.max(rssUnderLoad || 0, rssMiB(c.pid)); };
    const sampler = setInterval(sample, 200);
    const result = await wrk(c, 64, SECONDS);
    clearInterval(sampler);
    sample();
    return result;
  });
  const rps = (name) => median(rounds.map((r) => r[name]?.rps));
  apiRps = rps('hermes');
  if (SCENARIOS.has(2)) {
    say('## 2. Throughput, non-stream, 64 connections');
    say();
    say(`Medians over ${ROUNDS} round(s).`);
    say();
    say('| contender | req/s | errors | ratio to direct | ratio to nginx |');
    say('|---|---|---|---|---|');
    for (const c of contenders) {
      const errors = rounds.reduce((sum, r) => sum + r[c.name].errors, 0);
      say(`| ${c.name} | ${f(rps(c.name))} | ${errors} | ${f(rps(c.name) / rps('direct'), 2)} | ${f(rps(c.name) / rps('nginx'), 2)} |`);
      need(`scenario 2, ${c.name}`, [rps(c.name)]);
    }
    const ratios = rounds.map((r) => r.hermes?.rps / r.nginx?.rps);
    say();
    say(`Goal: Hermes ≥ 0.8× nginx. Hermes/nginx per round: ${perRound(ratios, 2)} (median ${f(median(ratios), 2)}); ` +
        `hermes req/s per round: ${perRound(rounds.map((r) => r.hermes?.rps), 0)}.`);
    say();
  }
  if (SCENARIOS.has(7)) {
    say('## 7. Memory of hermesd');
    say();
    say(`Idle RSS ${f(idle, 1)} MiB (goal < 30 MB); peak RSS under scenario 2 (64 connections) ${f(rssUnderLoad, 1)} MiB.`);
    say();
    need('scenario 7', [idle, rssUnderLoad]);
  }
}

if (SCENARIOS.has(8)) {
  say('## 8. Cost growth: req/s by connections, non-stream');
  say();
  say(`| contender | ${PLAN.levels.map((l) => `c=${l}`).join(' | ')} |`);
  say(`|---|${PLAN.levels.map(() => '---').join('|')}|`);
  const rows = Object.fromEntries(contenders.map((c) => [c.name, []]));
  for (const l of PLAN.levels) {
    for (const c of contenders) rows[c.name].push(await wrk(c, l, SMOKE ? SECONDS : Math.max(3, SECONDS / 2)));
  }
  for (const c of contenders) {
    say(`| ${c.name} | ${rows[c.name].map((x) => `${f(x.rps)}${x.errors ? ` (${x.errors} err)` : ''}`).join(' | ')} |`);
    need(`scenario 8, ${c.name}`, rows[c.name].map((x) => x.rps));
  }
  say();
}

if (SCENARIOS.has(3)) {
  const front = await frontOf(await upstream(20));
  say('## 3. Sustained load: 20 ms upstream, 512 connections');
  say();
  say('| contender | req/s | p99 ms | errors |');
  say('|---|---|---|---|');
  for (const c of front) {
    const r = await wrk(c, 512, SECONDS);
    say(`| ${c.name} | ${f(r.rps)} | ${f(r.p99, 1)} | ${r.errors} |`);
    need(`scenario 3, ${c.name}`, [r.rps]);
  }
  say();
  front.forEach((c) => kill(c.child));
}

if (SCENARIOS.has(4)) {
  const front = await frontOf(await upstream(0, STREAM.chunks, STREAM.paceMs), { streaming: true });
  const streams = (c, concurrency) => runClient('stream_client.mjs', [
    '--url', c.url, '--headers', JSON.stringify(c.headers), '--concurrency', concurrency, '--seconds', SECONDS,
    '--min-streams', 0, '--warmup', 0, '--chunks', STREAM.chunks, '--pace-ms', STREAM.paceMs]);
  // Time to first token at c=1 with bench_ttft (native): Node's own noise hid the proxies'.
  const TTFT = { warmup: 20, pauseMs: 2 };
  const firstTokens = async (c) => JSON.parse(await run(args.ttft, [
    '--url', c.url, ...Object.entries(c.headers).flatMap(([k, v]) => ['--header', `${k}: ${v}`]),
    '--seconds', SECONDS, '--min-streams', PLAN.ttftStreams, '--warmup', TTFT.warmup, '--pause-ms', TTFT.pauseMs]
    .map(String), { cpu: 0 }));
  const one = {}, many = {};
  for (const c of front) {
    one[c.name] = await measure(`scenario 4 c=1, ${c.name}`, () => firstTokens(c));
  }
  for (const c of front) {
    many[c.name] = await measure(`scenario 4 c=${PLAN.streams}, ${c.name}`, () => streams(c, PLAN.streams));
  }
  const ttft = (name, p) => one[name]?.ttft_us?.[p] ?? NaN;
  say(`## 4. Streaming: ${STREAM.chunks} SSE chunks ${STREAM.paceMs} ms apart`);
  say();
  say(`Time to first token (µs) at c=1, by \`bench_ttft\` (C++): from sending the request to the first \`data:\` ` +
      `line with content, one stream after another for ${SECONDS} s and at least ${PLAN.ttftStreams} streams, ` +
      `after ${TTFT.warmup} not counted. Each stream is abandoned after its first token (so a proxy reaches its ` +
      `upstream afresh for the next one, as for a client that gave up), with ${TTFT.pauseMs} ms between streams. ` +
      'The upstream sends ' +
      'its first chunk at once, so the added TTFT is the proxy\'s own cost. Portkey runs through ' +
      '`bench/node/portkey_streaming.mjs`, without which it cannot stream.');
  say();
  say('| contender | streams | errors | TTFT p50 | TTFT p99 | added p50 | added p99 |');
  say('|---|---|---|---|---|---|---|');
  for (const c of front) {
    const r = one[c.name];
    const added = (p) => (c.name === 'direct' ? '—' : f(ttft(c.name, p) - ttft('direct', p)));
    say(`| ${c.name} | ${f(r.streams)} | ${errorsWithCodes(r)} | ${f(ttft(c.name, 'p50'))} | ` +
        `${f(ttft(c.name, 'p99'))} | ${added('p50')} | ${added('p99')} |`);
    need(`scenario 4 c=1, ${c.name}`, [ttft(c.name, 'p50'), ttft(c.name, 'p99')]);
  }
  say();
  say(`${PLAN.streams} concurrent streams for ${SECONDS} s, each lane starting the next when one ends. Stalled: a ` +
      `gap over 1 s between chunks, or no [DONE] within ${STREAM.chunks}×${STREAM.paceMs} ms + 5 s; completed, ` +
      'stalled and errors are disjoint. Duration: request to [DONE], streams that got there.');
  say();
  say('| contender | streams | completed | stalled | errors | duration p50 ms | duration p99 ms | longest gap ms |');
  say('|---|---|---|---|---|---|---|---|');
  for (const c of front) {
    const r = many[c.name];
    say(`| ${c.name} | ${f(r.streams)} | ${f(r.completed)} | ${f(r.stalled)} | ${errorsWithCodes(r)} | ` +
        `${f(r.done_ms?.p50, 1)} | ${f(r.done_ms?.p99, 1)} | ${f(r.max_gap_ms, 1)} |`);
    need(`scenario 4 c=${PLAN.streams}, ${c.name}`, [r.streams, r.done_ms?.p99]);
  }
  say();
  say(`Goal: Hermes added TTFT p99 < 250 µs; no stalled stream at 512. Hermes: added TTFT p99 ` +
      `${f(ttft('hermes', 'p99') - ttft('direct', 'p99'))} µs; ${f(many.hermes?.stalled)} stalled of ` +
      `${f(many.hermes?.streams)} at ${PLAN.streams}.`);
  say();
  const busy = busyClients(many);
  if (busy.length) {
    say(`The load client used more than 90% of its CPU at ${PLAN.streams} streams against ${busy.join(', ')}: ` +
        'those rows may show the client\'s limit.');
    say();
  }
  front.forEach((c) => kill(c.child));
}

if (SCENARIOS.has(6)) {
  // The baseline: hermesd's api channel at 64 connections, from scenario 2 when it ran.
  const baselineFrom = Number.isFinite(apiRps) ? 'scenario 2 of this run'
    : hermesTarget ? `wrk for ${Math.min(SECONDS, 3)} s` : 'none: hermesd did not start';
  if (!Number.isFinite(apiRps) && hermesTarget) apiRps = (await wrk(hermesTarget, 64, Math.min(SECONDS, 3))).rps;
  const stand = await upstream(0);
  const slack = await tryStart('hermesd (slack)', () => hermesSlack(stand.port));
  const r = slack ? await measure('scenario 6', () => runClient('chat_client.mjs', ['--kind', 'slack',
    '--url', slack.url, '--secret', SLACK.secret, '--stats', `http://127.0.0.1:${stand.port}/stats`,
    '--concurrency', SLACK.concurrency, '--seconds', SECONDS, '--max-wait-s', PLAN.deliveryWaitS])) : {};
  // Zero is no figure here: nothing acknowledged or delivered means the setup is broken.
  const perSecond = (n, s) => (n > 0 ? n / s : NaN);
  const acked = perSecond(r.acked, r.seconds), delivered = perSecond(r.delivered, r.delivery_seconds);
  say('## 6. Slack: signed Events API messages through hermesd');
  say();
  say('Only hermesd takes part: no other contender speaks Slack. A Node client on CPU 0 posts messages signed as ' +
      `Slack signs them (in ${SLACK.concurrency} DM conversations, one user each) over ${SLACK.concurrency} keep-alive connections ` +
      `for ${SECONDS} s; hermesd verifies, stores, acknowledges, routes, calls the model (bench_upstream), audits ` +
      'and posts each answer with chat.postMessage to bench_upstream\'s Web API stand-in. A 503 (no headroom) ' +
      'makes the client back off 50–100 ms. Baseline: hermesd\'s api channel req/s at 64 connections ' +
      `(${baselineFrom}).`);
  say();
  say('| figure | value |');
  say('|---|---|');
  say(`| events acknowledged (200) | ${f(r.acked)} in ${f(r.seconds, 1)} s: ${f(acked)}/s |`);
  say(`| 503, no headroom | ${f(r.overloaded)} |`);
  say(`| other non-200 / socket errors | ${Object.entries(r.codes ?? {}).map(([k, v]) => `${k}: ${v}`).join(', ') || '0'} / ${f(r.errors)} |`);
  say(`| replies delivered (chat.postMessage) | ${f(r.delivered)} in ${f(r.delivery_seconds, 1)} s: ${f(delivered)}/s` +
      `${r.drained === false ? ' (not every acknowledged event was answered by the end of the wait)' : ''} |`);
  say(`| api channel, req/s (baseline) | ${f(apiRps)} |`);
  say(`| acknowledged events/s ÷ api req/s | ${f(acked / apiRps, 2)} |`);
  say(`| delivered replies/s ÷ api req/s | ${f(delivered / apiRps, 2)} |`);
  say(`| load client's CPU use | ${f(r.client_cpu * 100)}%${r.client_cpu > 0.9 ? ' (near full: the client may be the limit)' : ''} |`);
  say();
  need('scenario 6', [acked, delivered, apiRps]);
  if (slack) kill(slack.child);

  // The same for WhatsApp: signed Cloud API webhooks, answers through the Graph API stand-in.
  const wa = await tryStart('hermesd (whatsapp)', () => hermesWhatsApp(stand.port));
  const w = wa ? await measure('scenario 6 (whatsapp)', () => runClient('chat_client.mjs', ['--kind', 'whatsapp',
    '--url', wa.url, '--secret', WHATSAPP.secret, '--stats', `http://127.0.0.1:${stand.port}/stats`,
    '--concurrency', SLACK.concurrency, '--seconds', SECONDS, '--max-wait-s', PLAN.deliveryWaitS])) : {};
  const waAcked = perSecond(w.acked, w.seconds), waDelivered = perSecond(w.delivered, w.delivery_seconds);
  say('### 6b. WhatsApp: signed Cloud API webhooks through hermesd');
  say();
  say(`As above, with payloads signed as Meta signs them (X-Hub-Signature-256), one text message each from ${SLACK.concurrency} ` +
      'users, answered through /messages at bench_upstream\'s Graph API stand-in (pacing at its loosest: send_rate ' +
      '1000, recipient_interval 0s, so answers/s cannot pass 1000; each answer is two Graph API calls, the read ' +
      'receipt and the message). Goal: acknowledged events/s ≥ 0.25× the api channel\'s req/s.');
  say();
  say('| figure | value |');
  say('|---|---|');
  say(`| events acknowledged (200) | ${f(w.acked)} in ${f(w.seconds, 1)} s: ${f(waAcked)}/s |`);
  say(`| 503, no headroom | ${f(w.overloaded)} |`);
  say(`| other non-200 / socket errors | ${Object.entries(w.codes ?? {}).map(([k, v]) => `${k}: ${v}`).join(', ') || '0'} / ${f(w.errors)} |`);
  say(`| answers sent (Graph API /messages) | ${f(w.delivered)} in ${f(w.delivery_seconds, 1)} s: ${f(waDelivered)}/s` +
      `${w.drained === false ? ' (not every acknowledged event was answered by the end of the wait)' : ''} |`);
  say(`| acknowledged events/s ÷ api req/s | ${f(waAcked / apiRps, 2)} |`);
  say(`| answers/s ÷ api req/s | ${f(waDelivered / apiRps, 2)} |`);
  say();
  need('scenario 6 (whatsapp)', [waAcked, waDelivered]);
  if (wa) kill(wa.child);
  kill(stand.child);
}

if (SCENARIOS.has(5)) {
  // webchat.mjs starts its own hermesd and pins it and itself; a Markdown table comes back.
  const out = await measure('scenario 5', () => run('node', [path.join(here, 'webchat.mjs'), '--hermesd', args.hermesd,
    '--connections', String(PLAN.webchatConnections), '--seconds', String(SECONDS)]));
  const table = typeof out === 'string' ? out.trim() : '## Web chat\n\nn/a';
  say(table.replace(/^## Web chat/, '## 5. Web chat'));
  say();
  if (typeof out === 'string' && /NaN/.test(out)) problems.push('scenario 5: no figures');
}

if (SCENARIOS.has(9)) {
  // cdp.mjs starts Chromium and its own hermesd; it alternates direct and relayed runs.
  const out = await measure('scenario 9', () => run('node', [path.join(here, 'cdp.mjs'), '--hermesd', args.hermesd,
    '--seconds', String(Math.max(2, SECONDS))]));
  const table = typeof out === 'string' ? out.trim() : '## CDP relay\n\nn/a';
  say(table.replace(/^## CDP relay/, '## 9. CDP relay'));
  say();
  if (typeof out !== 'string' || /NaN/.test(out)) problems.push('scenario 9: no figures');
}

if (SCENARIOS.has(10)) {
  // email.mjs starts its own hermesd (CPU 1) and SMTP sink, and loads it over LMTP from CPU 0.
  const out = await measure('scenario 10', () => run('node', [path.join(here, 'email.mjs'), '--hermesd', args.hermesd,
    '--seconds', String(SECONDS), '--max-wait-s', String(PLAN.deliveryWaitS)], { cpu: 0 }));
  const table = typeof out === 'string' ? out.trim() : '## Email\n\nn/a';
  say(table.replace(/^## Email/, '## 10. Email (LMTP)'));
  say();
  if (typeof out !== 'string' || /NaN/.test(out)) problems.push('scenario 10: no figures');
}

if (SCENARIOS.has(11)) {
  // slack_socket.mjs starts its own hermesd (CPU 1) and a Slack stand-in (its own process,
  // CPU 0) that sends the events over Socket Mode's WebSockets and takes the answers.
  const out = await measure('scenario 11', () => run('node', [path.join(here, 'slack_socket.mjs'), '--hermesd',
    args.hermesd, '--seconds', String(SECONDS), '--in-flight', String(PLAN.socketInFlight),
    '--max-wait-s', String(PLAN.deliveryWaitS)], { cpu: 0 }));
  const table = typeof out === 'string' ? out.trim() : '## Slack Socket Mode\n\nn/a';
  say(table.replace(/^## Slack Socket Mode/, '## 11. Slack Socket Mode'));
  say();
  if (typeof out !== 'string' || /NaN/.test(out)) problems.push('scenario 11: no figures');
}

if (problems.length) {
  say('## Problems');
  say();
  for (const p of problems) say(`- ${p}`);
  say();
}

const name = SMOKE ? 'smoke' : `s${[...SCENARIOS].join('')}`;
const file = path.join(root, 'bench/results', `${new Date().toISOString().slice(0, 10)}-${name}.md`);
mkdirSync(path.dirname(file), { recursive: true });
writeFileSync(file, lines.join('\n') + '\n');
console.log(`\nwritten to ${path.relative(root, file)}`);
process.exit(problems.length ? 1 : 0);
