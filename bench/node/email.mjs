// Email benchmark: mail handed to hermesd over LMTP (as Postfix would), answered by the
// echo model and sent by SMTP submission, against the api channel's req/s on the same
// hermesd in the same run.
//
//   node bench/node/email.mjs [--hermesd PATH] [--seconds 10] [--connections 16] [--senders 64]
//     [--api-connections 16] [--max-wait-s 30]
//
// Starts, in this process (pinned to CPU 0 with taskset when there are two CPUs or more):
// an SMTP sink on 127.0.0.1 (node:net: 220, EHLO with PIPELINING, MAIL/RCPT 250, DATA 354,
// read to <CRLF>.<CRLF>, 250, QUIT 221) that counts the answers hermesd submits; and
// hermesd (threads: 1, every thread on CPU 1) with an api channel and an email channel on
// an LMTP listener, the echo model behind one route. Then, one after another:
//   - the api channel's baseline: wrk (CPU 0) POSTs /v1/chat/completions over
//     --api-connections keep-alive connections, run.mjs's body;
//   - LMTP at 1 and at --connections connections: each connection says LHLO once, then
//     loops MAIL FROM (one of --senders senders) + RCPT TO + DATA pipelined, waits for the
//     354, sends a ~1 KB message (unique Message-ID, CRLF, dot-stuffed) and waits for the
//     one final reply (one recipient). A 4xx/5xx anywhere counts as a non-250 reply and
//     makes the connection back off 50–100 ms, as an MTA would retry later.
// After each LMTP run it waits until the sink's count stops growing for 2 s (or every
// accepted message is answered, or --max-wait-s) and reports answers delivered per second
// from the start of the run to the last answer. Also reported: hermesd's RSS (idle, peak,
// at the end) and CPU share per run, this process's CPU share (near 100%: the client may be
// the limit), the lines hermesd logged (at warn and above); its LMTP, email and outbox
// metrics go to stderr. Prints a Markdown section (`## Email`);
// figures it could not take print as NaN, and the exit status is 1 when hermesd did not start.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, freePort, rssMiB, spawnHermesd, untilHermesdReady, wrkApiBaseline } from './processes.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = { hermesd: process.env.HERMESD ?? path.resolve(here, '../../build/default/bin/hermesd'), seconds: 10,
               connections: 16, senders: 64, 'api-connections': 16, 'max-wait-s': 30 };
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const SECONDS = Number(args.seconds), CONNECTIONS = Number(args.connections), SENDERS = Number(args.senders);
const API_CONNECTIONS = Number(args['api-connections']), MAX_WAIT_S = Number(args['max-wait-s']);
// The machine's CPUs, not this process's: run.mjs may start it already pinned to CPU 0.
const CPUS = os.cpus().length;
const PINNED = CPUS >= 2;
const ADDRESS = 'support@corp.example';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tmp = mkdtempSync(path.join(os.tmpdir(), 'hermes-bench-email-'));

let hermesd = null;
process.on('exit', () => {
  if (hermesd && hermesd.exitCode === null) hermesd.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

// This process (load client and sink) on CPU 0, every thread of it.
if (PINNED) execFileSync('taskset', ['-a', '-cp', '0', String(process.pid)], { stdio: 'ignore' });

// --- The SMTP sink: where hermesd submits its answers. ---
const sink = { delivered: 0 };
function startSink() {
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    sock.on('error', () => {});
    let buf = '', data = null;  // data: the message so far, from a CRLF before its first line
    sock.write('220 sink.bench ESMTP\r\n');
    sock.on('data', (chunk) => {
      buf += chunk.toString('latin1');
      for (;;) {
        if (data !== null) {
          const from = Math.max(0, data.length - 4);
          data += buf;
          buf = '';
          const end = data.indexOf('\r\n.\r\n', from);
          if (end < 0) return;
          buf = data.slice(end + 5);
          data = null;
          sink.delivered++;
          sock.write('250 2.0.0 Ok: queued\r\n');
          continue;
        }
        const eol = buf.indexOf('\r\n');
        if (eol < 0) return;
        const verb = buf.slice(0, Math.min(4, eol)).toUpperCase();
        buf = buf.slice(eol + 2);
        if (verb === 'EHLO') sock.write('250-sink.bench\r\n250 PIPELINING\r\n');
        else if (verb === 'HELO' || verb === 'MAIL' || verb === 'RCPT' || verb === 'RSET' || verb === 'NOOP') {
          sock.write('250 2.0.0 Ok\r\n');
        } else if (verb === 'DATA') {
          data = '\r\n';
          sock.write('354 End data with <CR><LF>.<CR><LF>\r\n');
        } else if (verb === 'QUIT') {
          sock.end('221 2.0.0 Bye\r\n');
          return;
        } else sock.write('502 5.5.2 Command not recognized\r\n');
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// --- hermesd, every thread on CPU 1; its output kept for the report. ---
let hermes = null;  // spawnHermesd's: the child and its output
const hermesLog = () => hermes?.log() ?? '';
async function startHermes({ httpPort, lmtpPort, smtpPort }) {
  const dir = path.join(tmp, 'data');
  const conf = path.join(tmp, 'hermes.yaml');
  writeFileSync(conf, `gateway: {instance: bench-email, data_dir: ${JSON.stringify(dir)}, threads: 1}
log: {level: warn}
listeners:
  - {name: local, bind: loopback, port: ${httpPort}}
  - {name: mail-in, bind: loopback, port: ${lmtpPort}, protocol: lmtp}
channels:
  - {name: api, type: api, listener: local}
  - name: mail
    type: email
    listener: mail-in
    addresses: [${ADDRESS}]
    from: "Corp Support <${ADDRESS}>"
    smtp: {host: 127.0.0.1, port: ${smtpPort}, security: none}
models:
  - {name: demo, type: echo}
agents:
  - {name: general, model: demo}
routes:
  - {name: default, agent: general}
audit: {store_text: hash}
`);
  hermes = spawnHermesd(args.hermesd, ['--config', conf]);
  hermesd = hermes.child;
  await untilHermesdReady(hermes, async () => {
    const r = await fetch(`http://127.0.0.1:${httpPort}/healthz`, { signal: AbortSignal.timeout(1000) });
    await r.arrayBuffer();
    return r.status === 200;
  }, () => 'answer /healthz');
}

// --- The LMTP load: one connection, replies read as codes in order. ---
class Lmtp {
  constructor(port) {
    this.sock = net.connect(port, '127.0.0.1');
    this.sock.setNoDelay(true);
    this.buf = '';
    this.codes = [];    // complete replies not yet taken
    this.waiting = [];  // resolvers of reply()
    this.closed = false;
    this.sock.on('data', (chunk) => {
      this.buf += chunk.toString('latin1');
      let eol;
      while ((eol = this.buf.indexOf('\r\n')) >= 0) {
        const line = this.buf.slice(0, eol);
        this.buf = this.buf.slice(eol + 2);
        if (line.length > 3 && line[3] === '-') continue;  // a continuation line of a multi-line reply
        this.deliver(Number(line.slice(0, 3)) || 0);
      }
    });
    const gone = () => { this.closed = true; while (this.waiting.length) this.waiting.shift()(0); };
    this.sock.on('error', gone);
    this.sock.on('close', gone);
  }
  deliver(code) {
    if (this.waiting.length) this.waiting.shift()(code); else this.codes.push(code);
  }
  // The next reply's code; 0 when the connection is gone.
  reply() {
    if (this.codes.length) return Promise.resolve(this.codes.shift());
    if (this.closed) return Promise.resolve(0);
    return new Promise((resolve) => this.waiting.push(resolve));
  }
  write(s) { if (!this.closed) this.sock.write(s); }
  close() { this.sock.destroy(); }
}

// A ~1 KB message; the body is the same for every message, dot-stuffed once here (one of
// its lines starts with a dot).
const RUN = Date.now().toString(36);
const BODY = [
  'Hello,',
  '',
  'I ordered a replacement part last week and the tracking page still says the parcel is',
  'waiting at the depot. Could you tell me when it will be sent, and whether I need to do',
  'anything on my side? The order number is in the subject of this mail.',
  '',
  '.profile settings on the account page show my old address; the new one is below.',
  '',
  'Customer Name',
  '12 Example Street',
  '1000 Example City',
  '',
  'I also wanted to ask whether the warranty covers the part that failed, since the unit',
  'is only eight months old and was used as the manual describes. If you need photos of',
  'the damage or the receipt, I can send them in a reply to this message.',
  '',
  'Thank you for your help, and have a good day.',
  '',
  'Best regards,',
  'A customer',
].map((l) => (l.startsWith('.') ? `.${l}` : l)).join('\r\n') + '\r\n.\r\n';
const DATE = new Date().toUTCString().replace('GMT', '+0000');
let sequence = 0;
function message(i, k) {
  return `From: Customer ${k} <sender-${k}@customer.example>\r\nTo: Corp Support <${ADDRESS}>\r\n` +
    `Subject: Order ${i}: replacement part not sent yet\r\nMessage-ID: <bench-${RUN}-${i}@customer.example>\r\n` +
    `Date: ${DATE}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${BODY}`;
}

async function lmtpLoad(port, connections, seconds) {
  const conns = Array.from({ length: connections }, () => new Lmtp(port));
  for (const c of conns) {  // greeting, LHLO
    if ((await c.reply()) !== 220) throw new Error('LMTP: no 220 greeting');
    c.write('LHLO bench.client\r\n');
    if ((await c.reply()) !== 250) throw new Error('LMTP: LHLO refused');
  }
  const counts = { accepted: 0, refused: 0, lost: 0 };
  const codes = {};
  const refuse = (code) => { counts.refused++; codes[code] = (codes[code] ?? 0) + 1; };
  const start = Date.now();
  const deadline = start + seconds * 1000;
  const cpuBefore = process.cpuUsage();
  await Promise.all(conns.map(async (c) => {
    while (Date.now() < deadline && !c.closed) {
      const i = sequence++;
      const k = i % SENDERS;
      c.write(`MAIL FROM:<sender-${k}@customer.example>\r\nRCPT TO:<${ADDRESS}>\r\nDATA\r\n`);
      const mail = await c.reply(), rcpt = await c.reply(), data = await c.reply();
      let final = 0;
      if (data === 354) {
        c.write(message(i, k));
        final = await c.reply();
        if (final === 250) { counts.accepted++; continue; }
      }
      const code = mail !== 250 ? mail : rcpt !== 250 ? rcpt : data !== 354 ? data : final;
      if (code === 0) { counts.lost++; break; }
      refuse(code);
      if (data !== 354 && mail === 250) {  // the transaction is still open: end it
        c.write('RSET\r\n');
        await c.reply();
      }
      await sleep(50 + Math.random() * 50);  // an MTA retries later, not at once
    }
  }));
  const elapsed = (Date.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  for (const c of conns) { c.write('QUIT\r\n'); c.close(); }
  return { ...counts, codes, seconds: elapsed, start, clientCpu: (cpu.user + cpu.system) / 1e6 / elapsed };
}

// Waits until the sink's count stops growing for 2 s (or `expected` answers, or the bound).
async function drain(before, expected, start) {
  let delivered = sink.delivered - before, lastGrowth = Date.now();
  const waitUntil = Date.now() + MAX_WAIT_S * 1000;
  while (Date.now() < waitUntil && delivered < expected && Date.now() - lastGrowth < 2000) {
    await sleep(50);
    const now = sink.delivered - before;
    if (now > delivered) { delivered = now; lastGrowth = Date.now(); }
  }
  return { delivered, deliverySeconds: (lastGrowth - start) / 1000, drained: delivered >= expected };
}

const results = {};
let idleRss = NaN, peakRss = NaN, endRss = NaN, failure = null;
const sinkServer = await startSink();
const ports = { http: await freePort(), lmtp: await freePort() };
try {
  await startHermes({ httpPort: ports.http, lmtpPort: ports.lmtp, smtpPort: sinkServer.address().port });
  await sleep(300);
  idleRss = rssMiB(hermesd.pid);
  const sampler = setInterval(() => { peakRss = Math.max(peakRss || 0, rssMiB(hermesd.pid)); }, 200);
  results.api = await wrkApiBaseline(tmp, `http://127.0.0.1:${ports.http}/v1/chat/completions`, API_CONNECTIONS, SECONDS);
  for (const c of [1, CONNECTIONS]) {
    const before = sink.delivered, cpuBefore = cpuSeconds(hermesd.pid);
    const load = await lmtpLoad(ports.lmtp, c, SECONDS);
    const hermesCpu = (cpuSeconds(hermesd.pid) - cpuBefore) / load.seconds;
    results[c] = { ...load, hermesCpu, ...(await drain(before, load.accepted, load.start)) };
  }
  clearInterval(sampler);
  endRss = rssMiB(hermesd.pid);
} catch (e) {
  failure = e;
  console.error(e.message);
}
// For the reader of stderr: what hermesd counted (LMTP replies by code, the outbox).
if (!failure) {
  const text = await fetch(`http://127.0.0.1:${ports.http}/metrics`).then((r) => r.text()).catch(() => '');
  const counted = text.split('\n').filter((l) => /^hermes_(lmtp_replies_total|outbox_pending|email_)/.test(l));
  if (counted.length) console.error(counted.join('\n'));
}
if (hermesd && hermesd.exitCode === null) {
  hermesd.kill('SIGTERM');
  await Promise.race([new Promise((r) => hermesd.once('exit', r)), sleep(5000)]);
}
sinkServer.close();

// --- The report. ---
const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : 'NaN');
const perSecond = (n, s) => (n > 0 ? n / s : NaN);  // nothing accepted or delivered: the setup is broken
const rate = (c) => perSecond(results[c]?.accepted, results[c]?.seconds);
const answers = (c) => perSecond(results[c]?.delivered, results[c]?.deliverySeconds);
const refusals = (c) => {
  const r = results[c];
  if (!r) return 'NaN';
  const codes = Object.entries(r.codes).map(([k, v]) => `${k}: ${v}`).join(', ');
  return `${r.refused}${codes ? ` (${codes})` : ''}${r.lost ? `, ${r.lost} connection(s) lost` : ''}`;
};
const delivered = (c) => {
  const r = results[c];
  if (!r) return 'NaN';
  return `${f(answers(c))} (${r.delivered} of ${r.accepted} in ${f(r.deliverySeconds, 1)} s` +
    `${r.drained ? '' : `; not all answered within the ${MAX_WAIT_S} s wait`})`;
};
const apiRps = results.api?.rps ?? NaN;
const warnings = hermesLog().split('\n').filter((l) => l.trim()).length;
const lines = ['## Email', '',
  `hermesd (threads: 1${PINNED ? ', on CPU 1' : ''}) takes mail for ${ADDRESS} over LMTP from a Node client ` +
  `(${PINNED ? 'CPU 0, ' : ''}one LHLO per connection, then MAIL + RCPT + DATA pipelined, a ~1 KB message with a unique ` +
  `Message-ID from one of ${SENDERS} senders, the final 250 awaited) for ${SECONDS} s per run; each message is ` +
  'claimed in intake.db, answered by the echo model and submitted by SMTP to a sink in the client\'s process, ' +
  'which counts the answers. Delivered/s runs from the start of a run to its last answer (waited for until ' +
  `the count stood still for 2 s, at most ${MAX_WAIT_S} s). Baseline: the api channel of the same hermesd, wrk ` +
  `at ${API_CONNECTIONS} connections, the echo model. Aims, not gates.`, '',
  '| figure | value |', '|---|---|',
  `| messages/s accepted (final 250), 1 connection | ${f(rate(1))} |`,
  `| messages/s accepted, ${CONNECTIONS} connections | ${f(rate(CONNECTIONS))} |`,
  `| answers delivered/s (SMTP sink), 1 connection | ${delivered(1)} |`,
  `| answers delivered/s, ${CONNECTIONS} connections | ${delivered(CONNECTIONS)} |`,
  `| non-250 replies (4xx: busy), 1 / ${CONNECTIONS} connections | ${refusals(1)} / ${refusals(CONNECTIONS)} |`,
  `| api channel req/s, ${API_CONNECTIONS} connections (baseline) | ${f(apiRps)}` +
    `${results.api?.errors ? ` (${results.api.errors} errors)` : ''} |`,
  `| messages/s at ${CONNECTIONS} ÷ api req/s | ${f(rate(CONNECTIONS) / apiRps, 2)} |`,
  `| answers delivered/s at ${CONNECTIONS} ÷ api req/s | ${f(answers(CONNECTIONS) / apiRps, 2)} |`,
  `| hermesd RSS idle / peak over the runs / at the end | ${f(idleRss, 1)} / ${f(peakRss, 1)} / ${f(endRss, 1)} MiB |`,
  `| hermesd CPU during the runs (all threads; 100% = one CPU), 1 / ${CONNECTIONS} connections | ` +
    `${f(results[1]?.hermesCpu * 100)}% / ${f(results[CONNECTIONS]?.hermesCpu * 100)}% |`,
  `| load process CPU (client and sink), 1 / ${CONNECTIONS} connections | ${f(results[1]?.clientCpu * 100)}% / ` +
    `${f(results[CONNECTIONS]?.clientCpu * 100)}%${results[CONNECTIONS]?.clientCpu > 0.9 ? ' (near full: the client may be the limit)' : ''} |`,
  `| hermesd log lines (level warn and above) | ${warnings} |`,
];
console.log(lines.join('\n'));
if (warnings) console.error(`hermesd's log (first lines):\n${hermesLog().split('\n').slice(0, 10).join('\n')}`);
process.exit(failure ? 1 : 0);
