// A stand-in OpenAI chat completions upstream for tests. Node 20, no npm deps.
//
//   node tests/peers/openai_upstream.mjs --port 0     → prints "listening <port>"
//
// POST /v1/chat/completions speaks the real wire format. The request's `model`
// picks the behaviour, so gateway configs can select it:
//   mock-echo     "mock:" + last user content, in ~4 chunks
//   mock-slow     the same, chunks paced 100 ms apart (a whole answer after 400 ms)
//   mock-500      HTTP 500 with an OpenAI error body
//   mock-429      HTTP 429 with Retry-After: 1
//   mock-garbage  200 with a malformed event stream
//   mock-reset    two chunks, then the socket is destroyed
//   mock-hang     accepts the request and never answers
//   mock-long     200 chunks, 10 ms apart (cancellation tests)
//   mock-nostream ignores stream:true and answers with one JSON document
//   mock-tail     content chunks, then the finish_reason chunk without its blank line, no [DONE]
//   mock-401      HTTP 401 whose message quotes the key it was sent (as OpenAI's does)
//   mock-flip     HTTP 500 while "down", mock-echo otherwise: PUT /_flip {"down": true|false}
//   mock-tools    a model with tools, as OpenAI answers:
//                 - after `tool` results: "mock:tool results: <id>=<content>; ..."
//                 - with `tools` offered (tool_choice not "none"): calls the first tool, or
//                   the first two unless parallel_tool_calls is false, with arguments
//                   {"q": <last user text>}; streamed as OpenAI does (id, type and name in
//                   a call's first delta, the arguments in pieces), finish_reason tool_calls
//                 - response_format json_schema / json_object: {"answer": <last user text>}
//                 - image_url parts in the last user turn: "mock:<text> [N image(s): <urls>]"
//   mock-choices  `n` answers (1 when absent), as OpenAI sends several choices: choice i says
//                 "mock[i]:<last user text>", except that with `tools` offered the odd choices
//                 call the first tool (id call_mock_c<i>); streamed interleaved (one choice per
//                 chunk, each with its index, a finish chunk per choice), usage summed over all
// Any other model behaves like mock-echo.
//
// Every request is recorded (method, path, headers, JSON body, remote port,
// and whether the client disconnected before the answer ended):
// GET /_requests returns them, DELETE /_requests clears them. GET /v1/models
// lists the mock models.

import http from 'node:http';

const MODELS = ['mock-echo', 'mock-slow', 'mock-500', 'mock-429', 'mock-garbage', 'mock-reset', 'mock-hang', 'mock-long',
                'mock-nostream', 'mock-401', 'mock-tail', 'mock-flip', 'mock-tools', 'mock-choices'];
let flipDown = true;

let port = 0;
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--port') port = Number(process.argv[++i]);
}

const recorded = [];
const hanging = new Set();
let nextId = 1;

function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function openaiError(res, status, message, type, code, headers = {}) {
  sendJson(res, status, { error: { message, type, param: null, code } }, headers);
}

function partsText(content) {
  if (!Array.isArray(content)) return String(content ?? '');
  return content.filter((p) => p?.type === 'text').map((p) => p.text).join('\n');
}

function lastUserContent(body) {
  const messages = Array.isArray(body?.messages) ? body.messages : [];
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]?.role === 'user') return partsText(messages[i].content);
  }
  return '';
}

// What mock-tools answers: {calls} or {text}.
function toolsAnswer(body) {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  const results = [];
  for (let i = messages.length - 1; i >= 0 && messages[i]?.role === 'tool'; i--) {
    results.unshift(`${messages[i].tool_call_id}=${partsText(messages[i].content)}`);
  }
  if (results.length) return { text: 'mock:tool results: ' + results.join('; ') };
  const tools = Array.isArray(body.tools) ? body.tools : [];
  if (tools.length && body.tool_choice !== 'none') {
    const count = body.parallel_tool_calls === false ? 1 : Math.min(2, tools.length);
    const args = JSON.stringify({ q: lastUserContent(body) });
    return { calls: tools.slice(0, count).map((t, i) => ({ id: `call_mock_${i + 1}`, type: 'function',
                                                           function: { name: t.function.name, arguments: args } })) };
  }
  const format = body.response_format?.type;
  if (format === 'json_schema' || format === 'json_object') return { text: JSON.stringify({ answer: lastUserContent(body) }) };
  const last = [...messages].reverse().find((m) => m?.role === 'user');
  const images = Array.isArray(last?.content) ? last.content.filter((p) => p?.type === 'image_url') : [];
  if (images.length) {
    return { text: `mock:${lastUserContent(body)} [${images.length} image(s): ${images.map((p) => p.image_url.url).join(', ')}]` };
  }
  return { text: 'mock:' + lastUserContent(body) };
}

async function answerWithTools(res, body) {
  const answer = toolsAnswer(body);
  const id = 'chatcmpl-mock' + nextId++;
  const created = Math.floor(Date.now() / 1000);
  const finish = answer.calls ? 'tool_calls' : 'stop';
  if (!body.stream) {
    const message = answer.calls ? { role: 'assistant', content: null, tool_calls: answer.calls, refusal: null }
                                 : { role: 'assistant', content: answer.text, refusal: null };
    return sendJson(res, 200, { id, object: 'chat.completion', created, model: body.model, system_fingerprint: 'fp_mock',
                                choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
                                usage: usageFor(body, answer.text ?? JSON.stringify(answer.calls)) });
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const send = (delta, reason = null) => res.write('data: ' + JSON.stringify(chunk(id, body.model, created, delta, reason)) + '\n\n');
  send({ role: 'assistant', content: null });
  if (answer.calls) {
    answer.calls.forEach((call, index) => {
      send({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } }] });
      for (const piece of splitInto(call.function.arguments, 3)) {
        send({ tool_calls: [{ index, function: { arguments: piece } }] });
      }
    });
  } else {
    for (const piece of splitInto(answer.text, 3)) send({ content: piece });
  }
  send({}, finish);
  if (body.stream_options?.include_usage) {
    res.write('data: ' + JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [],
                                          usage: usageFor(body, answer.text ?? '') }) + '\n\n');
  }
  res.write('data: [DONE]\n\n');
  res.end();
}

async function answerChoices(res, body) {
  const n = Number.isInteger(body.n) ? body.n : 1;
  const text = lastUserContent(body);
  const tools = Array.isArray(body.tools) ? body.tools : [];
  const answers = Array.from({ length: n }, (_, i) => (tools.length && i % 2 === 1)
    ? { calls: [{ id: `call_mock_c${i}`, type: 'function',
                  function: { name: tools[0].function.name, arguments: JSON.stringify({ q: text }) } }] }
    : { text: `mock[${i}]:${text}` });
  const id = 'chatcmpl-mock' + nextId++;
  const created = Math.floor(Date.now() / 1000);
  const finish = (a) => (a.calls ? 'tool_calls' : 'stop');
  const usage = usageFor(body, answers.map((a) => a.text ?? JSON.stringify(a.calls)).join(''));
  if (!body.stream) {
    const choices = answers.map((a, index) => ({
      index, logprobs: null, finish_reason: finish(a),
      message: a.calls ? { role: 'assistant', content: null, tool_calls: a.calls, refusal: null }
                       : { role: 'assistant', content: a.text, refusal: null } }));
    return sendJson(res, 200, { id, object: 'chat.completion', created, model: body.model, system_fingerprint: 'fp_mock',
                                choices, usage });
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const send = (index, delta, reason = null) => res.write('data: ' + JSON.stringify({
    id, object: 'chat.completion.chunk', created, model: body.model, system_fingerprint: 'fp_mock',
    choices: [{ index, delta, logprobs: null, finish_reason: reason }] }) + '\n\n');
  answers.forEach((_, i) => send(i, { role: 'assistant', content: '' }));
  const pieces = answers.map((a) => (a.calls
    ? [{ tool_calls: [{ index: 0, id: a.calls[0].id, type: 'function',
                        function: { name: a.calls[0].function.name, arguments: '' } }] },
       ...splitInto(a.calls[0].function.arguments, 2).map((p) => ({ tool_calls: [{ index: 0, function: { arguments: p } }] }))]
    : splitInto(a.text, 3).map((p) => ({ content: p }))));
  for (let round = 0; pieces.some((p) => round < p.length); round++) {
    pieces.forEach((p, i) => { if (round < p.length) send(i, p[round]); });
  }
  answers.forEach((a, i) => send(i, {}, finish(a)));
  if (body.stream_options?.include_usage) {
    res.write('data: ' + JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [],
                                          usage }) + '\n\n');
  }
  res.write('data: [DONE]\n\n');
  res.end();
}

function splitInto(text, n) {
  const chars = Array.from(text);
  const size = Math.max(1, Math.ceil(chars.length / n));
  const out = [];
  for (let i = 0; i < chars.length; i += size) out.push(chars.slice(i, i + size).join(''));
  return out;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function chunk(id, model, created, delta, finishReason = null) {
  return { id, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_mock',
           choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }] };
}

function usageFor(body, answer) {
  const prompt = (Array.isArray(body?.messages) ? body.messages : [])
    .reduce((n, m) => n + Math.ceil(String(m?.content ?? '').length / 4), 0);
  const completion = Math.ceil(answer.length / 4);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

// Streams `pieces` like OpenAI: role chunk, content chunks, finish chunk,
// usage chunk (when asked for), [DONE]. Stops early if the client goes away.
async function streamAnswer(req, res, body, pieces, pace) {
  const id = 'chatcmpl-mock' + nextId++;
  const created = Math.floor(Date.now() / 1000);
  const model = body.model;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const send = (obj) => res.write('data: ' + JSON.stringify(obj) + '\n\n');
  send(chunk(id, model, created, { role: 'assistant', content: '' }));
  for (const piece of pieces) {
    if (pace > 0) await sleep(pace);
    if (res.destroyed || res.writableEnded) return;
    send(chunk(id, model, created, { content: piece }));
  }
  send(chunk(id, model, created, {}, 'stop'));
  if (body.stream_options?.include_usage) {
    send({ id, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_mock', choices: [],
           usage: usageFor(body, pieces.join('')) });
  }
  res.write('data: [DONE]\n\n');
  res.end();
}

function wholeAnswer(res, body, answer) {
  sendJson(res, 200, {
    id: 'chatcmpl-mock' + nextId++, object: 'chat.completion', created: Math.floor(Date.now() / 1000),
    model: body.model, system_fingerprint: 'fp_mock',
    choices: [{ index: 0, message: { role: 'assistant', content: answer, refusal: null }, logprobs: null,
                finish_reason: 'stop' }],
    usage: usageFor(body, answer),
  });
}

async function completions(req, res, body, entry) {
  const model = String(body?.model ?? '');
  const answer = 'mock:' + lastUserContent(body);
  switch (model) {
    case 'mock-flip':
      if (!flipDown) {
        return body.stream ? streamAnswer(req, res, body, splitInto(answer, 4), 0) : wholeAnswer(res, body, answer);
      }
      return openaiError(res, 500, 'The server had an error while processing your request.', 'server_error', null);
    case 'mock-500':
      return openaiError(res, 500, 'The server had an error while processing your request.', 'server_error', null);
    case 'mock-429':
      return openaiError(res, 429, 'Rate limit reached for requests', 'requests', 'rate_limit_exceeded',
                         { 'retry-after': '1' });
    case 'mock-garbage':
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"id":"x","choices":[{"delta":{"content":"ok"}}]}\n\n');
      res.end('data: {this is not json\n\n');
      return;
    case 'mock-reset': {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const id = 'chatcmpl-mock' + nextId++;
      res.write('data: ' + JSON.stringify(chunk(id, model, 0, { role: 'assistant', content: 'one ' })) + '\n\n');
      res.write('data: ' + JSON.stringify(chunk(id, model, 0, { content: 'two ' })) + '\n\n');
      await sleep(50);
      entry.reset_by_server = true;
      req.socket.resetAndDestroy();
      return;
    }
    case 'mock-headers-hang':  // a 200 head, then silence: the body never comes
      res.writeHead(200, { 'content-type': body.stream ? 'text/event-stream' : 'application/json' });
      res.flushHeaders();
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    case 'mock-trailer': {  // a whole answer, chunked, with a 70,000-byte trailer field (review C1)
      res.writeHead(200, { 'content-type': 'application/json', 'trailer': 'x-evil' });
      res.write(JSON.stringify({ id: 'chatcmpl-mock' + nextId++, object: 'chat.completion', created: 0, model,
                                 choices: [{ index: 0, message: { role: 'assistant', content: answer },
                                             finish_reason: 'stop' }] }));
      res.addTrailers({ 'x-evil': 'a'.repeat(70000) });
      res.end();
      return;
    }
    case 'mock-hang':
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    case 'mock-long': {
      const pieces = Array.from({ length: 200 }, (_, i) => `tok${i} `);
      return body.stream ? streamAnswer(req, res, body, pieces, 10) : wholeAnswer(res, body, pieces.join(''));
    }
    case 'mock-401': {
      const key = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
      return openaiError(res, 401, `Incorrect API key provided: ${key}. You can find your API key at ` +
                         'https://platform.openai.com/account/api-keys.', 'invalid_request_error', 'invalid_api_key');
    }
    case 'mock-tail': {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const id = 'chatcmpl-mock' + nextId++;
      for (const piece of splitInto(answer, 2)) {
        res.write('data: ' + JSON.stringify(chunk(id, model, 0, { content: piece })) + '\n\n');
      }
      res.end('data: ' + JSON.stringify(chunk(id, model, 0, {}, 'length')));
      return;
    }
    case 'mock-nostream':
      return wholeAnswer(res, body, answer);
    case 'mock-tools':
      return answerWithTools(res, body);
    case 'mock-choices':
      return answerChoices(res, body);
    case 'mock-slow':
      if (body.stream) return streamAnswer(req, res, body, splitInto(answer, 4), 100);
      return setTimeout(() => wholeAnswer(res, body, answer), 400);  // as long as the paced stream
    default:
      return body.stream ? streamAnswer(req, res, body, splitInto(answer, 4), 0) : wholeAnswer(res, body, answer);
  }
}

function readBody(req) {
  return new Promise((resolve) => {
    const parts = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', () => resolve(''));
  });
}

const server = http.createServer(async (req, res) => {
  const path = req.url.split('?')[0];
  if (path === '/_requests') {
    if (req.method === 'DELETE') {
      recorded.length = 0;
      return sendJson(res, 200, { cleared: true });
    }
    return sendJson(res, 200, recorded);
  }
  if (path === '/_flip' && req.method === 'PUT') {
    flipDown = JSON.parse(await readBody(req)).down;
    return sendJson(res, 200, { down: flipDown });
  }
  if (path === '/v1/models' && req.method === 'GET') {
    return sendJson(res, 200, { object: 'list', data: MODELS.map((id) => ({ id, object: 'model', created: 0,
                                                                              owned_by: 'mock' })) });
  }
  const text = await readBody(req);
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  const entry = {
    method: req.method, path, headers: req.headers, body, raw_body: body === null ? text : undefined,
    remote_port: req.socket.remotePort, client_disconnected: false, completed: false, received_at: Date.now(),
  };
  recorded.push(entry);
  // 'close' on the response fires either way; before 'finish' it means the client left.
  res.on('finish', () => { entry.completed = true; });
  res.on('close', () => { if (!res.writableFinished) entry.client_disconnected = true; });
  if (path !== '/v1/chat/completions' || req.method !== 'POST') {
    return openaiError(res, 404, `Unknown request URL: ${req.method} ${path}`, 'invalid_request_error', 'unknown_url');
  }
  if (body === null || typeof body !== 'object') {
    return openaiError(res, 400, 'We could not parse the JSON body of your request.', 'invalid_request_error', null);
  }
  await completions(req, res, body, entry);
});

server.keepAliveTimeout = 5000;
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});

function shutdown() {
  for (const res of hanging) res.destroy();
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 500).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
