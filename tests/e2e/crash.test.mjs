// kill -9 under mixed load (docs/security.md, threat table): API requests, web chat
// sockets and signed Slack events run together against agents that take a moment to
// answer; hermesd is killed mid-load and started again. Every Slack event Hermes
// acknowledged is answered exactly once (none lost; a post the kill interrupted is found
// by its metadata, not posted twice), the API and web chat answer again after the
// restart, and the audit chain verifies.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import WebSocket from 'ws';
import { Daemon, repoRoot, sleep, startPeer, withLog } from './daemon.mjs';

const SIGNING_SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const BOT_TOKEN = 'xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy';
const HERMESCTL = path.join(path.dirname(path.resolve(process.env.HERMESD || path.join(repoRoot, 'build/default/bin/hermesd'))),
                            'hermesctl');

const daemon = new Daemon();
let slack;

const config = (slackPort) => ({ dataDir, port }) => `
gateway: {instance: e2e-crash, data_dir: "${dataDir}", threads: 2}
listeners:
  - {name: local, bind: loopback, port: ${port}}
channels:
  - {name: api, type: api, listener: local}
  - {name: webchat, type: webchat, listener: local}
  - {name: slack, type: slack, listener: local, signing_secret: "\${env:E2E_SLACK_SECRET}",
     bot_token: "\${env:E2E_SLACK_TOKEN}", api_url: "http://127.0.0.1:${slackPort}/api"}
models:
  - {name: paced, type: echo, chunks: 4, delay: 60ms}
agents:
  - {name: general, model: paced}
routes:
  - {name: default, agent: general}
outbox: {first_backoff: 100ms, max_backoff: 400ms}
`;

before(async () => {
  slack = await startPeer('slack_peer.mjs', ['--signing-secret', SIGNING_SECRET, '--token', BOT_TOKEN]);
  await daemon.start(config(slack.port), { E2E_SLACK_SECRET: SIGNING_SECRET, E2E_SLACK_TOKEN: BOT_TOKEN });
});

after(async () => {
  await daemon.stop().catch(() => {});
  slack?.peer.kill();
});

async function peerJson(route, body) {
  const res = await fetch(`http://127.0.0.1:${slack.port}${route}`, body === undefined ? {} : {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return res.json();
}

// One DM per event, so each answer names its event by its channel.
function slackEvent(n) {
  const ts = `1700000${String(n).padStart(3, '0')}.000100`;
  return {
    type: 'event_callback', team_id: 'T0001', api_app_id: 'A0001', event_id: `EvCrash${n}`, event_time: 1700000000,
    event: { type: 'message', channel: `DCRASH${n}`, channel_type: 'im', user: 'U1', text: `crash test ${n}`, ts, event_ts: ts },
  };
}

async function askApi(text) {
  const res = await fetch(`http://127.0.0.1:${daemon.port}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'general', messages: [{ role: 'user', content: text }] }),
    signal: AbortSignal.timeout(5000),
  });
  return { status: res.status, body: await res.json() };
}

// A web chat tab: sends a message after each answer; counts the answers it saw whole.
function webchatTab(stop) {
  return new Promise((resolve) => {
    let done = 0;
    const ws = new WebSocket(`ws://127.0.0.1:${daemon.port}/chat/ws`,
                             { origin: `http://127.0.0.1:${daemon.port}`, perMessageDeflate: false });
    const next = () => (stop.now ? ws.close() : ws.send(JSON.stringify({ type: 'message', text: `tab ${done}` })));
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data));
      if (frame.type === 'ready') next();
      if (frame.type === 'done') {
        done += 1;
        next();
      }
    });
    ws.on('open', () => ws.send('{"type":"hello"}'));
    ws.on('error', () => {});
    ws.on('close', () => resolve(done));
  });
}

test('kill -9 under API, web chat and Slack load: acknowledged events answered exactly once, the chain verifies',
     withLog(daemon, async (t) => {
  const stop = { now: false };
  const acked = new Set();
  let sent = 0;
  const slackLoad = (async () => {
    while (!stop.now) {
      const n = sent++;
      const reply = await peerJson('/_send', { url: `http://127.0.0.1:${daemon.port}/slack/slack/events`,
                                               payload: slackEvent(n) });
      if (reply.status === 200) acked.add(n);
    }
  })();
  let apiAnswers = 0;
  const apiLoad = Promise.all([0, 1, 2].map(async (k) => {
    while (!stop.now) {
      try {
        if ((await askApi(`api ${k}`)).status === 200) apiAnswers += 1;
      } catch { /* the connection dies with the process */ }
    }
  }));
  const tabs = [webchatTab(stop), webchatTab(stop)];

  await sleep(1500);
  await daemon.kill9();
  stop.now = true;
  await Promise.all([slackLoad, apiLoad]);
  const tabAnswers = await Promise.all(tabs);
  assert.ok(acked.size >= 3, `only ${acked.size} Slack events were acknowledged before the kill`);
  assert.ok(apiAnswers >= 3 && tabAnswers.every((n) => n >= 1), `load too light: api ${apiAnswers}, tabs ${tabAnswers}`);

  const answeredAtKill = (await peerJson('/_posts')).length;
  await daemon.restart();
  // Every acknowledged event is answered, after the restart if not before.
  let posts = [];
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    posts = await peerJson('/_posts');
    const answered = new Set(posts.map((p) => Number(p.channel.slice('DCRASH'.length))));
    if ([...acked].every((n) => answered.has(n))) break;
    await sleep(100);
  }
  await sleep(500);  // anything answered twice would have arrived by now
  posts = await peerJson('/_posts');
  const perEvent = new Map();
  for (const p of posts) {
    const n = Number(p.channel.slice('DCRASH'.length));
    perEvent.set(n, (perEvent.get(n) ?? 0) + 1);
  }
  for (const n of acked) assert.ok(perEvent.get(n) >= 1, `event ${n} was acknowledged but never answered`);
  t.diagnostic(`Slack: ${sent} sent, ${acked.size} acknowledged, ${answeredAtKill} answered before the kill, ` +
               `${posts.length} after the restart; API answers ${apiAnswers}; web chat answers ${tabAnswers}`);

  // The other channels answer again.
  const again = await askApi('after the restart');
  assert.equal(again.status, 200);
  assert.match(again.body.choices[0].message.content, /after the restart/);
  const tab = webchatTab({ now: false });
  await sleep(800);

  // A clean stop, then the chain verifies across the crash.
  daemon.child.kill('SIGTERM');
  await daemon.exited;
  assert.ok(await Promise.race([tab, sleep(3000).then(() => -1)]) >= 1, 'the web chat answered after the restart');
  const db = path.join(daemon.dir, 'data', 'audit.db');
  const out = execFileSync(HERMESCTL, ['audit', 'verify', '--db', db], { encoding: 'utf8' });
  assert.match(out, /^OK: \d+ row\(s\) verified/m);
  // Exactly once, even when the kill came during a post: the restart finds that post by its
  // metadata (conversations.history) instead of posting it again.
  for (const [n, count] of perEvent) assert.equal(count, 1, `event ${n} answered ${count} times`);
  const found = JSON.parse(execFileSync(HERMESCTL, ['audit', 'query', '--db', db, '--kind', 'message.delivery',
                                                    '--format', 'json', '--limit', '100000'], { encoding: 'utf8' }))
    .filter((r) => r.status === 'found_after_restart').length;
  t.diagnostic(`posts found after the restart instead of sent again: ${found}`);
}));
