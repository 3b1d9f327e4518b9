// Child processes for the bench scripts (run.mjs, soak.mjs, email.mjs, slack_socket.mjs):
// free ports, children pinned to a CPU (each in its own process group so a stop can take its
// descendants too), a hermesd of a script's own, a process's RSS and CPU time, and the api
// channel's wrk baseline.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const CPUS = os.availableParallelism();

export function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Spawns `cmd` pinned to `cpu` (when there are two CPUs or more) and adds it to `children`.
export function spawnPinned(children, cmd, argv, { cpu, env } = {}) {
  const pinned = CPUS >= 2 && cpu !== undefined;
  const child = spawn(pinned ? 'taskset' : cmd, pinned ? ['-c', String(cpu), cmd, ...argv] : argv,
                      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, detached: true });
  children.push(child);
  return child;
}

// A process's resident memory in MiB (NaN once it is gone).
export function rssMiB(pid) {
  try { return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024; } catch { return NaN; }
}

// A process's CPU time so far (every thread), in seconds.
export function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;  // utime + stime, at USER_HZ 100
  } catch { return NaN; }
}

// The api channel's baseline: wrk (on CPU 0 when there are two CPUs or more) POSTs run.mjs's
// non-streaming body to `url`. Its Lua script goes to `dir`. {rps, errors}; NaN when wrk failed.
export function wrkApiBaseline(dir, url, connections, seconds) {
  const lua = path.join(dir, 'post.lua');
  const body = JSON.stringify({ model: 'auto', stream: false, messages: [{ role: 'user', content: 'hello bench' }] });
  writeFileSync(lua, `wrk.method = "POST"\nwrk.body = ${JSON.stringify(body)}\nwrk.headers["Content-Type"] = "application/json"\n`);
  const argv = ['-t', String(Math.min(2, connections)), '-c', String(connections), '-d', `${seconds}s`, '-s', lua, url];
  const pinned = CPUS >= 2;
  return new Promise((resolve) => {
    const child = spawn(pinned ? 'taskset' : 'wrk', pinned ? ['-c', '0', 'wrk', ...argv] : argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('error', (e) => { console.error(`wrk: ${e.message}`); resolve({ rps: NaN, errors: NaN }); });
    child.on('close', () => {
      const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
      const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
      if (!Number.isFinite(rps)) console.error(`wrk: ${out}`);
      resolve({ rps, errors: non2xx + (sock ? sock.slice(1).map(Number).reduce((a, b) => a + b, 0) : 0) });
    });
  });
}

// A hermesd of the calling script's own (email.mjs, slack_socket.mjs): every thread on CPU 1
// when there are two CPUs or more, no systemd notification variables, its output kept (the
// last MiB at most) for the report. `log()` is that output so far.
export function spawnHermesd(binary, argv, env = {}) {
  const childEnv = { ...process.env, ...env };
  for (const k of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete childEnv[k];
  const pinned = CPUS >= 2;
  const child = spawn(pinned ? 'taskset' : binary, pinned ? ['-c', '1', binary, ...argv] : argv,
                      { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv });
  let text = '';
  const collect = (d) => { text += d; if (text.length > 1 << 20) text = text.slice(-(1 << 19)); };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  return { child, log: () => text };
}

// Waits up to 20 s for `ready()` (async; a throw counts as not yet); throws, with hermesd's
// output, when it exits first or the time runs out (`what`: what it did not do).
export async function untilHermesdReady(hermes, ready, what) {
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    if (hermes.child.exitCode !== null) throw new Error(`hermesd exited (${hermes.child.exitCode}): ${hermes.log()}`);
    try {
      if (await ready()) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`hermesd did not ${await what()}: ${hermes.log()}`);
}
