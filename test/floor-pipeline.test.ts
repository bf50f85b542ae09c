// Goal: the floor pipeline that `npm run bench:write` and `bench:redis` measure the engine against is a real
// durable pipeline, not a no-op: a put resolves only once `quorum` nodes have written it (and
// every earlier put), records survive the ring's wrap-around, and close stops every thread.
import { afterEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FloorPipeline, readFloorRecord } from '../src/bench/floor-pipeline.js';
import { FLOOR_SLOTS } from '../src/bench/floor-layout.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'auroral-floor-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function record(n: number): { key: Uint8Array; value: Uint8Array } {
  const key = new Uint8Array(16);
  new DataView(key.buffer).setUint32(0, n, true);
  const value = new Uint8Array(100).fill(n & 0xff);
  return { key, value };
}

/** How many node files hold record n as it was put. */
function copies(dir: string, nodes: number, n: number): number {
  const { key, value } = record(n);
  const want = Buffer.concat([key, value]);
  let count = 0;
  for (let i = 0; i < nodes; i++) {
    const got = readFloorRecord(path.join(dir, `floor-node-${i}.log`), n);
    if (got !== null && Buffer.from(got).equals(want)) count++;
  }
  return count;
}

describe('floor pipeline (bench:write / bench:redis baseline)', () => {
  it('resolves a put only once a quorum of nodes wrote it and every earlier put, across the ring wrap', async () => {
    const dir = tempDir();
    const p = await FloorPipeline.start(dir, { nodes: 6, quorum: 4, fsync: 'none' });
    try {
      const total = FLOOR_SLOTS + 5_000; // past one wrap of the ring
      const inflight = 64;
      let next = 0;
      let checked = 0;
      const bad: string[] = [];
      const worker = async (): Promise<void> => {
        while (next < total) {
          const n = next++;
          const { key, value } = record(n);
          await p.put(key, value);
          // Sample: at the moment it resolves, this put and the one just before it are on >= 4 files
          // (records after a wrap overwrite their slot, so only check what was put within the last lap).
          if (n % 997 === 0) {
            checked++;
            for (const m of [n, Math.max(0, n - 1)]) {
              const c = copies(dir, 6, m);
              if (c < 4) bad.push(`record ${m}: ${c} copies at resolve of ${n}`);
            }
          }
        }
      };
      await Promise.all(Array.from({ length: inflight }, worker));
      expect(bad).toEqual([]);
      expect(checked).toBeGreaterThan(30);
    } finally {
      await p.close();
    }
    await expect(p.put(new Uint8Array(16), new Uint8Array(1))).rejects.toThrow(/closed/);
  });

  it('with quorum = nodes, a resolved put is on every node', async () => {
    const dir = tempDir();
    const p = await FloorPipeline.start(dir, { nodes: 3, quorum: 3, fsync: 'fdatasync' });
    try {
      for (let n = 0; n < 200; n++) {
        const { key, value } = record(n);
        await p.put(key, value);
        expect(copies(dir, 3, n)).toBe(3);
      }
    } finally {
      await p.close();
    }
  });

  it('refuses bad options and oversized records with clear errors', async () => {
    const dir = tempDir();
    await expect(FloorPipeline.start(dir, { nodes: 0 })).rejects.toThrow(/nodes must be 1\.\.8/);
    await expect(FloorPipeline.start(dir, { nodes: 3, quorum: 4 })).rejects.toThrow(/quorum must be 1\.\.nodes/);
    const p = await FloorPipeline.start(dir, { nodes: 1, quorum: 1, fsync: 'none' });
    try {
      await expect(p.put(new Uint8Array(16), new Uint8Array(200))).rejects.toThrow(/over 124 bytes/);
    } finally {
      await p.close();
    }
  });
});

describe('thread start-up floor (bench:recovery)', () => {
  it('starts empty workers, waits for each, and terminates them', async () => {
    const { startEmptyWorkers } = await import('../src/bench/thread-floor.js');
    const ms = await startEmptyWorkers(2);
    expect(ms).toBeGreaterThan(0);
    expect(ms).toBeLessThan(30_000);
  });
});
