// Web chat benchmark: idle WebSockets held vs hermesd's RSS, and messages/s through the
// web chat with the echo backend against the API channel's requests/s in the same run
// (same hermesd, same echo backend, same number of concurrent clients).
//
//   node bench/node/webchat.mjs [--hermesd PATH] [--connections 10000] [--concurrency 32] [--seconds 10]
//
// hermesd's event loop (its main thread, `threads: 1`) is pinned to CPU 1 and this client
// to CPU 0 (taskset) when the machine has two or more CPUs, so the two do not fight over
// one core; hermesd's audit writer thread is left free. Prints a Markdown table.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import WebSocket from 'ws';

const args = { hermesd: process.env.HERMESD, connections: 10000, concurrency: 32, seconds: 10 };
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
if (args.hermesd) process.env.HERMESD = args.hermesd;
// Imported only now: daemon.mjs reads HERMESD when it loads, and static imports load first.
const { Daemon, sleep } = await import('../../tests/e2e/daemon.mjs');
const N = Number(args.connections), C = Number(args.concurrency), SECONDS = Number(args.seconds);

function config({ dataDir, port }) {
  return `gateway: {instance: bench-webchat, data_dir: ${JSON.stringify(dataDir)}, threads: 1}
log: {level: warn}
listeners:
  - {name: local, bind: loopback, port: ${port}, max_connections: ${N + 1000}}
channels:
  - {name: webchat, type: webchat, listener: local, idle_timeout: 10m}
  - {name: api, type: api, listener: local}
models:
  - {name: demo, type: echo, chunks: 1}
agents:
  - {name: general, model: demo}
routes:
  - {name: default, agent: general}
`;
}

const CPUS = os.availableParallelism();
const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

function pin(pid, cpu, allThreads) {
  if (CPUS < 2) return false;
  execFileSync('taskset', [...(allThreads ? ['-a'] : []), '-cp', String(cpu), String(pid)], { stdio: 'ignore' });
  return true;
}

function openSocket(port) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/chat/ws`, { origin: `http://127.0.0.1:${port}`, perMessageDeflate: false });
    ws.once('error', reject);
    ws.once('open', () => ws.send('{"type":"hello"}'));
    ws.once('message', (data) => {
      const frame = JSON.parse(data);
      if (frame.type === 'ready') resolve(ws);
      else reject(new Error(`unexpected first frame ${data}`));
    });
  });
}

async function openMany(port, n) {
  const sockets = [];
  for (let i = 0; i < n; i += 500) {
    const batch = await Promise.all(Array.from({ length: Math.min(500, n - i) }, () => openSocket(port)));
    sockets.push(...batch);
  }
  return sockets;
}

// Each socket sends a message, waits for `done`, and sends the next, until time is up.
async function chatLoad(port, concurrency, seconds) {
  const sockets = await openMany(port, concurrency);
  const deadline = Date.now() + seconds * 1000;
  let messages = 0, errors = 0;
  const codes = {};
  await Promise.all(sockets.map((ws) => new Promise((resolve) => {
    const next = () => {
      if (Date.now() >= deadline) return resolve();
      ws.send('{"type":"message","text":"hello bench"}');
    };
    ws.on('message', (data) => {
      const frame = JSON.parse(data);
      if (frame.type === 'done') messages++;
      else if (frame.type === 'error' || frame.type === 'notice') {
        errors++;
        codes[frame.code] = (codes[frame.code] ?? 0) + 1;
        return setTimeout(next, 100);  // a refused client backs off, as the page's user would
      } else return;
      next();
    });
    next();
  })));
  for (const ws of sockets) ws.terminate();
  return { perSecond: messages / seconds, errors: errors ? `${errors} ${JSON.stringify(codes)}` : 0 };
}

// The same through the API channel: non-stream chat completions over keep-alive connections.
async function apiLoad(port, concurrency, seconds) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const body = JSON.stringify({ messages: [{ role: 'user', content: 'hello bench' }] });
  const deadline = Date.now() + seconds * 1000;
  let requests = 0, errors = 0;
  const codes = {};
  const one = () => new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/v1/chat/completions', method: 'POST', agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) requests++;
        else {
          errors++;
          codes[res.statusCode] = (codes[res.statusCode] ?? 0) + 1;
          return setTimeout(resolve, 100);  // honour the 503's Retry-After, roughly
        }
        resolve();
      });
    });
    req.on('error', () => { errors++; resolve(); });
    req.end(body);
  });
  await Promise.all(Array.from({ length: concurrency }, async () => { while (Date.now() < deadline) await one(); }));
  agent.destroy();
  return { perSecond: requests / seconds, errors: errors ? `${errors} ${JSON.stringify(codes)}` : 0 };
}

const hermes = new Daemon();
await hermes.start(config);
try {
  const pinned = pin(hermes.child.pid, 1, false) && pin(process.pid, 0, true);
  await sleep(500);
  const idle = rssKiB(hermes.child.pid);

  const t0 = Date.now();
  const sockets = await openMany(hermes.port, N);
  const openSeconds = (Date.now() - t0) / 1000;
  await sleep(1000);
  const held = rssKiB(hermes.child.pid);
  const status = await (await fetch(`http://127.0.0.1:${hermes.port}/metrics`)).text();
  const open = Number(/hermes_webchat_connections\{channel="webchat"\} (\d+)/.exec(status)?.[1] ?? -1);
  for (const ws of sockets) ws.terminate();
  await sleep(1000);

  const api = await apiLoad(hermes.port, C, SECONDS);
  const chat = await chatLoad(hermes.port, C, SECONDS);

  const mib = (kib) => (kib / 1024).toFixed(1);
  const lines = [
    `## Web chat (${new Date().toISOString().slice(0, 10)}, ${CPUS} CPUs` +
      `${pinned ? ', hermesd\'s event loop on CPU 1, the client on CPU 0 (taskset)' : ''})`,
    '',
    '| figure | value |',
    '|---|---|',
    `| hermesd idle RSS | ${mib(idle)} MiB |`,
    `| idle WebSockets held (gateway's own count) | ${open} of ${N} opened in ${openSeconds.toFixed(1)} s |`,
    `| RSS with them open | ${mib(held)} MiB (goal: 10,000 under 300 MB) |`,
    `| RSS per idle WebSocket | ${((held - idle) / N).toFixed(1)} KiB |`,
    `| API channel, echo, ${C} keep-alive clients (baseline) | ${api.perSecond.toFixed(0)} req/s, ${api.errors} errors |`,
    `| web chat, echo, ${C} sockets, one message at a time each | ${chat.perSecond.toFixed(0)} messages/s, ${chat.errors} errors |`,
    `| web chat / API | ${(chat.perSecond / api.perSecond).toFixed(2)} |`,
  ];
  console.log(lines.join('\n'));
} finally {
  await hermes.stop();
}
