// A stand-in for Anthropic's Messages API (POST /v1/messages) speaking its wire
// format: with "stream": true, the event stream message_start, content_block_start,
// ping, content_block_delta (text_delta)…, content_block_stop, message_delta (stop_reason,
// usage), message_stop; errors as {"type":"error","error":{"type","message"}}.
// The official @anthropic-ai/sdk parses what it sends (tests/e2e).
//
//   node tests/peers/anthropic_upstream.mjs --port 0     → prints "listening <port>"
//
// The request's `model` picks the behaviour:
//   claude-echo       "echo:" + the last user text, in 4 text deltas (the default)
//   claude-midstream  two deltas, then an `error` event (overloaded_error)
//   claude-529        HTTP 529 overloaded_error
//   claude-401        HTTP 401 authentication_error
//   claude-tools      a model with tools, in Anthropic's format (streamed only): after tool_result
//                     blocks "echo:tool results: <tool_use_id>=<content>; ..."; with `tools`
//                     offered (tool_choice not none) tool_use blocks for the first tool, or the
//                     first two unless disable_parallel_tool_use, input {"q": <last user text>}
//                     sent as input_json_delta pieces, stop_reason tool_use; images in the last
//                     user message: "echo:<text> [N image(s): <source type>...]"
// Requests without the right key (--key; x-api-key or Bearer) get 401. GET /_requests lists what came in.
import http from 'node:http';

const options = { port: 0, key: 'anthropic-test-key' };
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--port') options.port = Number(process.argv[++i]);
  if (process.argv[i] === '--key') options.key = process.argv[++i];
}
const recorded = [];
let nextId = 1;

function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text),
                          'request-id': `req_mock${nextId}`, ...headers });
  res.end(text);
}

const error = (res, status, type, message) => sendJson(res, status, { type: 'error', error: { type, message } });

function lastUserText(body) {
  const user = [...(body.messages ?? [])].reverse().find((m) => m.role === 'user');
  if (!user) return '';
  if (typeof user.content === 'string') return user.content;
  return (user.content ?? []).filter((b) => b.type === 'text').map((b) => b.text).join('');
}

function split(text, n) {
  const size = Math.max(1, Math.ceil(text.length / n));
  const out = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out.length ? out : [''];
}

function message(body, id, content, outputTokens) {
  return { id, type: 'message', role: 'assistant', model: body.model, content, stop_reason: null,
           stop_sequence: null, usage: { input_tokens: JSON.stringify(body.messages).length >> 2,
                                         output_tokens: outputTokens } };
}

async function stream(req, res, body, pieces, failAfter) {
  const id = `msg_mock${nextId++}`;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const send = (type, data) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
  send('message_start', { message: message(body, id, [], 1) });
  send('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
  send('ping', {});
  let sent = 0;
  for (const text of pieces) {
    if (failAfter !== undefined && sent === failAfter) {
      send('error', { error: { type: 'overloaded_error', message: 'Overloaded' } });
      return res.end();
    }
    send('content_block_delta', { index: 0, delta: { type: 'text_delta', text } });
    sent++;
    await new Promise((r) => setTimeout(r, 5));
  }
  send('content_block_stop', { index: 0 });
  send('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null },
                          usage: { output_tokens: pieces.join('').length >> 2 || 1 } });
  send('message_stop', {});
  res.end();
}

async function streamTools(res, body) {
  const id = `msg_mock${nextId++}`;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const send = (type, data) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
  send('message_start', { message: message(body, id, [], 1) });
  const last = body.messages[body.messages.length - 1];
  const blocks = Array.isArray(last?.content) ? last.content : [];
  const results = blocks.filter((b) => b.type === 'tool_result');
  const tools = Array.isArray(body.tools) ? body.tools : [];
  let stop = 'end_turn';
  const text = (t, index) => {
    send('content_block_start', { index, content_block: { type: 'text', text: '' } });
    for (const piece of split(t, 3)) send('content_block_delta', { index, delta: { type: 'text_delta', text: piece } });
    send('content_block_stop', { index });
  };
  if (results.length) {
    text('echo:tool results: ' + results.map((r) => `${r.tool_use_id}=${typeof r.content === 'string' ? r.content : JSON.stringify(r.content)}`).join('; '), 0);
  } else if (tools.length && body.tool_choice?.type !== 'none') {
    const count = body.tool_choice?.disable_parallel_tool_use ? 1 : Math.min(2, tools.length);
    const input = JSON.stringify({ q: lastUserText(body) });
    for (let index = 0; index < count; index++) {
      send('content_block_start', { index, content_block: { type: 'tool_use', id: `toolu_mock_${index + 1}`,
                                                             name: tools[index].name, input: {} } });
      for (const piece of split(input, 3)) {
        send('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: piece } });
      }
      send('content_block_stop', { index });
    }
    stop = 'tool_use';
  } else {
    const images = blocks.filter((b) => b.type === 'image');
    text(`echo:${lastUserText(body)}` + (images.length ? ` [${images.length} image(s): ${images.map((i) => i.source.type).join(', ')}]` : ''), 0);
  }
  send('message_delta', { delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: 5 } });
  send('message_stop', {});
  res.end();
}

async function messages(req, res, body) {
  // The API takes the key as x-api-key (what the gateway sends) or, from newer SDKs, as a Bearer token.
  const presented = req.headers['x-api-key'] ?? (req.headers.authorization ?? '').replace(/^Bearer /, '');
  if (presented !== options.key) return error(res, 401, 'authentication_error', 'invalid x-api-key');
  if (!req.headers['anthropic-version']) return error(res, 400, 'invalid_request_error', 'anthropic-version header is required');
  if (!body || !Array.isArray(body.messages) || typeof body.max_tokens !== 'number') {
    return error(res, 400, 'invalid_request_error', 'messages and max_tokens are required');
  }
  const answer = 'echo:' + lastUserText(body);
  switch (body.model) {
    case 'claude-529': return error(res, 529, 'overloaded_error', 'Overloaded');
    case 'claude-401': return error(res, 401, 'authentication_error', 'invalid x-api-key');
    case 'claude-midstream': return stream(req, res, body, split(answer, 4), 2);
    case 'claude-tools': return streamTools(res, body);
    default:
      if (body.stream) return stream(req, res, body, split(answer, 4));
      return sendJson(res, 200, { ...message(body, `msg_mock${nextId++}`, [{ type: 'text', text: answer }],
                                              answer.length >> 2 || 1), stop_reason: 'end_turn' });
  }
}

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (path === '/_requests') return sendJson(res, 200, recorded);
  let text = '';
  req.setEncoding('utf8');
  req.on('data', (c) => { text += c; });
  req.on('end', () => {
    let body = null;
    try { body = JSON.parse(text); } catch { /* stays null */ }
    recorded.push({ method: req.method, path, headers: req.headers, body, received_at: Date.now() });
    if (req.method === 'POST' && path === '/v1/messages') return messages(req, res, body);
    error(res, 404, 'not_found_error', `no route ${path}`);
  });
});
server.listen(options.port, '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));
