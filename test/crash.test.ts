// Goal: after kill -9 of the whole process at a random moment, every acknowledged write is there
// with its value, every value a read returned is there, and no transaction is partly visible.
// Method: a child process writes with 32 in flight and reports acks over IPC; the test SIGKILLs
// it at a random time, reopens the volume here, and checks. Seeded, so a failure can be replayed
// with AURORAL_CRASH_SEED=<seed>.
import { describe, expect, it } from 'vitest';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { open } from '../src/index.js';
import { smallOptions, tempDir, text, waitFor } from './helpers.js';

const CYCLES = Number(process.env.AURORAL_CRASH_CYCLES ?? 20);
const SEED = Number(process.env.AURORAL_CRASH_SEED ?? Date.now() % 1_000_000);

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 0x1_0000_0000;
  };
}

interface Run { acked: { k: number[]; t: number[]; r: number[] }; issuedMax: number }

function runChild(dir: string, cycle: number, killAfterMs: number, options: object): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(new URL('./fixtures/crash-child.mjs', import.meta.url)), [dir, String(cycle), JSON.stringify(options)], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    const run: Run = { acked: { k: [], t: [], r: [] }, issuedMax: 0 };
    let stderr = '';
    child.stderr!.on('data', (d) => { stderr += String(d); });
    child.on('message', (m: { ready?: boolean; acks?: [string, number][] }) => {
      if (m.ready) setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      for (const [kind, i] of m.acks ?? []) {
        (kind === 'k' ? run.acked.k : kind === 'r' ? run.acked.r : run.acked.t).push(i);
        run.issuedMax = Math.max(run.issuedMax, i);
      }
    });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(run);
      else reject(new Error(`child exited with ${code}: ${stderr}`));
    });
  });
}

describe('crash', () => {
  it(`keeps every acknowledged write across ${CYCLES} kill -9 cycles (seed ${SEED})`, async () => {
    const dir = tempDir();
    // Small segments so that coalescing and hot-log GC run (and get killed) within the cycles.
    const small = smallOptions(dir, { segmentBytes: 256 * 1024, groupCommit: { batchBytesMax: 32 * 1024 }, mtrBytesMax: 32 * 1024, valueBytesMax: 8 * 1024 });
    const { dir: _, ...options } = small;
    let coalesced = 0;
    let readsChecked = 0;
    const random = rng(SEED);
    let checkedAcks = 0;
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const killAfter = 20 + Math.floor(random() * 250);
      const run = await runChild(dir, cycle, killAfter, options);
      const db = await open(small);
      try {
        const missing: string[] = [];
        // Puts (i % 4 === 1 wrote c<cycle>-r<i>, the others c<cycle>-k<i>).
        const keyOf = (i: number) => (i % 4 === 1 ? `c${cycle}-r${i}` : `c${cycle}-k${i}`);
        const values = await Promise.all(run.acked.k.map((i) => db.get(keyOf(i))));
        run.acked.k.forEach((i, j) => { if (text(values[j]) !== `v${cycle}-${i}`) missing.push(keyOf(i)); });
        // Values a read returned before the kill (it had waited for their durability).
        const readBack = await Promise.all(run.acked.r.map((i) => db.get(`c${cycle}-r${i}`)));
        run.acked.r.forEach((i, j) => { if (text(readBack[j]) !== `v${cycle}-${i}`) missing.push(`read c${cycle}-r${i}`); });
        readsChecked += run.acked.r.length;
        for (const i of run.acked.t) {
          const [a, b] = await Promise.all([db.get(`c${cycle}-t${i}-a`), db.get(`c${cycle}-t${i}-b`)]);
          if (text(a) !== `t${cycle}-${i}` || text(b) !== `t${cycle}-${i}`) missing.push(`c${cycle}-t${i}`);
        }
        // Every transaction issued (acknowledged or not) is whole or absent.
        const partial: number[] = [];
        for (let i = 3; i <= run.issuedMax + 64; i += 4) {
          const [a, b] = await Promise.all([db.get(`c${cycle}-t${i}-a`), db.get(`c${cycle}-t${i}-b`)]);
          if ((a === undefined) !== (b === undefined)) partial.push(i);
        }
        expect(missing, `seed ${SEED} cycle ${cycle}: acknowledged writes lost (replay: AURORAL_CRASH_SEED=${SEED})`).toEqual([]);
        expect(partial, `seed ${SEED} cycle ${cycle}: partial transactions`).toEqual([]);
        checkedAcks += run.acked.k.length + run.acked.t.length;
        if (cycle === 0) {
          // Make sure a coalescing cycle completes early, so that every later kill recovers from
          // page images plus a partly garbage-collected hot log.
          for (let b = 0; b < 10; b++) await Promise.all(Array.from({ length: 500 }, (_, i) => db.put(`warm-${b}-${i}`, 'w'.repeat(100))));
          await waitFor(() => db.stats().nodes.some((n) => n.coalesceLsn > 0), 10_000);
        }
        coalesced = Math.max(coalesced, ...db.stats().nodes.map((n) => n.coalesceLsn));
      } finally {
        await db.close();
      }
    }
    expect(checkedAcks).toBeGreaterThan(CYCLES); // the test really checked acknowledged writes
    expect(coalesced).toBeGreaterThan(0); // and coalescing + GC ran between the kills
    expect(readsChecked).toBeGreaterThan(0); // and values returned by reads were checked too
  }, 240_000);
});
