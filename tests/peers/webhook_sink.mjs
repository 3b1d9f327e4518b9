// A stand-in for a webhook receiver: records every POST (path, headers, JSON
// body) and serves them at GET /_requests. `--fail N` answers the first N
// deliveries with 500, to exercise retries.
import http from 'node:http';

let port = 0;
let failures = 0;
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--port') port = Number(process.argv[++i]);
  if (process.argv[i] === '--fail') failures = Number(process.argv[++i]);
}
const recorded = [];

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/_requests') {
    const text = JSON.stringify(recorded);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    let json = null;
    try { json = JSON.parse(body); } catch { /* recorded as null */ }
    if (failures > 0) {
      failures--;
      res.writeHead(500);
      res.end('try again');
      return;
    }
    recorded.push({ method: req.method, path: req.url, headers: req.headers, body: json, raw: body });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': 11 });
    res.end('{"ok":true}');
  });
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
