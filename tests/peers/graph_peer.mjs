// A stand-in for Meta's WhatsApp Cloud API, for tests. Node 20, no npm deps.
//
//   node tests/peers/graph_peer.mjs --port 0 --app-secret S --token T   → prints "listening <port>"
//
// Graph API side: POST /<version>/<phone_number_id>/messages with `Authorization: Bearer T`
// answers as Meta does: {"messaging_product":"whatsapp","contacts":[…],"messages":[{"id":"wamid.OUT<n>"}]}
// for a text message, {"success":true} for a read receipt. Scripted by recipient (`to`):
//   15550130429  the first send answers 400 with error code 130429 (throughput), then succeeds
//   15550131047  400 with error code 131047 (outside the 24-hour window) to free text, always
// The 24-hour window, as Meta keeps it: POST /_close {"to"} closes a recipient's window (as if
// 24 hours had passed), and a message from them posted through /_send opens it again. Free
// text to a closed window answers 131047; a template (`type: template`) goes through when its
// name is one of --templates (default follow_up), else 132001.
//   15550000500  the first send answers HTTP 500, then succeeds
// A wrong token answers 401 with error code 190, as Meta does for an expired token.
// With --mps N, more than N sends from one phone number within a second answer 130429; with
// --pair-ms M, a second send to one recipient within M ms answers 131056 (Meta's limits,
// scaled down). GET /_limits counts the refusals.
// GET /_sent lists every call (path, body, authorized, status); DELETE /_sent clears them.
//
// Webhook side: POST /_send {"url", "payload", "signature"?} signs `payload` as Meta does
// (X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>) — or sends the
// given `signature`, or none when it is "" — POSTs it to `url`, and answers
// {"status", "body"} with hermesd's answer.
import crypto from 'node:crypto';
import http from 'node:http';

let port = 0, appSecret = '', token = '', mps = 0, pairMs = 0;
let templates = new Set(['follow_up']);
const closedWindows = new Set();
const limits = { throughput: 0, pair: 0 };
const recentByNumber = new Map();  // phone number id -> send times in the last second
const lastByRecipient = new Map();
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--port') port = Number(process.argv[++i]);
  else if (process.argv[i] === '--mps') mps = Number(process.argv[++i]);
  else if (process.argv[i] === '--pair-ms') pairMs = Number(process.argv[++i]);
  else if (process.argv[i] === '--app-secret') appSecret = process.argv[++i];
  else if (process.argv[i] === '--token') token = process.argv[++i];
  else if (process.argv[i] === '--templates') templates = new Set(process.argv[++i].split(','));
}

const sent = [];
const seen = new Map();  // recipient -> sends so far
let nextId = 1;

function json(res, status, body) {
  if (res.record) res.record.status = status;  // what a /messages call was answered
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function graphError(res, status, code, message) {
  json(res, status, { error: { message, type: 'OAuthException', code, fbtrace_id: 'Atrace' } });
}

function readBody(req) {
  return new Promise((resolve) => {
    const parts = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
  });
}

function messages(req, res, body, path) {
  const authorized = req.headers.authorization === `Bearer ${token}`;
  let parsed = null;
  try { parsed = JSON.parse(body); } catch { parsed = null; }
  res.record = { path, body: parsed, authorized };
  sent.push(res.record);
  if (!authorized) return graphError(res, 401, 190, 'Error validating access token: Session has expired.');
  if (parsed?.status === 'read') return json(res, 200, { success: true });
  const to = parsed?.to ?? parsed?.recipient ?? '';
  const now = Date.now();
  const number = path.split('/')[2];
  if (mps > 0) {
    const recent = (recentByNumber.get(number) ?? []).filter((t) => now - t < 1000);
    recent.push(now);
    recentByNumber.set(number, recent);
    if (recent.length > mps) {
      limits.throughput++;
      return graphError(res, 400, 130429, 'Rate limit hit');
    }
  }
  if (pairMs > 0) {
    const last = lastByRecipient.get(to);
    lastByRecipient.set(to, now);
    if (last !== undefined && now - last < pairMs) {
      limits.pair++;
      return graphError(res, 400, 131056, 'Pair rate limit hit');
    }
  }
  const n = (seen.get(to) ?? 0) + 1;
  seen.set(to, n);
  if (to === '15550130429' && n === 1) return graphError(res, 400, 130429, 'Rate limit hit');
  if (parsed?.type === 'template') {
    if (!templates.has(parsed?.template?.name)) {
      return graphError(res, 400, 132001, 'Template name does not exist in the translation');
    }
  } else if (to === '15550131047' || closedWindows.has(to)) {
    return graphError(res, 400, 131047, 'Re-engagement message');
  }
  if (to === '15550000500' && n === 1) return json(res, 500, { error: { message: 'boom', code: 1 } });
  const id = `wamid.OUT${nextId++}`;
  json(res, 200, { messaging_product: 'whatsapp', contacts: [{ input: to, wa_id: to }], messages: [{ id }] });
}

// A message from a user opens their window.
function openWindows(payload) {
  for (const entry of payload?.entry ?? []) {
    for (const change of entry?.changes ?? []) {
      for (const m of change?.value?.messages ?? []) {
        if (m.from) closedWindows.delete(m.from);
        if (m.user_id) closedWindows.delete(m.user_id);
      }
    }
  }
}

async function send(res, request) {
  openWindows(request.payload);
  const raw = JSON.stringify(request.payload);
  const headers = { 'content-type': 'application/json' };
  if (request.signature === undefined) {
    headers['x-hub-signature-256'] = 'sha256=' + crypto.createHmac('sha256', appSecret).update(raw).digest('hex');
  } else if (request.signature !== '') {
    headers['x-hub-signature-256'] = request.signature;
  }
  try {
    const answer = await fetch(request.url, { method: 'POST', headers, body: raw });
    json(res, 200, { status: answer.status, body: await answer.text() });
  } catch (err) {
    json(res, 200, { status: 0, body: String(err) });
  }
}

const server = http.createServer(async (req, res) => {
  const path = req.url.split('?')[0];
  const body = await readBody(req);
  if (path === '/_sent') {
    if (req.method === 'DELETE') sent.length = 0;
    return json(res, 200, sent);
  }
  if (path === '/_send' && req.method === 'POST') return send(res, JSON.parse(body));
  if (path === '/_limits') return json(res, 200, limits);
  if (path === '/_close' && req.method === 'POST') {
    closedWindows.add(JSON.parse(body).to);
    return json(res, 200, { closed: [...closedWindows] });
  }
  if (req.method === 'POST' && /^\/v\d+(\.\d+)?\/[^/]+\/messages$/.test(path)) return messages(req, res, body, path);
  json(res, 404, { error: { message: `unknown path ${path}`, code: 100 } });
});

server.listen(port, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
