// A stand-in for a webhook receiver: records every POST (path, headers, JSON
// body) and serves the delivered ones at GET /_requests and every attempt
// (with the status it got and when) at GET /_attempts.
//   --fail N            answers the first N deliveries with 500
//   POST /_script [{"status":503}, {"status":429,"retry_after":"1"}, {"status":200,"delay_ms":3000}]
//                       answers the next deliveries with these, in order, then 200
//                       (replaces what is left of the previous script; [] clears it).
//                       A delayed 2xx is recorded as delivered when it arrives.
// A delivery answered 2xx is "delivered"; anything else is only an attempt.
import http from 'node:http';

let port = 0;
const script = [];
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--port') port = Number(process.argv[++i]);
  if (process.argv[i] === '--fail') {
    for (let n = Number(process.argv[++i]); n > 0; n--) script.push({ status: 500 });
  }
}
const recorded = [];
const attempts = [];

function sendJson(res, status, value, extraHeaders = {}) {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text),
                          ...extraHeaders });
  res.end(text);
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/_requests') return sendJson(res, 200, recorded);
  if (req.method === 'GET' && req.url === '/_attempts') return sendJson(res, 200, attempts);
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    if (req.url === '/_script') {
      script.length = 0;
      script.push(...JSON.parse(body));
      return sendJson(res, 200, { queued: script.length });
    }
    let json = null;
    try { json = JSON.parse(body); } catch { /* recorded as null */ }
    const step = script.shift() ?? { status: 200 };
    attempts.push({ at: Date.now(), status: step.status, body: json });
    if (step.status >= 200 && step.status < 300) {
      recorded.push({ method: req.method, path: req.url, headers: req.headers, body: json, raw: body });
      setTimeout(() => sendJson(res, step.status, { ok: true }), step.delay_ms ?? 0);
      return;
    }
    const headers = step.retry_after ? { 'retry-after': step.retry_after } : {};
    sendJson(res, step.status, { error: 'scripted failure' }, headers);
  });
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
