// What a process restart cannot go below on this machine, measured in the same run as the
// restart itself (bench:recovery): the design starts seven threads (six nodes, group commit),
// and each Node.js worker boots its own V8 isolate and Node runtime before any code of ours runs.
//   - threads: seven empty ESM workers started at once, until each has posted a message;
//   - process: a fresh `node` process that does the same, from spawn until it says so, to set
//     against bench:recovery's "from fork" figure.
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { workerUrl } from '../shared/paths.js';

export interface ThreadFloor {
  threads: number;
  /** Median ms until every empty worker posted its first message, in this process. */
  threadsOnlineMs: number;
  /** Median ms from spawning a new node process that starts them until they all are up. */
  processWithThreadsMs: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function startEmptyWorkers(n: number, url: URL = workerUrl('bench/empty-worker.js')): Promise<number> {
  const t0 = performance.now();
  // execArgv []: a bench run under tsx would otherwise hand its loader to every worker (the
  // engine's threads in bench:recovery's restart child start without it too).
  const workers = Array.from({ length: n }, () => new Worker(url, { execArgv: [] }));
  try {
    await Promise.all(workers.map((w) => new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    })));
    return performance.now() - t0;
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

function processWithWorkers(n: number): Promise<number> {
  const url = workerUrl('bench/empty-worker.js').href;
  const code = `import { Worker } from 'node:worker_threads';
let up = 0;
for (let i = 0; i < ${n}; i++) new Worker(new URL(${JSON.stringify(url)}), { execArgv: [] }).once('message', function () { if (++up === ${n}) { process.stdout.write('up\\n'); process.exit(0); } });`;
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    let t = -1;
    child.stdout.once('data', () => { t = performance.now() - t0; });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 && t >= 0 ? resolve(t) : reject(new Error(`thread floor child exited ${code}`))));
  });
}

export async function measureThreadFloor(threads = 7, reps = 5): Promise<ThreadFloor> {
  await startEmptyWorkers(1); // the first worker of a process also loads the worker runtime's code from disk
  const inProcess: number[] = [];
  const fromSpawn: number[] = [];
  for (let i = 0; i < reps; i++) {
    inProcess.push(await startEmptyWorkers(threads));
    fromSpawn.push(await processWithWorkers(threads));
  }
  return { threads, threadsOnlineMs: median(inProcess), processWithThreadsMs: median(fromSpawn) };
}
