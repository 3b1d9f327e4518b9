// End-to-end: an agent's tool loop through the gateway with the official `openai` npm
// client. hermesd's openai model points at the stand-in (tests/peers/openai_upstream.mjs,
// model mock-tools), which calls tools in OpenAI's wire format: the model asks for a tool,
// the client runs it and answers with `role: tool`, the model answers. Streamed and not,
// parallel calls, json_schema, an image part, and the 400 for a model that cannot.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import OpenAI from 'openai';
import { Daemon, repoRoot, withLog } from './daemon.mjs';

const TEST_TIMEOUT_MS = 10000;

const TOOLS = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather for a city',
                                   parameters: { type: 'object', properties: { q: { type: 'string' } } } } },
  { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
];

function config(upstreamPort) {
  return ({ dataDir, port }) => `gateway: {instance: e2e-tools, data_dir: ${JSON.stringify(dataDir)}, threads: 2}
listeners:
  - {name: local, bind: loopback, port: ${port}}
channels:
  - {name: api, type: api, listener: local}
models:
  - {name: upstream, type: openai, base_url: "http://127.0.0.1:${upstreamPort}/v1", model: mock-tools}
  - {name: claude, type: anthropic, base_url: "http://127.0.0.1:9/v1", api_key: "\${env:E2E_UNUSED_KEY}", model: claude-x}
agents:
  - {name: tooled, model: upstream}
  - {name: texty, model: claude}
routes:
  - {name: default, agent: tooled}
audit: {store_text: full}
`;
}

function startUpstream() {
  const peer = spawn('node', [path.join(repoRoot, 'tests/peers/openai_upstream.mjs'), '--port', '0'],
                     { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = new Promise((resolve, reject) => {
    peer.stdout.on('data', (d) => {
      const m = /listening (\d+)/.exec(String(d));
      if (m) resolve(Number(m[1]));
    });
    peer.once('exit', (code) => reject(new Error(`stand-in exited with ${code}`)));
  });
  return { peer, port };
}

// Runs the tool the model asked for, as an agent would.
const runTool = (call) => `${call.function.name}(${JSON.parse(call.function.arguments).q}) = sunny`;

describe('An agent\'s tool loop through the gateway (openai client)', () => {
  const hermes = new Daemon();
  let client, peer;
  before(async () => {
    const upstream = startUpstream();
    peer = upstream.peer;
    await hermes.start(config(await upstream.port), { E2E_UNUSED_KEY: 'sk-unused' });
    client = new OpenAI({ baseURL: `http://127.0.0.1:${hermes.port}/v1`, apiKey: 'none', maxRetries: 0, timeout: 5000 });
  });
  after(async () => {
    await hermes.stop();
    peer?.kill();
  });

  test('a whole round trip: the model calls a tool, the client answers, the model answers',
    { timeout: TEST_TIMEOUT_MS }, withLog(hermes, async () => {
      const messages = [{ role: 'user', content: 'Paris' }];
      const first = await client.chat.completions.create({ messages, tools: TOOLS, parallel_tool_calls: false });
      const [choice] = first.choices;
      assert.equal(choice.finish_reason, 'tool_calls');
      assert.equal(choice.message.content, null);
      assert.equal(choice.message.tool_calls.length, 1);
      const [call] = choice.message.tool_calls;
      assert.equal(call.type, 'function');
      assert.equal(call.function.name, 'get_weather');
      assert.deepEqual(JSON.parse(call.function.arguments), { q: 'Paris' });
      messages.push(choice.message, { role: 'tool', tool_call_id: call.id, content: runTool(call) });
      const second = await client.chat.completions.create({ messages, tools: TOOLS });
      assert.equal(second.choices[0].finish_reason, 'stop');
      assert.equal(second.choices[0].message.content, `mock:tool results: ${call.id}=get_weather(Paris) = sunny`);
    }));

  test('streamed: parallel tool calls arrive as deltas the client assembles, then the answer',
    { timeout: TEST_TIMEOUT_MS }, withLog(hermes, async () => {
      const messages = [{ role: 'user', content: 'Oslo' }];
      const stream = client.chat.completions.stream({ messages, tools: TOOLS, stream: true });
      let deltas = 0;
      stream.on('chunk', (chunk) => { deltas += chunk.choices[0]?.delta?.tool_calls?.length ?? 0; });
      const done = await stream.finalChatCompletion();
      const message = done.choices[0].message;
      assert.equal(done.choices[0].finish_reason, 'tool_calls');
      assert.deepEqual(message.tool_calls.map((c) => c.function.name), ['get_weather', 'get_time']);
      for (const call of message.tool_calls) assert.deepEqual(JSON.parse(call.function.arguments), { q: 'Oslo' });
      assert.ok(deltas >= 4, `argument fragments relayed as they came (${deltas} deltas)`);
      messages.push(message, ...message.tool_calls.map((c) => ({ role: 'tool', tool_call_id: c.id, content: runTool(c) })));
      const answer = await client.chat.completions.create({ messages, tools: TOOLS, stream: true });
      let text = '';
      for await (const chunk of answer) text += chunk.choices[0]?.delta?.content ?? '';
      assert.equal(text, 'mock:tool results: call_mock_1=get_weather(Oslo) = sunny; call_mock_2=get_time(Oslo) = sunny');
    }));

  test('response_format json_schema and an image part reach the model', { timeout: TEST_TIMEOUT_MS },
    withLog(hermes, async () => {
      const structured = await client.chat.completions.create({
        messages: [{ role: 'user', content: 'forty-two' }],
        response_format: { type: 'json_schema', json_schema: { name: 'a', schema: { type: 'object' } } },
      });
      assert.deepEqual(JSON.parse(structured.choices[0].message.content), { answer: 'forty-two' });
      const image = await client.chat.completions.create({
        messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this?' },
                                             { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] }],
      });
      assert.equal(image.choices[0].message.content, 'mock:what is this? [1 image(s): data:image/png;base64,iVBORw0KGgo=]');
    }));

  test('a model that cannot take tools is a clear 400, not a silent drop', { timeout: TEST_TIMEOUT_MS },
    withLog(hermes, async () => {
      await assert.rejects(
        client.chat.completions.create({ model: 'texty', messages: [{ role: 'user', content: 'x' }], tools: TOOLS }),
        (err) => {
          assert.equal(err.status, 400);
          assert.match(err.message, /does not take tools/);
          return true;
        });
    }));
});
