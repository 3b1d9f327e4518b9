// A stand-in for Slack, speaking its real formats on both sides:
//   Web API (what hermesd calls, under /api):
//     POST /api/auth.test          -> {"ok":true,"user_id":"UBOT",...} for the right Bearer token
//     POST /api/chat.postMessage   -> {"ok":true,"channel","ts","message"}; records the post
//   Events API (what Slack sends to hermesd), driven by the test:
//     POST /_send {"url", "payload", "retry_num"?, "retry_reason"?, "ts_offset"?, "secret"?, "unsigned"?}
//       signs JSON.stringify(payload) exactly as Slack does
//       (X-Slack-Signature: v0=hex(HMAC-SHA256(signing secret, "v0:<ts>:<body>")),
//       X-Slack-Request-Timestamp) and POSTs it; answers {"status", "body"}.
//   Test control:
//     POST /_script [{"status":429,"retry_after":"1"}, {"error":"channel_not_found"}, ...]
//       answers the next chat.postMessage calls with these, in order, then success
//       ({"delay_ms": N} records the post at once and answers N ms later)
//     POST /_token {"token"} accepts this bot token from now on (a rotation at Slack)
//     POST /_scopes {"missing": true} conversations.history/replies answer missing_scope
//   conversations.history and conversations.replies list the recorded posts, newest first,
//   with the metadata they were posted with when include_all_metadata is set.
//     GET /_posts (delivered posts)   GET /_calls (every Web API call)
//
//   node slack_peer.mjs --port 0 --signing-secret S --token xoxb-…
import crypto from 'node:crypto';
import http from 'node:http';

const options = { port: 0, signingSecret: '', token: '' };
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--port') options.port = Number(process.argv[++i]);
  if (process.argv[i] === '--signing-secret') options.signingSecret = process.argv[++i];
  if (process.argv[i] === '--token') options.token = process.argv[++i];
}

const posts = [];
const scopes = { missing: false };  // POST /_scopes {"missing": true}: history methods answer missing_scope
const calls = [];
const script = [];
let nextTs = 1700000000000100;

function sendJson(res, status, value, headers = {}) {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8',
                          'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function readBody(req) {
  return new Promise((resolve) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { body += c; });
    req.on('end', () => resolve(body));
  });
}

function signedHeaders(body, { secret, tsOffset }) {
  const timestamp = String(Math.floor(Date.now() / 1000) + (tsOffset ?? 0));
  const signature = 'v0=' + crypto.createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex');
  return { 'x-slack-request-timestamp': timestamp, 'x-slack-signature': signature };
}

async function sendEvent(spec) {
  const body = typeof spec.payload === 'string' ? spec.payload : JSON.stringify(spec.payload);
  const headers = { 'content-type': 'application/json', 'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)' };
  if (!spec.unsigned) {
    Object.assign(headers, signedHeaders(body, { secret: spec.secret ?? options.signingSecret,
                                                 tsOffset: spec.ts_offset }));
  }
  if (spec.retry_num !== undefined) {
    headers['x-slack-retry-num'] = String(spec.retry_num);
    headers['x-slack-retry-reason'] = spec.retry_reason ?? 'http_timeout';
  }
  const response = await fetch(spec.url, { method: 'POST', headers, body });
  return { status: response.status, body: await response.text() };
}

function webApi(method, req, body, res) {
  const authorized = req.headers.authorization === `Bearer ${options.token}`;
  let args = {};
  try { args = JSON.parse(body || '{}'); } catch { /* Slack answers invalid_json */ }
  calls.push({ method, at: Date.now(), authorized, content_type: req.headers['content-type'] ?? '', args });
  if (!authorized) return sendJson(res, 200, { ok: false, error: 'invalid_auth' });
  if (method === 'auth.test') {
    return sendJson(res, 200, { ok: true, url: 'https://hermes-test.slack.com/', team: 'Hermes Test',
                                user: 'hermes', team_id: 'T0001', user_id: 'UBOT', bot_id: 'B0001' });
  }
  if (method === 'chat.postMessage') {
    const step = script.shift();
    if (step?.status) {
      const headers = step.retry_after ? { 'retry-after': step.retry_after } : {};
      return sendJson(res, step.status, { ok: false, error: 'ratelimited' }, headers);
    }
    if (step?.error) return sendJson(res, 200, { ok: false, error: step.error });
    if (!args.channel) return sendJson(res, 200, { ok: false, error: 'channel_not_found' });
    if (!args.text) return sendJson(res, 200, { ok: false, error: 'no_text' });
    const ts = `${Math.floor(nextTs / 1e6)}.${String(nextTs++ % 1e6).padStart(6, '0')}`;
    posts.push({ channel: args.channel, text: args.text, thread_ts: args.thread_ts ?? null, ts,
                 metadata: args.metadata ?? null, request_id: req.headers['x-request-id'] ?? null });
    const answer = () => sendJson(res, 200, { ok: true, channel: args.channel, ts,
                                              message: { type: 'message', text: args.text, user: 'UBOT', bot_id: 'B0001', ts } });
    // {"delay_ms": N}: posted at once, answered late (a crash in between leaves the send ambiguous).
    if (step?.delay_ms) return setTimeout(answer, step.delay_ms);
    return answer();
  }
  if (method === 'conversations.history' || method === 'conversations.replies') {
    if (scopes.missing) return sendJson(res, 200, { ok: false, error: 'missing_scope', needed: 'channels:history' });
    // Newest first, as Slack lists them; metadata only when asked for.
    const inThread = method === 'conversations.replies';
    const messages = posts
      .filter((p) => p.channel === args.channel && (!inThread || p.thread_ts === args.ts))
      .reverse().slice(0, args.limit ?? 100)
      .map((p) => ({ type: 'message', user: 'UBOT', bot_id: 'B0001', text: p.text, ts: p.ts,
                     ...(p.thread_ts ? { thread_ts: p.thread_ts } : {}),
                     ...(args.include_all_metadata && p.metadata ? { metadata: p.metadata } : {}) }));
    return sendJson(res, 200, { ok: true, messages, has_more: false });
  }
  return sendJson(res, 200, { ok: false, error: 'unknown_method' });
}

const server = http.createServer(async (req, res) => {
  if (req.method === 'GET' && req.url === '/_posts') return sendJson(res, 200, posts);
  if (req.method === 'GET' && req.url === '/_calls') return sendJson(res, 200, calls);
  const body = await readBody(req);
  if (req.url === '/_script') {
    script.length = 0;
    script.push(...JSON.parse(body));
    return sendJson(res, 200, { queued: script.length });
  }
  if (req.url === '/_scopes') {
    scopes.missing = Boolean(JSON.parse(body).missing);
    return sendJson(res, 200, { ok: true });
  }
  if (req.url === '/_token') {
    options.token = JSON.parse(body).token;
    return sendJson(res, 200, { ok: true });
  }
  if (req.url === '/_send') {
    try {
      return sendJson(res, 200, await sendEvent(JSON.parse(body)));
    } catch (e) {
      return sendJson(res, 200, { status: 0, body: String(e) });
    }
  }
  if (req.url.startsWith('/api/')) return webApi(req.url.slice(5), req, body, res);
  sendJson(res, 404, { ok: false, error: 'not_found' });
});
server.listen(options.port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
