// kill -9 torture: a child process writes (torture-child.ts) and is killed with SIGKILL at a
// random moment after its first acknowledged write; the volume is reopened here and checked: every acknowledged put and transaction
// is there with its value, every value a read returned is there, no transaction is partly visible.
// Seeded: the seed decides the kill times (the child's progress still varies with the machine).
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { open, type Database, type OpenOptions } from '../index.js';
import { workerUrl } from '../shared/paths.js';

export interface TortureCycle {
  cycle: number;
  killAfterMs: number;
  acked: number;
  readsChecked: number;
  /** Acknowledged writes or read values missing or wrong after reopen (must be empty). */
  lost: string[];
  /** Transactions with one key present and the other absent (must be empty). */
  partial: number[];
  /** Highest coalesce point among the nodes after reopen. */
  coalesceLsn: number;
}

export interface TortureOptions {
  dir: string;
  cycles: number;
  seed: number;
  killAfterMsMin?: number;
  killAfterMsMax?: number;
  open: Omit<OpenOptions, 'dir'>;
  /** Called with the reopened volume after each cycle's checks (before it is closed). */
  afterCycle?: (db: Database, r: TortureCycle) => Promise<void>;
  onCycle?: (r: TortureCycle) => void;
}

const READY_TIMEOUT_MS = 30_000;

interface Run { k: number[]; t: number[]; r: number[]; issuedMax: number }

function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 0x1_0000_0000;
  };
}

function runChild(dir: string, cycle: number, killAfterMs: number, options: object): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(workerUrl('cli/torture-child.js')), [dir, String(cycle), JSON.stringify(options)],
      { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    const run: Run = { k: [], t: [], r: [], issuedMax: 0 };
    let stderr = '';
    child.stderr!.on('data', (d) => { stderr += String(d); });
    // The kill clock starts at the child's first acknowledgement; a child that never gets one
    // (a bug, or a machine far too slow) is killed anyway, and the cycle checks what it has.
    const fallback = setTimeout(() => child.kill('SIGKILL'), READY_TIMEOUT_MS);
    child.on('message', (m: { ready?: boolean; acks?: [string, number][] }) => {
      if (m.ready) {
        clearTimeout(fallback);
        setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
      for (const [kind, i] of m.acks ?? []) {
        (kind === 'k' ? run.k : kind === 'r' ? run.r : run.t).push(i);
        run.issuedMax = Math.max(run.issuedMax, i);
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(fallback);
      if (signal === 'SIGKILL') resolve(run);
      else reject(new Error(`torture child exited with ${code}: ${stderr}`));
    });
  });
}

const text = (v: Uint8Array | undefined) => (v === undefined ? undefined : Buffer.from(v).toString());

export async function torture(o: TortureOptions): Promise<TortureCycle[]> {
  const random = xorshift(o.seed);
  const min = o.killAfterMsMin ?? 20;
  const max = o.killAfterMsMax ?? 270;
  const results: TortureCycle[] = [];
  for (let cycle = 0; cycle < o.cycles; cycle++) {
    const killAfterMs = min + Math.floor(random() * (max - min));
    const run = await runChild(o.dir, cycle, killAfterMs, o.open);
    const db = await open({ dir: o.dir, ...o.open });
    try {
      const lost: string[] = [];
      const keyOf = (i: number) => (i % 4 === 1 ? `c${cycle}-r${i}` : `c${cycle}-k${i}`);
      const values = await Promise.all(run.k.map((i) => db.get(keyOf(i))));
      run.k.forEach((i, j) => { if (text(values[j]) !== `v${cycle}-${i}`) lost.push(keyOf(i)); });
      const readBack = await Promise.all(run.r.map((i) => db.get(`c${cycle}-r${i}`)));
      run.r.forEach((i, j) => { if (text(readBack[j]) !== `v${cycle}-${i}`) lost.push(`read c${cycle}-r${i}`); });
      for (const i of run.t) {
        const [a, b] = await Promise.all([db.get(`c${cycle}-t${i}-a`), db.get(`c${cycle}-t${i}-b`)]);
        if (text(a) !== `t${cycle}-${i}` || text(b) !== `t${cycle}-${i}`) lost.push(`c${cycle}-t${i}`);
      }
      // Every transaction issued (acknowledged or not) is whole or absent.
      const partial: number[] = [];
      for (let i = 3; i <= run.issuedMax + 64; i += 4) {
        const [a, b] = await Promise.all([db.get(`c${cycle}-t${i}-a`), db.get(`c${cycle}-t${i}-b`)]);
        if ((a === undefined) !== (b === undefined)) partial.push(i);
      }
      const r: TortureCycle = {
        cycle, killAfterMs, acked: run.k.length + run.t.length, readsChecked: run.r.length, lost, partial,
        coalesceLsn: Math.max(...db.stats().nodes.map((n) => n.coalesceLsn)),
      };
      if (o.afterCycle) await o.afterCycle(db, r);
      r.coalesceLsn = Math.max(r.coalesceLsn, ...db.stats().nodes.map((n) => n.coalesceLsn));
      results.push(r);
      o.onCycle?.(r);
    } finally {
      await db.close();
    }
  }
  return results;
}
