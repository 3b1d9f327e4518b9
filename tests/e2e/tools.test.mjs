// End-to-end: an agent's tool loop through the gateway with the official `openai` npm
// client. hermesd's openai model points at the stand-in (tests/peers/openai_upstream.mjs,
// model mock-tools), which calls tools in OpenAI's wire format: the model asks for a tool,
// the client runs it and answers with `role: tool`, the model answers. Streamed and not,
// parallel calls, json_schema, an image part, the 400 for a model that cannot, and several
// choices (n) where the agent allows them (model mock-choices).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { Daemon, startPeer, withLog } from './daemon.mjs';

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
  - {name: chooser, type: openai, base_url: "http://127.0.0.1:${upstreamPort}/v1", model: mock-choices}
agents:
  - {name: tooled, model: upstream}
  - {name: texty, model: claude}
  - {name: several, model: chooser, max_choices: 3}
routes:
  - {name: default, agent: tooled}
audit: {store_text: full}
`;
}

// Runs the tool the model asked for, as an agent would.
const runTool = (call) => `${call.function.name}(${JSON.parse(call.function.arguments).q}) = sunny`;

describe('An agent\'s tool loop through the gateway (openai client)', () => {
  const hermes = new Daemon();
  let client, peer;
  before(async () => {
    const upstream = await startPeer('openai_upstream.mjs');
    peer = upstream.peer;
    await hermes.start(config(upstream.port), { E2E_UNUSED_KEY: 'sk-unused' });
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

  test('what a model cannot take is a clear 400, not a silent drop', { timeout: TEST_TIMEOUT_MS },
    withLog(hermes, async () => {
      await assert.rejects(
        client.chat.completions.create({ model: 'texty', messages: [{ role: 'user', content: 'x' }],
                                         response_format: { type: 'json_object' } }),
        (err) => {
          assert.equal(err.status, 400);
          assert.match(err.message, /does not take response_format/);
          return true;
        });
    }));

  test('several choices (n), whole: every choice with its index, text and tool calls', { timeout: TEST_TIMEOUT_MS },
    withLog(hermes, async () => {
      const answer = await client.chat.completions.create({
        model: 'several', n: 3, tools: TOOLS, messages: [{ role: 'user', content: 'Rome' }] });
      assert.deepEqual(answer.choices.map((c) => c.index), [0, 1, 2]);
      assert.equal(answer.choices[0].message.content, 'mock[0]:Rome');
      assert.equal(answer.choices[1].finish_reason, 'tool_calls');
      assert.equal(answer.choices[1].message.tool_calls[0].id, 'call_mock_c1');
      assert.deepEqual(JSON.parse(answer.choices[1].message.tool_calls[0].function.arguments), { q: 'Rome' });
      assert.equal(answer.choices[2].message.content, 'mock[2]:Rome');
      assert.equal(answer.choices[2].finish_reason, 'stop');
    }));

  test('several choices (n), streamed: the client assembles interleaved choices by index', { timeout: TEST_TIMEOUT_MS },
    withLog(hermes, async () => {
      const stream = client.chat.completions.stream({
        model: 'several', n: 3, tools: TOOLS, stream: true, stream_options: { include_usage: true },
        messages: [{ role: 'user', content: 'Lima' }] });
      const done = await stream.finalChatCompletion();
      const choices = [...done.choices].sort((a, b) => a.index - b.index);
      assert.equal(choices.length, 3);
      assert.equal(choices[0].message.content, 'mock[0]:Lima');
      assert.equal(choices[1].finish_reason, 'tool_calls');
      assert.deepEqual(JSON.parse(choices[1].message.tool_calls[0].function.arguments), { q: 'Lima' });
      assert.equal(choices[2].message.content, 'mock[2]:Lima');
      assert.ok(done.usage.completion_tokens >= 6, 'usage counts every choice');
    }));

  test('more choices than the agent allows, or from an agent that allows one, is a clear 400',
    { timeout: TEST_TIMEOUT_MS }, withLog(hermes, async () => {
      for (const [model, n, pattern] of [['several', 4, /'n' is 4 but agent 'several' answers with at most 3 choices/],
                                         ['tooled', 2, /'n' is 2 but agent 'tooled' answers with one choice/]]) {
        await assert.rejects(client.chat.completions.create({ model, n, messages: [{ role: 'user', content: 'x' }] }),
          (err) => {
            assert.equal(err.status, 400);
            assert.match(err.message, pattern);
            return true;
          });
      }
    }));
});

describe('The same tool loop through an anthropic model, translated both ways', () => {
  const hermes = new Daemon();
  const KEY = 'anthropic-e2e-key';
  let client, peer, anthropicPort;
  before(async () => {
    const upstream = await startPeer('anthropic_upstream.mjs', ['--key', KEY]);
    peer = upstream.peer;
    anthropicPort = upstream.port;
    await hermes.start(({ dataDir, port }) => `gateway: {instance: e2e-tools-a, data_dir: ${JSON.stringify(dataDir)}}
listeners:
  - {name: local, bind: loopback, port: ${port}}
channels:
  - {name: api, type: api, listener: local}
models:
  - {name: claude, type: anthropic, base_url: "http://127.0.0.1:${anthropicPort}", api_key: "\${env:E2E_ANTHROPIC_KEY}", model: claude-tools}
agents:
  - {name: tooled, model: claude}
routes:
  - {name: default, agent: tooled}
`, { E2E_ANTHROPIC_KEY: KEY });
    client = new OpenAI({ baseURL: `http://127.0.0.1:${hermes.port}/v1`, apiKey: 'none', maxRetries: 0, timeout: 5000 });
  });
  after(async () => {
    await hermes.stop();
    peer?.kill();
  });

  test('tool_use blocks come back as OpenAI tool calls; tool results go back as tool_result blocks',
    { timeout: TEST_TIMEOUT_MS }, withLog(hermes, async () => {
      const messages = [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'Rome' }];
      const first = await client.chat.completions.create({ messages, tools: TOOLS, tool_choice: 'required' });
      const message = first.choices[0].message;
      assert.equal(first.choices[0].finish_reason, 'tool_calls');
      assert.deepEqual(message.tool_calls.map((c) => [c.id, c.function.name]),
                       [['toolu_mock_1', 'get_weather'], ['toolu_mock_2', 'get_time']]);
      for (const call of message.tool_calls) assert.deepEqual(JSON.parse(call.function.arguments), { q: 'Rome' });
      messages.push(message, ...message.tool_calls.map((c) => ({ role: 'tool', tool_call_id: c.id, content: runTool(c) })));
      const stream = await client.chat.completions.create({ messages, tools: TOOLS, stream: true });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      assert.equal(text, 'echo:tool results: toolu_mock_1=get_weather(Rome) = sunny; toolu_mock_2=get_time(Rome) = sunny');
      // What Anthropic was sent: tools with input_schema, tool_choice required as any, the
      // tool_use and both tool_results (in one user message), the system prompt apart.
      const requests = await (await fetch(`http://127.0.0.1:${anthropicPort}/_requests`)).json();
      assert.deepEqual(requests.at(-2).body.tool_choice, { type: 'any' });
      const sent = requests.at(-1).body;
      assert.equal(sent.system, 'be brief');
      assert.deepEqual(sent.tools[0], { name: 'get_weather', description: 'Weather for a city',
                                        input_schema: TOOLS[0].function.parameters });
      assert.deepEqual(sent.messages.map((m) => m.role), ['user', 'assistant', 'user']);
      assert.deepEqual(sent.messages[1].content.map((b) => b.type), ['tool_use', 'tool_use']);
      assert.deepEqual(sent.messages[1].content[0].input, { q: 'Rome' });
      assert.deepEqual(sent.messages[2].content.map((b) => [b.type, b.tool_use_id]),
                       [['tool_result', 'toolu_mock_1'], ['tool_result', 'toolu_mock_2']]);
    }));

  test('an image part becomes an image block; parallel_tool_calls false is disable_parallel_tool_use',
    { timeout: TEST_TIMEOUT_MS }, withLog(hermes, async () => {
      const image = await client.chat.completions.create({
        messages: [{ role: 'user', content: [{ type: 'text', text: 'what?' },
                                             { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
                                             { type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] }],
      });
      assert.equal(image.choices[0].message.content, 'echo:what? [2 image(s): base64, url]');
      const one = await client.chat.completions.create({ messages: [{ role: 'user', content: 'x' }], tools: TOOLS,
                                                         parallel_tool_calls: false });
      assert.equal(one.choices[0].message.tool_calls.length, 1);
    }));
});

describe('The tool loop through a webhook agent service', () => {
  const hermes = new Daemon();
  const SECRET = 'webhook-e2e-secret';
  let client, peer;
  before(async () => {
    const agent = await startPeer('webhook_agent.mjs', ['--secret', SECRET]);
    peer = agent.peer;
    const agentPort = agent.port;
    await hermes.start(({ dataDir, port }) => `gateway: {instance: e2e-tools-w, data_dir: ${JSON.stringify(dataDir)}}
listeners:
  - {name: local, bind: loopback, port: ${port}}
channels:
  - {name: api, type: api, listener: local}
models:
  - {name: service, type: webhook, url: "http://127.0.0.1:${agentPort}/answer", secret: "\${env:E2E_AGENT_SECRET}"}
agents:
  - {name: helper, model: service}
routes:
  - {name: default, agent: helper}
`, { E2E_AGENT_SECRET: SECRET });
    client = new OpenAI({ baseURL: `http://127.0.0.1:${hermes.port}/v1`, apiKey: 'none', maxRetries: 0, timeout: 5000 });
  });
  after(async () => {
    await hermes.stop();
    peer?.kill();
  });

  for (const stream of [false, true]) {
    test(`the agent service gets the tools and answers with a tool call (${stream ? 'SSE' : 'JSON'})`,
      { timeout: TEST_TIMEOUT_MS }, withLog(hermes, async () => {
        const text = stream ? 'stream Lima' : 'Lima';
        const messages = [{ role: 'user', content: text }];
        const first = stream
          ? await client.chat.completions.stream({ messages, tools: TOOLS, stream: true }).finalChatCompletion()
          : await client.chat.completions.create({ messages, tools: TOOLS });
        const message = first.choices[0].message;
        assert.equal(first.choices[0].finish_reason, 'tool_calls');
        assert.equal(message.tool_calls[0].function.name, 'get_weather');
        assert.deepEqual(JSON.parse(message.tool_calls[0].function.arguments), { q: text });
        messages.push(message, { role: 'tool', tool_call_id: message.tool_calls[0].id, content: 'sunny' });
        const second = await client.chat.completions.create({ messages, tools: TOOLS });
        assert.equal(second.choices[0].message.content, 'agent got: call_w1=sunny');
      }));
  }
});
