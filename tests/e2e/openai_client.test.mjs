// End-to-end: the official `openai` npm client against a real hermesd (API channel).
//
// Run:  HERMESD=build/default/bin/hermesd node --test tests/e2e/
// Each suite starts its own hermesd on a free 127.0.0.1 port with a temporary config and
// data dir, waits for GET /healthz, and stops it (SIGTERM, then SIGKILL) in after().
// When hermesd refuses to start or a test fails, the failure quotes hermesd's stderr.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { Daemon, sleep, withLog } from './daemon.mjs';

const API_KEY = 'e2e-key';
const TEST_TIMEOUT_MS = 10000;

// The echo backend's answer: `[echo <model>] agent=<agent> rule=<rule>: <last user message>`.
const echoAnswer = (agent, rule, text) => `[echo demo] agent=${agent} rule=${rule}: ${text}`;

function config({ dataDir, port, limit }) {
  // JSON strings are valid YAML double-quoted scalars: safe for any temp path.
  return `gateway: {instance: e2e, data_dir: ${JSON.stringify(dataDir)}, threads: 2}
listeners:
  - {name: local, bind: loopback, port: ${port}}
channels:
  - name: api
    type: api
    listener: local
    keys:
      - {name: e2e-bot, key: "\${env:E2E_API_KEY}", agents: [general, billing]}
models:
  - {name: demo, type: echo}
agents:
  - {name: general, model: demo}
  - {name: billing, model: demo, system_prompt: "You answer billing questions."}
routes:
  - {name: billing-questions, match: {text_any: [invoice, refund]}, agent: billing}
  - {name: default, agent: general}
limits:
  - {name: per-key, key: api_key, rate: ${limit.rate}, burst: ${limit.burst}}
`;
}

function openaiClient(daemon, opts = {}) {
  return new OpenAI({
    baseURL: `http://127.0.0.1:${daemon.port}/v1`,
    apiKey: API_KEY,
    maxRetries: 0, // a retry must never hide a failure
    timeout: 5000,
    ...opts,
  });
}

const isCount = (n) => Number.isInteger(n) && n >= 0;

function assertUsage(usage) {
  assert.ok(usage, 'usage is missing');
  assert.ok(isCount(usage.prompt_tokens), `usage.prompt_tokens: ${usage.prompt_tokens}`);
  assert.ok(isCount(usage.completion_tokens), `usage.completion_tokens: ${usage.completion_tokens}`);
  assert.ok(isCount(usage.total_tokens), `usage.total_tokens: ${usage.total_tokens}`);
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens, 'total = prompt + completion');
}

// Reads a stream to the end; returns the chunks and the concatenated delta.content.
async function drain(stream) {
  const chunks = [];
  let text = '';
  for await (const chunk of stream) {
    chunks.push(chunk);
    for (const choice of chunk.choices) text += choice.delta?.content ?? '';
  }
  return { chunks, text };
}

describe('OpenAI client against the API channel', () => {
  const hermes = new Daemon();
  let client;
  before(async () => {
    await hermes.start((p) => config({ ...p, limit: { rate: '600/min', burst: 100 } }), { E2E_API_KEY: API_KEY });
    client = openaiClient(hermes);
  });
  after(() => hermes.stop());

  test('model auto routes an invoice question to billing (non-stream)', { timeout: TEST_TIMEOUT_MS },
    withLog(hermes, async () => {
      const text = 'where is my invoice?';
      const res = await client.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: text }] });
      assert.equal(res.object, 'chat.completion');
      assert.equal(typeof res.id, 'string');
      assert.equal(res.model, 'billing');
      assert.equal(res.choices.length, 1);
      const [choice] = res.choices;
      assert.equal(choice.message.role, 'assistant');
      assert.equal(choice.finish_reason, 'stop');
      const content = choice.message.content;
      assert.ok(content.includes('agent=billing'), `content: ${content}`);
      assert.ok(content.includes('rule=billing-questions'), `content: ${content}`);
      assert.ok(content.includes(text), `content: ${content}`);
      assert.equal(content, echoAnswer('billing', 'billing-questions', text));
      assertUsage(res.usage);
    }));

  test('stream: several chunks concatenate to the answer and the stream ends cleanly', { timeout: TEST_TIMEOUT_MS },
    withLog(hermes, async () => {
      const text = 'tell me something about the weather';
      const stream = await client.chat.completions.create({
        model: 'auto',
        stream: true,
        messages: [{ role: 'user', content: text }],
      });
      const { chunks, text: got } = await drain(stream);
      const withContent = chunks.filter((c) => c.choices.some((ch) => ch.delta?.content));
      assert.ok(withContent.length >= 2, `expected several content chunks, got ${withContent.length}`);
      assert.equal(got, echoAnswer('general', 'default', text));
      for (const c of chunks) {
        assert.equal(c.object, 'chat.completion.chunk');
        assert.equal(c.model, 'general');
        assert.ok(!c.usage, `no usage chunk without stream_options: ${JSON.stringify(c)}`);
      }
      const finishes = chunks.flatMap((c) => c.choices.map((ch) => ch.finish_reason)).filter(Boolean);
      assert.deepEqual(finishes, ['stop'], 'exactly one finish_reason, "stop"');
      assert.equal(chunks.at(-1).choices[0]?.finish_reason, 'stop', 'last chunk carries finish_reason');
    }));

  test('stream with include_usage: the last chunk has usage and empty choices', { timeout: TEST_TIMEOUT_MS },
    withLog(hermes, async () => {
      const text = 'can I get a refund?';
      const stream = await client.chat.completions.create({
        model: 'auto',
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: text }],
      });
      const { chunks, text: got } = await drain(stream);
      assert.equal(got, echoAnswer('billing', 'billing-questions', text));
      const last = chunks.at(-1);
      assert.deepEqual(last.choices, [], `last chunk: ${JSON.stringify(last)}`);
      assertUsage(last.usage);
      for (const c of chunks.slice(0, -1)) {
        assert.ok(!c.usage, `only the last chunk has usage: ${JSON.stringify(c)}`);
        assert.ok(c.choices.length > 0, `only the last chunk has empty choices: ${JSON.stringify(c)}`);
      }
    }));

  test('raw stream is text/event-stream and ends with the usage chunk, then data: [DONE]', { timeout: TEST_TIMEOUT_MS },
    withLog(hermes, async () => {
      const res = await client.chat.completions
        .create({
          model: 'auto',
          stream: true,
          stream_options: { include_usage: true },
          messages: [{ role: 'user', content: 'hello' }],
        })
        .asResponse();
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
      const body = await res.text();
      const data = body
        .split(/\r?\n/)
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trim());
      assert.ok(data.length >= 3, `SSE body:\n${body}`);
      assert.equal(data.at(-1), '[DONE]', `SSE body must end with data: [DONE]:\n${body}`);
      assert.equal(data.filter((d) => d === '[DONE]').length, 1, `one [DONE]:\n${body}`);
      const usageChunk = JSON.parse(data.at(-2));
      assert.deepEqual(usageChunk.choices, [], `chunk before [DONE]: ${data.at(-2)}`);
      assertUsage(usageChunk.usage);
    }));

  test('model general goes to that agent whatever the text says', { timeout: TEST_TIMEOUT_MS },
    withLog(hermes, async () => {
      const text = 'please refund my invoice';
      const res = await client.chat.completions.create({ model: 'general', messages: [{ role: 'user', content: text }] });
      assert.equal(res.model, 'general');
      const content = res.choices[0].message.content;
      assert.ok(content.startsWith('[echo demo] agent=general '), `content: ${content}`);
      assert.ok(!content.includes('agent=billing'), `content: ${content}`);
      assert.ok(content.endsWith(`: ${text}`), `content: ${content}`);
      assert.equal(res.choices[0].finish_reason, 'stop');
    }));

  test('unknown model gives NotFoundError model_not_found (404)', { timeout: TEST_TIMEOUT_MS },
    withLog(hermes, async () => {
      await assert.rejects(
        client.chat.completions.create({ model: 'gpt-nope', messages: [{ role: 'user', content: 'hi' }] }),
        (err) => {
          assert.ok(err instanceof OpenAI.NotFoundError, `expected NotFoundError, got ${err?.constructor?.name}: ${err}`);
          assert.equal(err.status, 404);
          assert.equal(err.code, 'model_not_found');
          return true;
        },
      );
    }));

  test('wrong API key gives AuthenticationError (401)', { timeout: TEST_TIMEOUT_MS },
    withLog(hermes, async () => {
      const bad = openaiClient(hermes, { apiKey: 'not-the-key' });
      await assert.rejects(
        bad.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'hi' }] }),
        (err) => {
          assert.ok(err instanceof OpenAI.AuthenticationError,
            `expected AuthenticationError, got ${err?.constructor?.name}: ${err}`);
          assert.equal(err.status, 401);
          return true;
        },
      );
    }));

  test('models.list returns the agents the key may use', { timeout: TEST_TIMEOUT_MS },
    withLog(hermes, async () => {
      const ids = [];
      for await (const m of client.models.list()) {
        assert.equal(m.object, 'model', JSON.stringify(m));
        ids.push(m.id);
      }
      assert.ok(ids.includes('general'), `ids: ${JSON.stringify(ids)}`);
      assert.ok(ids.includes('billing'), `ids: ${JSON.stringify(ids)}`);
    }));
});

describe('OpenAI client against a rate-limited API key', () => {
  const hermes = new Daemon();
  let client;
  before(async () => {
    await hermes.start((p) => config({ ...p, limit: { rate: '2/min', burst: 2 } }), { E2E_API_KEY: API_KEY });
    client = openaiClient(hermes, { maxRetries: 0 });
  });
  after(() => hermes.stop());

  test('the third request gets RateLimitError (429) with Retry-After and x-ratelimit-* headers',
    { timeout: TEST_TIMEOUT_MS },
    withLog(hermes, async () => {
      const ask = () => client.chat.completions.create({ model: 'general', messages: [{ role: 'user', content: 'hi' }] });
      for (let i = 1; i <= 2; i++) {
        const res = await ask();
        assert.equal(res.choices[0].finish_reason, 'stop', `request ${i} within the burst`);
      }
      await assert.rejects(ask().withResponse(), (err) => {
        assert.ok(err instanceof OpenAI.RateLimitError, `expected RateLimitError, got ${err?.constructor?.name}: ${err}`);
        assert.equal(err.status, 429);
        const h = err.headers;
        const show = JSON.stringify(Object.fromEntries(h?.entries?.() ?? []));
        const retryAfter = h.get('retry-after');
        assert.match(retryAfter ?? '', /^\d+$/, `Retry-After must be delay-seconds; headers: ${show}`);
        assert.ok(Number(retryAfter) >= 1, `Retry-After: ${retryAfter}`);
        assert.match(h.get('x-ratelimit-limit') ?? '', /^\d+$/, `x-ratelimit-limit; headers: ${show}`);
        assert.equal(h.get('x-ratelimit-remaining'), '0', `x-ratelimit-remaining; headers: ${show}`);
        assert.ok(h.get('x-ratelimit-reset'), `x-ratelimit-reset; headers: ${show}`);
        return true;
      });
    }));
});
