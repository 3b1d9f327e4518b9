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
//     POST /_streaming {"enabled": false} chat.startStream answers unknown_method
//   chat.startStream / appendStream / stopStream build a post (streamed: true) as Slack's
//   streaming methods do; chat.update rewrites a post (not one still streaming).
//   conversations.history and conversations.replies list the recorded posts, newest first,
//   with the metadata they were posted with when include_all_metadata is set.
//     GET /_posts (delivered posts)   GET /_calls (every Web API call)
//   Slash commands (events mode): POST /_send with "form": true sends `payload` (an object of
//   fields) form-encoded and signed, as Slack posts commands.
//   response_url: POST /_response/<any> records the body (GET /_responses); answers "ok".
//
//   Socket Mode (with --app-token, --tls-cert and --tls-key): POST /api/apps.connections.open
//   with the app token -> {"ok":true,"url":"wss://127.0.0.1:<tls port>/link/?ticket=…"} (a
//   ticket opens one socket, once). Each socket gets {"type":"hello"}; the test drives:
//     POST /_envelope {"type","payload","envelope_id"?,"socket"?,"redeliver_ms"?}
//       sends the envelope on socket `socket` (default: the newest open one); with
//       redeliver_ms, an envelope not acknowledged within it is sent again on another open
//       socket (retry_attempt + 1, up to 3 times), as Slack does. -> {"envelope_id","socket"}
//     POST /_disconnect {"socket","reason"?,"close_after_ms"?}  Slack's disconnect, then a close
//     POST /_drop {"socket"}      the TCP connection is destroyed (no close frame)
//     POST /_silence {"socket"}   the socket stops reading: no pong, nothing more sent
//     GET /_sockets  [{id, open, silenced, hello_at, closed_at}]   GET /_acks  [{envelope_id, socket}]
//
//   node slack_peer.mjs --port 0 --signing-secret S --token xoxb-… [--app-token xapp-… --tls-cert F --tls-key F]
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { WebSocketServer } from 'ws';

const options = { port: 0, signingSecret: '', token: '', appToken: '', tlsCert: '', tlsKey: '' };
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--port') options.port = Number(process.argv[++i]);
  if (process.argv[i] === '--signing-secret') options.signingSecret = process.argv[++i];
  if (process.argv[i] === '--token') options.token = process.argv[++i];
  if (process.argv[i] === '--app-token') options.appToken = process.argv[++i];
  if (process.argv[i] === '--tls-cert') options.tlsCert = process.argv[++i];
  if (process.argv[i] === '--tls-key') options.tlsKey = process.argv[++i];
}

const posts = [];
const streaming = { enabled: true };  // POST /_streaming {"enabled": false}: chat.startStream answers unknown_method
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
  const body = spec.form ? new URLSearchParams(spec.payload).toString()
    : typeof spec.payload === 'string' ? spec.payload : JSON.stringify(spec.payload);
  const headers = { 'content-type': spec.form ? 'application/x-www-form-urlencoded' : 'application/json',
                    'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)' };
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

// ---- Socket Mode ----
const sockets = [];  // {id, ws, open, silenced, hello_at, closed_at}
const tickets = new Set();
const acks = [];
const pending = new Map();  // envelope_id -> {envelope, timer, tries}
let wssPort = 0;
let nextEnvelope = 1;

function openSockets() { return sockets.filter((s) => s.open && !s.silenced); }

function sendEnvelope(envelope, socketId, redeliverMs) {
  const target = socketId !== undefined ? sockets.find((s) => s.id === socketId) : openSockets().at(-1);
  if (!target || !target.open) return null;
  target.ws.send(JSON.stringify(envelope));
  if (redeliverMs) {
    const entry = pending.get(envelope.envelope_id) ?? { tries: 0 };
    entry.timer = setTimeout(() => {
      if (!pending.has(envelope.envelope_id) || entry.tries >= 3) return;
      entry.tries++;
      const others = openSockets().filter((s) => s.id !== target.id);
      const next = others.at(-1) ?? openSockets().at(-1);
      if (next) sendEnvelope({ ...envelope, retry_attempt: entry.tries, retry_reason: 'timeout' }, next.id, redeliverMs);
    }, redeliverMs);
    pending.set(envelope.envelope_id, entry);
  }
  return target.id;
}

function startSocketMode() {
  if (!options.tlsCert) return Promise.resolve();
  const server = https.createServer({ cert: fs.readFileSync(options.tlsCert), key: fs.readFileSync(options.tlsKey) });
  const wss = new WebSocketServer({ server, maxPayload: 4 * 1024 * 1024 });
  wss.on('connection', (ws, req) => {
    const ticket = new URL(req.url, 'wss://x').searchParams.get('ticket');
    if (!tickets.delete(ticket)) return ws.close(1008, 'invalid ticket');  // a ticket opens one socket
    const socket = { id: sockets.length + 1, ws, open: true, silenced: false, hello_at: Date.now(), closed_at: null };
    sockets.push(socket);
    ws.on('message', (data) => {
      let ack = null;
      try { ack = JSON.parse(String(data)); } catch { return; }
      if (!ack?.envelope_id) return;
      acks.push({ envelope_id: ack.envelope_id, socket: socket.id, payload: ack.payload ?? null, at: Date.now() });
      const entry = pending.get(ack.envelope_id);
      if (entry) { clearTimeout(entry.timer); pending.delete(ack.envelope_id); }
    });
    ws.on('close', () => { socket.open = false; socket.closed_at = Date.now(); });
    ws.on('error', () => {});
    ws.send(JSON.stringify({ type: 'hello', num_connections: openSockets().length,
                             debug_info: { host: 'applink-test', build_number: 1, approximate_connection_time: 18060 },
                             connection_info: { app_id: 'A0001' } }));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => { wssPort = server.address().port; resolve(); }));
}

function socketControl(path, spec, res) {
  const socket = sockets.find((s) => s.id === spec.socket);
  if (path === '/_envelope') {
    const envelope = { envelope_id: spec.envelope_id ?? `env-${nextEnvelope++}`, type: spec.type, payload: spec.payload,
                       accepts_response_payload: spec.type === 'slash_commands', retry_attempt: 0, retry_reason: '' };
    const sent = sendEnvelope(envelope, spec.socket, spec.redeliver_ms);
    return sendJson(res, sent ? 200 : 409, { envelope_id: envelope.envelope_id, socket: sent });
  }
  if (!socket) return sendJson(res, 404, { error: 'no such socket' });
  if (path === '/_disconnect') {
    socket.ws.send(JSON.stringify({ type: 'disconnect', reason: spec.reason ?? 'refresh_requested',
                                    debug_info: { host: 'applink-test' } }));
    setTimeout(() => socket.ws.close(1000), spec.close_after_ms ?? 2000);
  } else if (path === '/_drop') {
    socket.ws.terminate();
  } else if (path === '/_silence') {
    socket.silenced = true;
    socket.ws._socket.pause();  // reads nothing more: pings go unanswered
  }
  return sendJson(res, 200, { ok: true });
}

function webApi(method, req, body, res) {
  if (method === 'apps.connections.open') {
    const bearer = req.headers.authorization ?? '';
    calls.push({ method, at: Date.now(), authorized: bearer === `Bearer ${options.appToken}`,
                 content_type: req.headers['content-type'] ?? '', args: {} });
    if (bearer === `Bearer ${options.token}`) return sendJson(res, 200, { ok: false, error: 'not_allowed_token_type' });
    if (!options.appToken || bearer !== `Bearer ${options.appToken}`) return sendJson(res, 200, { ok: false, error: 'invalid_auth' });
    const ticket = crypto.randomUUID();
    tickets.add(ticket);
    return sendJson(res, 200, { ok: true, url: `wss://127.0.0.1:${wssPort}/link/?ticket=${ticket}&app_id=A0001` });
  }
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
  if (method === 'chat.startStream') {
    // Streaming needs a thread (and, outside DMs, the recipient); {"stream": false} refuses it.
    if (!streaming.enabled) return sendJson(res, 200, { ok: false, error: 'unknown_method' });
    if (!args.channel) return sendJson(res, 200, { ok: false, error: 'channel_not_found' });
    if (!args.thread_ts) return sendJson(res, 200, { ok: false, error: 'invalid_arguments' });
    if (!args.channel.startsWith('D') && (!args.recipient_user_id || !args.recipient_team_id)) {
      return sendJson(res, 200, { ok: false, error: 'invalid_arguments' });
    }
    const ts = `${Math.floor(nextTs / 1e6)}.${String(nextTs++ % 1e6).padStart(6, '0')}`;
    posts.push({ channel: args.channel, text: args.markdown_text ?? '', thread_ts: args.thread_ts, ts, metadata: null,
                 request_id: null, streamed: true, stopped: false, updates: 0 });
    return sendJson(res, 200, { ok: true, channel: args.channel, ts });
  }
  if (method === 'chat.appendStream' || method === 'chat.stopStream' || method === 'chat.update') {
    const post = posts.find((p) => p.channel === args.channel && p.ts === args.ts);
    if (!post) return sendJson(res, 200, { ok: false, error: 'message_not_found' });
    if (method === 'chat.appendStream') {
      if (!post.streamed || post.stopped) return sendJson(res, 200, { ok: false, error: 'message_not_in_streaming_state' });
      if (!args.markdown_text) return sendJson(res, 200, { ok: false, error: 'invalid_arguments' });
      post.text += args.markdown_text;
    } else if (method === 'chat.stopStream') {
      if (!post.streamed || post.stopped) return sendJson(res, 200, { ok: false, error: 'message_not_in_streaming_state' });
      post.text += args.markdown_text ?? '';
      post.stopped = true;
    } else {
      if (post.streamed && !post.stopped) return sendJson(res, 200, { ok: false, error: 'cant_update_message' });
      if (!args.text) return sendJson(res, 200, { ok: false, error: 'no_text' });
      post.text = args.text;
      post.updates = (post.updates ?? 0) + 1;
    }
    return sendJson(res, 200, { ok: true, channel: args.channel, ts: args.ts });
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

const responses = [];  // posts to response_url

const server = http.createServer(async (req, res) => {
  if (req.method === 'GET' && req.url === '/_posts') return sendJson(res, 200, posts);
  if (req.method === 'GET' && req.url === '/_calls') return sendJson(res, 200, calls);
  if (req.method === 'GET' && req.url === '/_responses') return sendJson(res, 200, responses);
  if (req.method === 'GET' && req.url === '/_acks') return sendJson(res, 200, acks);
  if (req.method === 'GET' && req.url === '/_sockets') {
    return sendJson(res, 200, sockets.map(({ ws, ...rest }) => rest));
  }
  const body = await readBody(req);
  if (req.url.startsWith('/_response/')) {
    let parsed = null;
    try { parsed = JSON.parse(body); } catch { /* recorded as null */ }
    responses.push({ path: req.url, body: parsed, content_type: req.headers['content-type'] ?? '' });
    res.writeHead(200, { 'content-type': 'text/plain' });
    return res.end('ok');
  }
  if (['/_envelope', '/_disconnect', '/_drop', '/_silence'].includes(req.url)) {
    return socketControl(req.url, JSON.parse(body || '{}'), res);
  }
  if (req.url === '/_script') {
    script.length = 0;
    script.push(...JSON.parse(body));
    return sendJson(res, 200, { queued: script.length });
  }
  if (req.url === '/_streaming') {
    streaming.enabled = Boolean(JSON.parse(body).enabled);
    return sendJson(res, 200, { ok: true });
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
await startSocketMode();
server.listen(options.port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
