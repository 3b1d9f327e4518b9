// Child processes for the bench scripts (run.mjs, soak.mjs): free ports, and children
// pinned to a CPU, each in its own process group so a stop can take its descendants too.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import os from 'node:os';

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
