// End-to-end: Debian's Chromium (driven by playwright-core) loads the web chat page from a
// real hermesd, sends messages, and sees answers stream in with the agent's name.
// Screenshots go to <build dir>/e2e/ (next to the hermesd binary's bin/).
//
// Run:  HERMESD=build/default/bin/hermesd node --test tests/e2e/webchat_browser.test.mjs
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { Daemon, repoRoot, withLog } from './daemon.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const HERMESD = path.resolve(process.env.HERMESD || path.join(repoRoot, 'build/default/bin/hermesd'));
const SHOTS = path.join(path.dirname(path.dirname(HERMESD)), 'e2e');
const TEST_TIMEOUT_MS = 20000;

function config({ dataDir, port }) {
  return `gateway: {instance: e2e-webchat, data_dir: ${JSON.stringify(dataDir)}, threads: 2}
listeners:
  - {name: local, bind: loopback, port: ${port}}
channels:
  - {name: webchat, type: webchat, listener: local}
models:
  - {name: demo, type: echo, chunks: 6, delay: 150ms}
agents:
  - {name: general, model: demo}
  - {name: billing, model: demo}
routes:
  - {name: billing-questions, match: {text_any: [invoice]}, agent: billing}
  - {name: default, agent: general}
limits:
  - {name: per-browser, key: sender, rate: 3/min, burst: 3}
`;
}

describe('web chat in Chromium', () => {
  const hermes = new Daemon();
  let browser;
  before(async () => {
    assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: run ./scripts/setup (Debian package chromium)`);
    await mkdir(SHOTS, { recursive: true });
    await hermes.start(config);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
    await hermes.stop();
  });

  test('a message streams its answer with the agent name; limits show a notice', { timeout: TEST_TIMEOUT_MS },
    withLog(hermes, async () => {
      const page = await browser.newPage();
      const problems = [];
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
      await page.goto(`http://127.0.0.1:${hermes.port}/chat/`);
      await page.locator('#status[data-state="ready"]').waitFor();
      assert.equal(await page.locator('#key-form').isVisible(), false, 'no access key is asked for when none is configured');

      await page.locator('#message').fill('where is my invoice?');
      await page.keyboard.press('Enter');
      // While the answer streams, the bubble is marked as streaming…
      await page.locator('#log li.agent.streaming').waitFor();
      // …and when it is done it names the agent that answered.
      const answer = page.locator('#log li.agent:not(.streaming)').last();
      await answer.waitFor();
      assert.equal(await answer.locator('.who').textContent(), 'billing');
      assert.match(await answer.locator('.text').textContent(), /agent=billing rule=billing-questions: where is my invoice\?/);
      await page.screenshot({ path: path.join(SHOTS, 'webchat.png'), fullPage: true });

      // Narrow screen: the same page, still usable.
      await page.setViewportSize({ width: 360, height: 640 });
      await page.locator('#message').fill('hello from a phone');
      await page.keyboard.press('Enter');
      await page.locator('#log li.agent:not(.streaming) .text', { hasText: 'hello from a phone' }).waitFor();
      assert.equal(await page.locator('#log li.agent:not(.streaming) .who').last().textContent(), 'general');
      await page.screenshot({ path: path.join(SHOTS, 'webchat-narrow.png'), fullPage: true });

      // The per-browser limit (3/min) turns the fourth message into a clear notice.
      await page.locator('#message').fill('one more');
      await page.keyboard.press('Enter');
      await page.locator('#log li.agent:not(.streaming) .text', { hasText: 'one more' }).waitFor();
      await page.locator('#message').fill('and another');
      await page.keyboard.press('Enter');
      const notice = page.locator('#log li.notice').last();
      await notice.waitFor();
      assert.match(await notice.textContent(), /try again in \d+ s/);
      assert.deepEqual(problems, []);
      await page.close();
    }));

  test('a reload keeps the conversation and resumes the session', { timeout: TEST_TIMEOUT_MS },
    withLog(hermes, async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${hermes.port}/chat/`);
      await page.locator('#status[data-state="ready"]').waitFor();
      await page.locator('#message').fill('remember this');
      await page.keyboard.press('Enter');
      await page.locator('#log li.agent:not(.streaming) .text', { hasText: 'remember this' }).waitFor();
      await page.reload();
      await page.locator('#status', { hasText: 'conversation resumed' }).waitFor();
      assert.ok(await page.locator('#log li.user', { hasText: 'remember this' }).count() >= 1,
        'the transcript survives a reload');
      await context.close();
    }));
});
