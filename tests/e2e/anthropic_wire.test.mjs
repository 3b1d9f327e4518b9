// Wire-format check: the official @anthropic-ai/sdk parses what the Anthropic stand-in
// (tests/peers/anthropic_upstream.mjs) sends, so the gateway's tests against that
// stand-in exercise the real format.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startPeer } from './daemon.mjs';

const KEY = 'anthropic-wire-key';

describe('Anthropic stand-in vs the official SDK', () => {
  let peer, client;
  before(async () => {
    let port;
    ({ peer, port } = await startPeer('anthropic_upstream.mjs', ['--key', KEY]));
    client = new Anthropic({ apiKey: KEY, baseURL: `http://127.0.0.1:${port}`, maxRetries: 0, timeout: 5000 });
  });
  after(() => peer?.kill());

  test('a streamed message: raw events and the accumulated final message', async () => {
    const stream = await client.messages.create({
      model: 'claude-echo', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hello there' }],
    });
    const types = [];
    let text = '';
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
    }
    assert.equal(text, 'echo:hello there');
    assert.equal(types[0], 'message_start');
    assert.equal(types.at(-1), 'message_stop');
    assert.ok(types.includes('message_delta'));

    const helper = client.messages.stream({
      model: 'claude-echo', max_tokens: 64, messages: [{ role: 'user', content: 'again' }],
    });
    const final = await helper.finalMessage();
    assert.equal(final.content[0].text, 'echo:again');
    assert.equal(final.stop_reason, 'end_turn');
    assert.ok(final.usage.output_tokens > 0);
  });

  test('an error event mid-stream surfaces as the SDK error', async () => {
    const stream = await client.messages.create({
      model: 'claude-midstream', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hello there' }],
    });
    await assert.rejects(async () => {
      for await (const event of stream) void event;
    }, (err) => /overloaded/i.test(String(err?.message ?? err)));
  });

  test('HTTP errors carry their status and type', async () => {
    await assert.rejects(
      client.messages.create({ model: 'claude-529', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }),
      (err) => err.status === 529 && /overloaded/i.test(err.message));
  });
});
