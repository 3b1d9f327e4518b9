// Child processes for the bench scripts (run.mjs, soak.mjs, email.mjs, slack_socket.mjs):
// free ports, children pinned to a CPU (each in its own process group so a stop can take its
// descendants too), a process's RSS and CPU time, and the api channel's wrk baseline.
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
