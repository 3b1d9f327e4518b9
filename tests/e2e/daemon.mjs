// A real hermesd for end-to-end tests: started on a free 127.0.0.1 port with a
// temporary config and data dir, ready once GET /healthz answers, stopped with SIGTERM
// (then SIGKILL). Failures quote hermesd's recent output.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const HERMESD = path.resolve(process.env.HERMESD || path.join(repoRoot, 'build/default/bin/hermesd'));
const START_TIMEOUT_MS = 8000;

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Starts a stand-in from tests/peers (`node <script> --port 0 ...args`) and resolves with
// {peer, port} once it prints "listening <port>". Kill `peer` in after().
export function startPeer(script, args = []) {
  const peer = spawn('node', [path.join(repoRoot, 'tests/peers', script), '--port', '0', ...args],
                     { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    peer.stdout.on('data', (d) => {
      const m = /listening (\d+)/.exec(String(d));
      if (m) resolve({ peer, port: Number(m[1]) });
    });
    peer.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
}
const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

export class Daemon {
  constructor() {
    this.output = '';
    this.child = null;
    this.exit = null; // {code, signal} once exited
    this.dir = null;
    this.port = 0;
  }

  tail(lines = 40) {
    const all = this.output.trimEnd().split('\n');
    const shown = all.slice(-lines).join('\n');
    const head = all.length > lines ? `(last ${lines} of ${all.length} lines)` : '';
    const state = this.exit
      ? `hermesd is NOT running: it exited (code ${this.exit.code}, signal ${this.exit.signal})`
      : `hermesd pid ${this.child?.pid} still running on 127.0.0.1:${this.port}`;
    return `${state}\n--- hermesd stderr/stdout ${head}---\n${shown || '(empty)'}\n--- end hermesd output ---`;
  }

  // `config({dataDir, port})` returns the YAML text; `env` adds environment variables.
  async start(config, env = {}) {
    assert.ok(existsSync(HERMESD), `hermesd binary not found at ${HERMESD} (set HERMESD=/path/to/hermesd)`);
    this.dir = await mkdtemp(path.join(tmpdir(), 'hermes-e2e-'));
    this.port = await freePort();
    const configPath = path.join(this.dir, 'hermes.yaml');
    await writeFile(configPath, config({ dataDir: path.join(this.dir, 'data'), port: this.port }));
    this.env = env;
    await this.launch();
  }

  // kill -9, as a crash or the OOM killer would.
  async kill9() {
    this.child.kill('SIGKILL');
    await this.exited;
  }

  // Starts hermesd again on the same config, data and port (after kill9()).
  async restart() {
    this.exit = null;
    await this.launch();
  }

  async launch() {
    const configPath = path.join(this.dir, 'hermes.yaml');
    let env = { ...process.env, ...this.env };
    delete env.NOTIFY_SOCKET;
    delete env.WATCHDOG_USEC;
    delete env.WATCHDOG_PID;
    this.child = spawn(HERMESD, ['--config', configPath], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(this.child);
    const collect = (buf) => {
      this.output += buf.toString();
      if (this.output.length > 1 << 20) this.output = this.output.slice(-(1 << 19));
    };
    this.child.stdout.on('data', collect);
    this.child.stderr.on('data', collect);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        children.delete(this.child);
        resolve();
      });
    });
    this.child.once('error', (err) => {
      this.output += `\n[spawn error] ${err.message}\n`;
    });

    const deadline = Date.now() + START_TIMEOUT_MS;
    let lastErr = '';
    while (Date.now() < deadline) {
      if (this.exit) {
        throw new Error(
          `hermesd exited during startup (code ${this.exit.code}, signal ${this.exit.signal}) ` +
            `with config ${configPath}\n${this.tail()}`,
        );
      }
      try {
        const res = await fetch(`http://127.0.0.1:${this.port}/healthz`, { signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        if (res.status === 200) return;
        lastErr = `GET /healthz answered ${res.status}`;
      } catch (err) {
        lastErr = err.cause?.code || err.message;
      }
      await sleep(50);
    }
    throw new Error(
      `hermesd did not answer GET /healthz on 127.0.0.1:${this.port} within ${START_TIMEOUT_MS} ms ` +
        `(last: ${lastErr})\n${this.tail()}`,
    );
  }

  // Stops hermesd; throws when it had already died by itself (a crash no test noticed).
  async stop() {
    const diedEarly = this.exit;
    if (this.child && !this.exit) {
      this.child.kill('SIGTERM');
      let timer;
      const timedOut = await Promise.race([
        this.exited.then(() => false),
        new Promise((resolve) => (timer = setTimeout(resolve, 5000, true))),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        process.stderr.write(`hermesd (pid ${this.child.pid}) ignored SIGTERM for 5 s; sending SIGKILL\n`);
        this.child.kill('SIGKILL');
        await this.exited;
      }
    }
    const tail = diedEarly ? this.tail() : '';
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
    if (diedEarly) throw new Error(`hermesd died during the tests\n${tail}`);
  }
}

// A test body whose failures carry hermesd's recent output.
export function withLog(daemon, fn) {
  return async (t) => {
    try {
      await fn(t);
    } catch (err) {
      // A crashing hermesd closes its sockets a moment before its exit is seen: wait for it.
      if (daemon.exited) await Promise.race([daemon.exited, sleep(300)]);
      throw new Error(`${err.message}\n${daemon.tail()}`, { cause: err });
    }
  };
}

