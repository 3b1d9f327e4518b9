// A stand-in webhook agent (the `webhook` model type's peer): checks the gateway's
// signature (X-Hermes-Signature: sha256=hex(HMAC-SHA256(secret, raw body))) and answers.
//   node webhook_agent.mjs --port 0 --secret S
// The new message's text picks the behaviour:
//   contains "stream"  an SSE answer: {"text"} deltas, {"usage"}, {"done": true}
//   contains "fail"    HTTP 500
//   `tools` offered    a tool call of the first tool with {"q": <text>}: JSON {"tool_calls"},
//                      or with "stream" in the text SSE {"tool_call"} deltas; after a `tool`
//                      turn, {"text": "agent got: <tool_call_id>=<content>"}
//   otherwise          JSON {"text": "agent saw: <text> (<n> earlier turns)", "usage"}
// A bad signature gets 401. GET /_requests lists requests with `signature_ok`.
import crypto from 'node:crypto';
import http from 'node:http';

const options = { port: 0, secret: '' };
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--port') options.port = Number(process.argv[++i]);
  if (process.argv[i] === '--secret') options.secret = process.argv[++i];
}
const recorded = [];

function signatureOk(raw, header) {
  const expected = 'sha256=' + crypto.createHmac('sha256', options.secret).update(raw).digest('hex');
  return typeof header === 'string' && header.length === expected.length &&
         crypto.timingSafeEqual(Buffer.from(header), Buffer.from(expected));
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/_requests') {
    const text = JSON.stringify(recorded);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    return res.end(text);
  }
  let raw = '';
  req.setEncoding('utf8');
  req.on('data', (c) => { raw += c; });
  req.on('end', async () => {
    const ok = signatureOk(raw, req.headers['x-hermes-signature']);
    let body = null;
    try { body = JSON.parse(raw); } catch { /* null */ }
    recorded.push({ headers: req.headers, body, signature_ok: ok });
    if (!ok) {
      res.writeHead(401, { 'content-type': 'application/json' });
      return res.end('{"error":"bad signature"}');
    }
    const text = body?.message?.text ?? '';
    const earlier = Math.max(0, (body?.messages?.length ?? 1) - 1);
    if (text.includes('fail')) {
      res.writeHead(500, { 'content-type': 'application/json' });
      return res.end('{"error":"agent failed"}');
    }
    const turns = body?.messages ?? [];
    const last = turns[turns.length - 1];
    if (last?.role === 'tool') {
      const answer = JSON.stringify({ text: `agent got: ${last.tool_call_id}=${last.content}` });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
      return res.end(answer);
    }
    if (Array.isArray(body?.tools) && body.tools.length) {
      const call = { id: 'call_w1', name: body.tools[0].function.name, arguments: JSON.stringify({ q: text }) };
      if (text.includes('stream')) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(`data: ${JSON.stringify({ tool_call: { index: 0, id: call.id, name: call.name, arguments: '' } })}\n\n`);
        for (const piece of [call.arguments.slice(0, 5), call.arguments.slice(5)]) {
          res.write(`data: ${JSON.stringify({ tool_call: { index: 0, arguments: piece } })}\n\n`);
        }
        res.write('data: {"done": true}\n\n');
        return res.end();
      }
      const answer = JSON.stringify({ tool_calls: [call] });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
      return res.end(answer);
    }
    if (text.includes('stream')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const piece of ['streamed ', 'by the ', 'agent']) {
        res.write(`data: ${JSON.stringify({ text: piece })}\n\n`);
        await new Promise((r) => setTimeout(r, 20));
      }
      res.write(`data: ${JSON.stringify({ usage: { prompt_tokens: 11, completion_tokens: 5 } })}\n\n`);
      res.write('data: {"done": true}\n\n');
      return res.end();
    }
    const answer = JSON.stringify({ text: `agent saw: ${text} (${earlier} earlier turns)`,
                                    usage: { prompt_tokens: 7, completion_tokens: 9 } });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
    res.end(answer);
  });
});
server.listen(options.port, '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));
