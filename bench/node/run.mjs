// The benchmark driver behind bench/run: the same fast upstream (bench_upstream), and in
// front of it, interleaved in one run: direct (baseline), nginx proxy_pass with upstream
// keep-alive, hermesd (api channel, one route, audit on with its defaults) and the Portkey
// gateway. Load comes from wrk (a separate process); figures are reported as differences
// and ratios within the run. Prints Markdown and writes bench/results/<date>-<scenarios>.md.
//
//   node bench/node/run.mjs --hermesd PATH --upstream PATH [--scenarios 1,2,3,7,8] [--seconds 10]
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const args = { scenarios: '1,2,3,7,8', seconds: '10' };
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const SCENARIOS = new Set(args.scenarios.split(',').map(Number));
const SECONDS = Number(args.seconds);
const CPUS = os.availableParallelism();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'hermes-bench-'));
const children = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Starts a process pinned to `cpu` (when there are two CPUs or more) and waits for `ready`.
async function start(name, cmd, argv, { cpu, ready, env } = {}) {
  const pinned = CPUS >= 2 && cpu !== undefined;
  const child = spawn(pinned ? 'taskset' : cmd, pinned ? ['-c', String(cpu), cmd, ...argv] : argv,
                      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  children.push(child);
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited: ${output}`);
    if (await ready(output)) return child;
    await sleep(100);
  }
  throw new Error(`${name} did not start: ${output}`);
}

const answers = (url, headers = {}) => async () => {
  try {
    const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers },
                                 body: '{"model":"auto","messages":[{"role":"user","content":"hi"}]}' });
    await r.arrayBuffer();
    return r.status === 200;
  } catch { return false; }
};

async function upstream(latencyMs, chunks = 8, paceMs = 0) {
  const port = await freePort();
  await start(`upstream ${latencyMs}ms`, args.upstream,
              ['--port', String(port), '--latency-ms', String(latencyMs), '--chunks', String(chunks),
               '--pace-ms', String(paceMs)], { cpu: 0, ready: (o) => o.includes('listening') });
  return port;
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
  await start('nginx', '/usr/sbin/nginx', ['-c', conf], { cpu: 1, ready: answers(url) });
  return { name: 'nginx', url, headers: {} };
}

async function hermes(upPort) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmp, 'hermes-'));
  const conf = path.join(dir, 'hermes.yaml');
  writeFileSync(conf, `gateway: {instance: bench, data_dir: ${JSON.stringify(dir)}, threads: 1}
log: {level: warn}
listeners:
  - {name: local, bind: loopback, port: ${port}, max_connections: 20000}
channels:
  - {name: api, type: api, listener: local}
models:
  - {name: up, type: openai, base_url: "http://127.0.0.1:${upPort}/v1", model: bench}
agents:
  - {name: general, model: up}
routes:
  - {name: default, agent: general}
`);
  const url = `http://127.0.0.1:${port}/v1/chat/completions`;
  const child = await start('hermesd', args.hermesd, ['--config', conf], { cpu: 1, ready: answers(url) });
  return { name: 'hermes', url, headers: {}, pid: child.pid };
}

async function portkey(upPort) {
  const port = await freePort();
  const server = path.join(here, 'node_modules/@portkey-ai/gateway/build/start-server.js');
  const headers = { 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `http://127.0.0.1:${upPort}/v1`,
                    Authorization: 'Bearer sk-bench' };
  const url = `http://127.0.0.1:${port}/v1/chat/completions`;
  await start('portkey', 'node', [server, `--port=${port}`, '--headless'], { cpu: 1, ready: answers(url, headers) });
  return { name: 'portkey', url, headers };
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

function wrk(target, connections, seconds, { stream = false } = {}) {
  const argv = ['-t', String(Math.min(2, connections)), '-c', String(connections), '-d', `${seconds}s`, '--latency',
                '-s', luaFor(target, stream), target.url];
  const cmd = CPUS >= 2 ? 'taskset' : 'wrk';
  const out = execFileSync(cmd, CPUS >= 2 ? ['-c', '0', 'wrk', ...argv] : argv, { encoding: 'utf8' });
  const pct = (p) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    return m ? toMs(m[1], m[2]) : NaN;
  };
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = sock ? sock.slice(1).map(Number).reduce((a, b) => a + b, 0) : 0;
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]), p50: pct(50), p99: pct(99), errors: non2xx + socketErrors };
}

const rssMiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const f = (n, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
const us = (ms) => f(ms * 1000);

const lines = [];
const say = (s = '') => { lines.push(s); console.log(s); };

const up = await upstream(0);
const direct = { name: 'direct', url: `http://127.0.0.1:${up}/v1/chat/completions`, headers: {} };
const contenders = [direct, await nginx(up), await hermes(up), await portkey(up)];
const hermesTarget = contenders.find((c) => c.name === 'hermes');
say(`# Hermes benchmark, ${new Date().toISOString()}`);
say();
say(`${CPUS} CPUs (${os.cpus()[0]?.model ?? 'unknown'}). ` +
    (CPUS >= 2 ? 'Contenders run on CPU 1; wrk and the upstream on CPU 0 (taskset). ' : '') +
    `hermesd ${args.hermesd} with threads: 1 and audit on; nginx with 1 worker; Portkey on Node ${process.version}. ` +
    `Runs of ${SECONDS} s, interleaved per contender.`);
say();

if (SCENARIOS.has(1)) {
  const r = Object.fromEntries(contenders.map((c) => [c.name, wrk(c, 1, SECONDS)]));
  say('## 1. Added latency at c=1, non-stream (µs, contender − direct)');
  say();
  say('| contender | p50 | p99 | added p50 | added p99 |');
  say('|---|---|---|---|---|');
  for (const c of contenders) {
    say(`| ${c.name} | ${us(r[c.name].p50)} | ${us(r[c.name].p99)} | ${c.name === 'direct' ? '—' : us(r[c.name].p50 - r.direct.p50)} | ` +
        `${c.name === 'direct' ? '—' : us(r[c.name].p99 - r.direct.p99)} |`);
  }
  const ratio = (r.hermes.p99 - r.direct.p99) / (r.nginx.p99 - r.direct.p99);
  say();
  say(`Goal: Hermes added p99 < 80 µs and ≤ 1.5× nginx's. Hermes/nginx added p99: ${f(ratio, 2)}.`);
  say();
}

let rssUnderLoad = NaN;
if (SCENARIOS.has(2) || SCENARIOS.has(7)) {
  const idle = rssMiB(hermesTarget.pid);
  const r = {};
  for (const c of contenders) {
    if (c.name === 'hermes') {
      const sampler = setInterval(() => { rssUnderLoad = Math.max(rssUnderLoad || 0, rssMiB(c.pid)); }, 200);
      r[c.name] = wrk(c, 64, SECONDS);
      clearInterval(sampler);
      rssUnderLoad = Math.max(rssUnderLoad || 0, rssMiB(c.pid));
    } else {
      r[c.name] = wrk(c, 64, SECONDS);
    }
  }
  if (SCENARIOS.has(2)) {
    say('## 2. Throughput, non-stream, 64 connections');
    say();
    say('| contender | req/s | errors | ratio to direct | ratio to nginx |');
    say('|---|---|---|---|---|');
    for (const c of contenders) {
      say(`| ${c.name} | ${f(r[c.name].rps)} | ${r[c.name].errors} | ${f(r[c.name].rps / r.direct.rps, 2)} | ${f(r[c.name].rps / r.nginx.rps, 2)} |`);
    }
    say();
    say('Goal: Hermes ≥ 0.8× nginx.');
    say();
  }
  if (SCENARIOS.has(7)) {
    say('## 7. Memory of hermesd');
    say();
    say(`Idle RSS ${f(idle, 1)} MiB (goal < 30 MB); peak RSS under scenario 2 (64 connections) ${f(rssUnderLoad, 1)} MiB.`);
    say();
  }
}

if (SCENARIOS.has(8)) {
  say('## 8. Cost growth: req/s by connections, non-stream');
  say();
  const levels = [1, 8, 64, 512];
  say(`| contender | ${levels.map((l) => `c=${l}`).join(' | ')} |`);
  say(`|---|${levels.map(() => '---').join('|')}|`);
  const rows = Object.fromEntries(contenders.map((c) => [c.name, []]));
  for (const l of levels) for (const c of contenders) rows[c.name].push(wrk(c, l, Math.max(3, SECONDS / 2)));
  for (const c of contenders) say(`| ${c.name} | ${rows[c.name].map((x) => `${f(x.rps)}${x.errors ? ` (${x.errors} err)` : ''}`).join(' | ')} |`);
  say();
}

if (SCENARIOS.has(3)) {
  const slow = await upstream(20);
  const front = [{ name: 'direct', url: `http://127.0.0.1:${slow}/v1/chat/completions`, headers: {} },
                 await nginx(slow), await hermes(slow), await portkey(slow)];
  say('## 3. Sustained load: 20 ms upstream, 512 connections');
  say();
  say('| contender | req/s | p99 ms | errors |');
  say('|---|---|---|---|');
  for (const c of front) {
    const r = wrk(c, 512, SECONDS);
    say(`| ${c.name} | ${f(r.rps)} | ${f(r.p99, 1)} | ${r.errors} |`);
  }
  say();
}

const file = path.join(root, 'bench/results', `${new Date().toISOString().slice(0, 10)}-s${[...SCENARIOS].join('')}.md`);
mkdirSync(path.dirname(file), { recursive: true });
writeFileSync(file, lines.join('\n') + '\n');
console.log(`\nwritten to ${path.relative(root, file)}`);
process.exit(0);
