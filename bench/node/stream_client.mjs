// Streaming load client for scenario 4 (run by run.mjs in a child process pinned to CPU 0,
// as wrk is, so the contender on CPU 1 has its core to itself). `--concurrency` lanes each
// send one streamed chat completion after another over keep-alive connections, until
// `--seconds` have passed and at least `--min-streams` streams were sent, after `--warmup`
// streams that are not counted (the first stream of a fresh client and a cold proxy pays
// for connecting and JIT warm-up, which would be most of a p99 of 50). Prints one JSON
// object:
//   {streams, completed, stalled, errors, codes, ttft_us: {n, p50, p99},
//    done_ms: {n, p50, p99}, max_gap_ms, seconds, client_cpu}
// (`client_cpu`: the share of one CPU this client used; near 1, the client may be the limit.)
// A stream is `completed` when `data: [DONE]` arrived within the deadline with no gap
// between chunks longer than --stall-ms; `stalled` when it had such a gap or missed the
// deadline (--chunks × --pace-ms + 5 s: then it is cut); `errors`: any other status than
// 200, a socket error, or an end without [DONE]. The three are disjoint.
//
//   node stream_client.mjs --url URL [--headers JSON] [--concurrency 1] [--seconds 10]
//     [--min-streams 0] [--warmup 0] [--chunks 64] [--pace-ms 20] [--stall-ms 1000]
import http from 'node:http';

const args = { headers: '{}', concurrency: '1', seconds: '10', 'min-streams': '0', warmup: '0', chunks: '64',
               'pace-ms': '20', 'stall-ms': '1000' };
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const url = new URL(args.url);
const CONCURRENCY = Number(args.concurrency);
const MIN_STREAMS = Number(args['min-streams']);
const STALL_NS = BigInt(Number(args['stall-ms']) * 1e6);
const DEADLINE_MS = Number(args.chunks) * Number(args['pace-ms']) + 5000;
const body = JSON.stringify({ model: 'auto', stream: true,
                              messages: [{ role: 'user', content: 'hello bench, stream please' }] });
const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body),
                  ...JSON.parse(args.headers) };
const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// True when an SSE `data:` line carries generated text: some proxies send a role-only
// chunk first, which is not a token.
function hasContent(line) {
  if (!line.startsWith('data:')) return false;
  const data = line.slice(5).trim();
  if (data === '[DONE]') return false;
  try {
    return Boolean(JSON.parse(data).choices?.[0]?.delta?.content);
  } catch { return false; }
}

// One streamed request. Resolves {outcome, code, ttftNs, doneNs, maxGapNs}; never rejects.
function stream() {
  return new Promise((resolve) => {
    const result = { outcome: 'error', code: 'socket', ttftNs: null, doneNs: null, maxGapNs: 0n };
    let settled = false;
    const finish = (outcome, code) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...result, outcome, code });
    };
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers });
    // Cut a stream that runs past its deadline: a stuck proxy must not stall the lane.
    const timer = setTimeout(() => { finish('stalled', 'deadline'); req.destroy(); }, DEADLINE_MS);
    req.on('error', () => finish('error', 'socket'));
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        res.on('end', () => finish('error', String(res.statusCode)));
        return;
      }
      res.setEncoding('utf8');
      let pending = '';  // text not yet split into lines, until the first token
      let tail = '';     // the end of the previous chunk, for a [DONE] split across reads
      let last = 0n;
      res.on('data', (text) => {
        const now = process.hrtime.bigint();
        if (last !== 0n && now - last > result.maxGapNs) result.maxGapNs = now - last;
        last = now;
        if (result.ttftNs === null) {
          pending += text;
          const lines = pending.split('\n');
          pending = lines.pop();
          if (lines.some(hasContent)) {
            result.ttftNs = now - t0;
            pending = '';
          }
        }
        if (result.doneNs === null && (tail + text).includes('data: [DONE]')) result.doneNs = now - t0;
        tail = text.slice(-16);
      });
      res.on('end', () => {
        if (result.doneNs === null) finish('error', 'no_done');
        else finish(result.maxGapNs > STALL_NS ? 'stalled' : 'completed', 'ok');
      });
      res.on('error', () => finish('error', 'socket'));
    });
    const t0 = process.hrtime.bigint();
    req.end(body);
  });
}

// Nearest-rank percentile of a sorted array; NaN (null in JSON) when empty.
const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : NaN);
const summary = (values) => {
  const s = values.sort((a, b) => a - b);
  return { n: s.length, p50: pct(s, 50), p99: pct(s, 99) };
};

for (let i = 0; i < Number(args.warmup); i++) await stream();

const counts = { streams: 0, completed: 0, stalled: 0, errors: 0 };
const codes = {};
const ttftUs = [], doneMs = [];
let maxGapNs = 0n;
const start = Date.now();
const deadline = start + Number(args.seconds) * 1000;
const cpuBefore = process.cpuUsage();

async function lane() {
  while (Date.now() < deadline || counts.streams < MIN_STREAMS) {
    counts.streams++;
    const r = await stream();
    counts[r.outcome === 'completed' ? 'completed' : r.outcome === 'stalled' ? 'stalled' : 'errors']++;
    if (r.outcome === 'error') codes[r.code] = (codes[r.code] ?? 0) + 1;
    if (r.ttftNs !== null) ttftUs.push(Number(r.ttftNs) / 1e3);
    if (r.doneNs !== null) doneMs.push(Number(r.doneNs) / 1e6);
    if (r.maxGapNs > maxGapNs) maxGapNs = r.maxGapNs;
    if (r.outcome === 'error') await sleep(50);  // a refusing proxy is not hammered in a loop
  }
}

await Promise.all(Array.from({ length: CONCURRENCY }, lane));
const seconds = (Date.now() - start) / 1000;
const cpu = process.cpuUsage(cpuBefore);
agent.destroy();
console.log(JSON.stringify({ ...counts, codes, ttft_us: summary(ttftUs), done_ms: summary(doneMs),
                             max_gap_ms: Number(maxGapNs) / 1e6, seconds,
                             client_cpu: (cpu.user + cpu.system) / 1e6 / seconds }));
