// End-to-end: the CDP relay in front of a real Chromium (Debian's), driven by the clients
// agents use: chrome-remote-interface (key in ?token=, as it cannot set headers) and
// playwright-core's connectOverCDP (key in a header). A local test site plays the intranet;
// a second site plays everything outside allow_urls.
//
// Time budget: Chromium starts in about 1 s here; the whole file stays under 30 s.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import CDP from 'chrome-remote-interface';
import { chromium } from 'playwright-core';
import { Daemon, sleep, withLog } from './daemon.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TEST_TIMEOUT_MS = 20000;
const KEY1 = 'cdp-e2e-key-one';
const KEY2 = 'cdp-e2e-key-two';

// An HTTP site on 127.0.0.1: `pages` maps a path to [status, headers, body].
function startSite(pages) {
  return new Promise((resolve) => {
    const server = http.createServer((req, res) => {
      const page = pages(server.address().port)[req.url.split('?')[0]];
      if (!page) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        return res.end('not here');
      }
      const [status, headers, body] = page;
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...headers });
      res.end(body);
    });
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

async function startChromium() {
  assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: run ./scripts/setup (Debian package chromium)`);
  const profile = await mkdtemp(path.join(tmpdir(), 'hermes-cdp-chromium-'));
  const child = spawn(CHROMIUM, ['--headless', '--no-sandbox', '--disable-background-networking', '--disable-gpu',
                                 `--user-data-dir=${profile}`, '--remote-debugging-port=0', 'about:blank'],
                      { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const portFile = path.join(profile, 'DevToolsActivePort');
  for (let i = 0; i < 200; i++) {
    if (existsSync(portFile)) {
      const [port] = (await readFile(portFile, 'utf8')).split('\n');
      if (port) return { child, profile, port: Number(port) };
    }
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`Chromium did not write DevToolsActivePort within 10 s\n${stderr}`);
}

function config(chromiumPort, sitePort) {
  return ({ dataDir, port }) => `gateway: {instance: e2e-cdp, data_dir: ${JSON.stringify(dataDir)}, threads: 2}
listeners:
  - {name: local, bind: loopback, port: ${port}}
browsers:
  - name: intranet
    listener: local
    endpoint: http://127.0.0.1:${chromiumPort}
    keys: [{name: agent-1, key: "\${env:CDP_KEY1}"}, {name: agent-2, key: "\${env:CDP_KEY2}"}]
    allow_urls: ["http://127.0.0.1:${sitePort}/*"]
    deny_methods: [Emulation.setGeolocationOverride]
    allow_origins: ["http://tools.corp.example"]
    max_sessions: 3
`;
}

const hermesctl = () => path.join(path.dirname(process.env.HERMESD), 'hermesctl');

async function auditRows(dataDir, kind) {
  const { stdout } = await promisify(execFile)(hermesctl(), ['audit', 'query', '--db', path.join(dataDir, 'audit.db'),
                                                             '--kind', kind, '--format', 'json', '--limit', '100']);
  return JSON.parse(stdout);
}

describe('CDP relay in front of Chromium', () => {
  const hermes = new Daemon();
  let browser, site, outside, base, relay, dataDir;
  const auth1 = { Authorization: `Bearer ${KEY1}` };

  before(async () => {
    outside = await startSite(() => ({ '/': [200, {}, '<title>Outside</title><p>the internet</p>'] }));
    site = await startSite((port) => ({
      '/': [200, {}, `<title>Intranet</title><p id="text">hello from the intranet</p>
                      <a id="inside" href="/second">second</a>
                      <a id="out" href="http://127.0.0.1:${outside.address().port}/">outside</a>
                      <a id="redirect" href="/away">away</a>`],
      '/second': [200, {}, '<title>Second</title><p>second page</p>'],
      '/away': [302, { location: `http://127.0.0.1:${outside.address().port}/` }, ''],
    }));
    browser = await startChromium();
    base = `http://127.0.0.1:${site.address().port}`;
    await hermes.start(config(browser.port, site.address().port), { CDP_KEY1: KEY1, CDP_KEY2: KEY2 });
    relay = `http://127.0.0.1:${hermes.port}/cdp/intranet`;
    dataDir = path.join(hermes.dir, 'data');
    // Sessions open once the relay's navigation guard is attached: /status says when.
    for (let i = 0; i < 100; i++) {
      const status = await (await fetch(`http://127.0.0.1:${hermes.port}/status`)).json();
      if (status.browsers?.[0]?.healthy) break;
      await sleep(100);
    }
  });
  after(async () => {
    await hermes.stop();
    if (browser) {
      const exited = new Promise((resolve) => browser.child.once('exit', resolve));
      browser.child.kill('SIGKILL');
      await exited;
      await rm(browser.profile, { recursive: true, force: true, maxRetries: 5 });
    }
    site?.close();
    outside?.close();
  });

  test('discovery needs a key and never shows the browser\'s address', { timeout: TEST_TIMEOUT_MS },
    withLog(hermes, async () => {
      assert.equal((await fetch(`${relay}/json/version`)).status, 401);
      assert.equal((await fetch(`${relay}/json/version`, { headers: { Authorization: 'Bearer nope' } })).status, 401);
      assert.equal((await fetch(`${relay}/json/version?token=nope`)).status, 401);
      const version = await (await fetch(`${relay}/json/version`, { headers: auth1 })).json();
      assert.match(version.Browser, /Chrome/);
      assert.match(version.webSocketDebuggerUrl,
                   new RegExp(`^ws://127\\.0\\.0\\.1:${hermes.port}/cdp/intranet/devtools/browser\\?ticket=[0-9a-f]{32}$`));
      const text = JSON.stringify(version) + JSON.stringify(await (await fetch(`${relay}/json/list?token=${KEY1}`)).json());
      assert.ok(!text.includes(`:${browser.port}`), `the browser's port leaked: ${text}`);
      assert.ok(!text.includes(KEY1), 'the key is never echoed');
      assert.ok(!text.includes('devtoolsFrontendUrl'));
    }));

  test('chrome-remote-interface with ?token=: open a page, navigate, read the title and text',
    { timeout: TEST_TIMEOUT_MS }, withLog(hermes, async () => {
      // alterPath serves the HTTP paths and the WebSocket's: only /json/* gets the prefix and
      // the key; the socket URL the relay hands out already has its path and a ticket.
      const options = { host: '127.0.0.1', port: hermes.port,
                        alterPath: (p) => (p.startsWith('/json')
                          ? `/cdp/intranet${p}${p.includes('?') ? '&' : '?'}token=${KEY1}` : p) };
      const target = await CDP.New({ ...options, url: 'about:blank' });
      assert.ok(!target.webSocketDebuggerUrl.includes(KEY1), 'a ticket, never the key, in the socket URL');
      const client = await CDP({ ...options, target });
      try {
        const { Page, Runtime } = client;
        await Page.enable();
        const loaded = Page.loadEventFired();
        await Page.navigate({ url: `${base}/` });
        await loaded;
        const title = await Runtime.evaluate({ expression: 'document.title' });
        assert.equal(title.result.value, 'Intranet');
        const text = await Runtime.evaluate({ expression: 'document.getElementById("text").textContent' });
        assert.equal(text.result.value, 'hello from the intranet');
        // Refused by command: never sent to the browser.
        await assert.rejects(Page.navigate({ url: `http://127.0.0.1:${outside.address().port}/` }),
                             /refused by gateway policy: the URL is not in the browser's allow_urls/);
        await assert.rejects(Page.navigate({ url: 'file:///etc/passwd' }), /'file:' URLs are never opened/);
        await assert.rejects(client.send('Network.getAllCookies'), /Network.getAllCookies refused by gateway policy/);
        await assert.rejects(client.send('Emulation.setGeolocationOverride', {}), /refused by gateway policy/);
        // A link the page follows itself, and a redirect, stop at the relay: the browser
        // shows its error page instead of the outside one.
        for (const id of ['out', 'redirect', 'inside']) {
          const home = Page.loadEventFired();
          await Page.navigate({ url: `${base}/` });
          await home;
          await Runtime.evaluate({ expression: `document.getElementById(${JSON.stringify(id)}).click()` });
          await sleep(500);
          const where = (await Runtime.evaluate({ expression: 'location.href + " " + document.title' })).result.value;
          if (id === 'inside') {
            assert.equal(where, `${base}/second Second`);
          } else {
            assert.match(where, /^chrome-error:/, `${id}: the page left allow_urls: ${where}`);
          }
        }
        // A popup the page opens itself is held by the guard too.
        await Runtime.evaluate({ expression: `window.open("http://127.0.0.1:${outside.address().port}/"); 1`, userGesture: true });
        await sleep(700);
        const pages = await (await fetch(`${relay}/json/list?token=${KEY1}`)).json();
        assert.ok(pages.length >= 2, 'the popup is one of the key\'s pages');
        assert.ok(!pages.some((p) => p.title === 'Outside'), `a popup reached the outside: ${JSON.stringify(pages)}`);
        for (const p of pages) if (p.id !== target.id) await CDP.Close({ ...options, id: p.id });
      } finally {
        await client.close();
      }
      await CDP.Close({ ...options, id: target.id });
    }));

  test('a page opened at an allowed URL that redirects outside stops at the guard', { timeout: TEST_TIMEOUT_MS },
    withLog(hermes, async () => {
      const opened = await fetch(`${relay}/json/new?${base}/away`, { method: 'PUT', headers: auth1 });
      assert.equal(opened.status, 200);
      const page = await opened.json();
      await sleep(700);
      const pages = await (await fetch(`${relay}/json/list`, { headers: auth1 })).json();
      const now = pages.find((p) => p.id === page.id);
      assert.ok(now, 'the page is listed');
      assert.notEqual(now.title, 'Outside', `the redirect was followed: ${JSON.stringify(now)}`);
      assert.ok(!now.url.startsWith(`http://127.0.0.1:${outside.address().port}`) || now.title !== 'Outside');
      await fetch(`${relay}/json/close/${page.id}`, { headers: auth1 });
      const refused = await fetch(`${relay}/json/new?http://127.0.0.1:${outside.address().port}/`, { method: 'PUT', headers: auth1 });
      assert.equal(refused.status, 403);
      const middle = await fetch(`${relay}/json/new?${base}/?a=1&token=${KEY1}&x=1`, { method: "PUT" });
      assert.equal(middle.status, 400, 'a key in the middle of the URL is refused, not sent on');
    }));

  test('playwright-core connectOverCDP with a header: new page, goto, title and text; outside refused',
    { timeout: TEST_TIMEOUT_MS }, withLog(hermes, async () => {
      const pw = await chromium.connectOverCDP(`${relay}/`, { headers: auth1, timeout: 10000 });
      try {
        const context = pw.contexts()[0];
        const page = await context.newPage();
        await page.goto(`${base}/`);
        assert.equal(await page.title(), 'Intranet');
        assert.equal(await page.textContent('#text'), 'hello from the intranet');
        await assert.rejects(page.goto(`http://127.0.0.1:${outside.address().port}/`), /ERR_BLOCKED_BY_CLIENT|refused/);
        await page.click('#inside');
        await page.waitForURL(`${base}/second`);
        assert.equal(await page.title(), 'Second');
        await page.close();
      } finally {
        await pw.close();
      }
    }));

  test('another key sees none of the first key\'s pages', { timeout: TEST_TIMEOUT_MS }, withLog(hermes, async () => {
    const mine = await (await fetch(`${relay}/json/new?about:blank`, { method: 'PUT', headers: auth1 })).json();
    const theirs = await (await fetch(`${relay}/json/list`, { headers: { Authorization: `Bearer ${KEY2}` } })).json();
    assert.ok(!theirs.some((t) => t.id === mine.id), 'agent-2 lists agent-1\'s page');
    const closeOther = await fetch(`${relay}/json/close/${mine.id}`, { headers: { Authorization: `Bearer ${KEY2}` } });
    assert.equal(closeOther.status, 404);
    const listed = await (await fetch(`${relay}/json/list`, { headers: auth1 })).json();
    assert.ok(listed.some((t) => t.id === mine.id));
    // agent-2 on the browser socket: Target.getTargets and attachToTarget do not reach it.
    const client = await CDP({ local: true, target: `ws://127.0.0.1:${hermes.port}/cdp/intranet/devtools/browser?token=${KEY2}` });
    try {
      const { targetInfos } = await client.send('Target.getTargets');
      assert.ok(!targetInfos.some((t) => t.targetId === mine.id));
      await assert.rejects(client.send('Target.attachToTarget', { targetId: mine.id, flatten: true }), /no such target/);
    } finally {
      await client.close();
    }
    assert.equal((await fetch(`${relay}/json/close/${mine.id}`, { headers: auth1 })).status, 200);
  }));

  test('a foreign Host or Origin is refused; max_sessions holds', { timeout: TEST_TIMEOUT_MS },
    withLog(hermes, async () => {
      const foreignHost = await new Promise((resolve) => {
        http.get({ host: '127.0.0.1', port: hermes.port, path: '/cdp/intranet/json/version',
                   headers: { Host: 'evil.example', ...auth1 } }, (res) => { res.resume(); resolve(res.statusCode); });
      });
      assert.ok(foreignHost >= 400 && foreignHost < 500, `foreign Host answered ${foreignHost}`);
      const origin = await fetch(`${relay}/json/version`, { headers: { ...auth1, Origin: 'http://evil.example' } });
      assert.equal(origin.status, 403);
      const allowed = await fetch(`${relay}/json/version`, { headers: { ...auth1, Origin: 'http://tools.corp.example' } });
      assert.equal(allowed.status, 200);
      const url = `ws://127.0.0.1:${hermes.port}/cdp/intranet/devtools/browser?token=${KEY1}`;
      const open = [];
      try {
        for (let i = 0; i < 3; i++) open.push(await CDP({ local: true, target: url }));
        await assert.rejects(CDP({ local: true, target: url }), /429|Unexpected server response/);
      } finally {
        for (const c of open) await c.close();
      }
    }));

  test('the audit holds sessions with their methods, and navigations', { timeout: TEST_TIMEOUT_MS },
    withLog(hermes, async () => {
      await sleep(1500);  // rows are committed within a second
      const sessions = await auditRows(dataDir, 'cdp.session');
      const withCommands = sessions.find((r) => r.detail.commands?.['Page.navigate'] >= 1 && r.sender === 'agent-1');
      assert.ok(withCommands, `no session row with Page.navigate: ${JSON.stringify(sessions)}`);
      assert.ok(withCommands.detail.refused['Network.getAllCookies'] >= 1);
      const navigations = await auditRows(dataDir, 'cdp.navigation');
      assert.ok(navigations.some((r) => r.decision === 'allowed' && r.detail.url === `${base}/`));
      assert.ok(navigations.some((r) => r.decision === 'refused' && r.detail.via === 'Page.navigate'));
      assert.ok(navigations.some((r) => r.decision === 'refused' && r.detail.via === 'page'),
                'a navigation the page started itself was refused and audited');
      const refused = await auditRows(dataDir, 'cdp.refused');
      assert.ok(refused.some((r) => r.status === 'unauthorized'));
      assert.ok(refused.some((r) => r.status === 'max_sessions'));
    }));
});
