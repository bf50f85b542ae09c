// Goal: hot-log GC is not held back for ever by a node that is down or far behind (the disk stays
// within its bound), and such a node, back below what its peers' logs still hold, is rebuilt from
// a peer and serves every key right.
// Method: the pure policy (log-gc.ts) over its decision table; end to end, crash one node, overwrite
// enough to drive many coalescing cycles on small segments, measure the live nodes' disk, restart
// the node and read every key from it alone (others muted, writer cache off).
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { open, type Database } from '../src/index.js';
import type { Cluster } from '../src/writer/cluster.js';
import { LogGcHold, logGcBound, logGcHoldOf, logGcLagSegmentsMax, segmentsAbove } from '../src/node/log-gc.js';
import { smallOptions, tempDir, text, waitFor } from './helpers.js';

const clusterOf = (db: Database) => (db as unknown as { cluster: Cluster }).cluster;

describe('hot-log GC policy', () => {
  // This node's log: segments whose last frames end at LSN 100, 200, ..., 1000.
  const segs = Array.from({ length: 10 }, (_, k) => (k + 1) * 100);

  it('counts the segments a peer still misses', () => {
    expect(segmentsAbove(segs, 1000)).toBe(0);
    expect(segmentsAbove(segs, 950)).toBe(1);
    expect(segmentsAbove(segs, 700)).toBe(3);
    expect(segmentsAbove(segs, 0)).toBe(10);
    expect(segmentsAbove([], 5)).toBe(0);
  });

  it('lets a down node, a failed node and a node too far behind stop holding GC back; a live (running or restarting) node within the limit holds it at its SCL', () => {
    const lag = 4;
    expect(logGcHoldOf(2, 2, { live: true, scl: 1 }, segs, lag)).toBe(LogGcHold.SELF);
    expect(logGcHoldOf(2, 0, { live: false, scl: 1 }, segs, lag)).toBe(LogGcHold.DOWN);
    expect(logGcHoldOf(2, 0, { live: true, scl: 550 }, segs, lag)).toBe(LogGcHold.TOO_FAR); // 5 segments above it
    expect(logGcHoldOf(2, 0, { live: true, scl: 650 }, segs, lag)).toBe(LogGcHold.HOLDS); // 4
    const nodes = [
      { live: false, scl: 10 }, // crashed long ago
      { live: true, scl: 650 }, // behind, within the limit
      { live: true, scl: 1000 }, // this node
      { live: true, scl: 120 }, // cut off for long: too far
      { live: true, scl: 900 },
    ];
    expect(logGcBound(2, nodes, segs, lag)).toBe(650);
    expect(logGcBound(2, nodes, segs, 9)).toBe(120); // a larger limit keeps the node 9 segments behind
    expect(logGcBound(2, nodes.map((n) => ({ ...n, live: false })), segs, lag)).toBe(Number.MAX_SAFE_INTEGER);
    expect(logGcBound(0, [{ live: true, scl: 3 }], segs, lag)).toBe(Number.MAX_SAFE_INTEGER); // alone
    expect(() => logGcBound(0, nodes, segs, -1)).toThrow(/logGcLagSegmentsMax/);
  });

  it('keeps the live nodes\' disk bounded while a node is down, then rebuilds that node and it serves every key', async () => {
    const dir = tempDir();
    // Live data per node: 500 keys x (16 + 200 bytes + overhead) ~ 140 KB; the bound of
    // test/coalesce.test.ts: hot log + blocks <= 4 x live + 5 segments (with the spare).
    const opts = smallOptions(dir, {
      segmentBytes: 256 * 1024, groupCommit: { batchBytesMax: 32 * 1024 }, mtrBytesMax: 32 * 1024, valueBytesMax: 8 * 1024,
      pageCount: 64, cacheBytesMax: 0, readTimeoutMs: 300,
    });
    const db = await open(opts);
    try {
      const KEYS = 500;
      const value = (round: number) => `${round}:${'x'.repeat(196)}`;
      const nodeBytes = (i: number) => {
        let total = 0;
        for (const sub of ['log', 'blocks']) {
          const d = path.join(dir, `node-${i}`, sub);
          for (const f of fs.readdirSync(d)) total += fs.statSync(path.join(d, f), { throwIfNoEntry: false })?.size ?? 0; // a spare renamed meanwhile
        }
        return total;
      };
      await Promise.all(Array.from({ length: KEYS }, (_, k) => db.put(`key-${k}`, value(0))));
      await db.faults.crashNode(3);
      const ROUNDS = 40; // ~40 x 500 x 260 B = 5 MB of redo per node: ~35x the live data
      let maxBytes = 0;
      for (let round = 1; round <= ROUNDS; round++) {
        await Promise.all(Array.from({ length: KEYS }, (_, k) => db.put(`key-${k}`, value(round))));
        if (round % 10 === 0) for (const i of [0, 1, 2, 4, 5]) maxBytes = Math.max(maxBytes, nodeBytes(i));
      }
      const live = KEYS * (16 + 200 + 64);
      const bound = 4 * live + 5 * 256 * 1024;
      expect(maxBytes).toBeLessThanOrEqual(bound);
      expect(db.stats().nodes.filter((n) => n.segmentsDeleted > 0).length).toBe(5);
      // Node 3's chain end is below every peer's log now: restart rebuilds it from a peer's copy.
      const rebuilds = clusterOf(db).rebuilds;
      await db.faults.restartNode(3);
      expect(clusterOf(db).rebuilds).toBe(rebuilds + 1);
      expect(await waitFor(() => db.stats().nodes[3]!.scl === db.vdl && db.stats().nodes[3]!.state === 'running', 10_000)).toBe(true);
      for (const i of [0, 1, 2, 4, 5]) db.faults.muteNode(i);
      const got = await Promise.all(Array.from({ length: KEYS }, (_, k) => db.get(`key-${k}`)));
      expect(got.filter((v) => text(v) !== value(ROUNDS)).length).toBe(0);
      await db.put('publish', 'stats'); // a node publishes its counters after an append
      expect(await waitFor(() => db.stats().nodes[3]!.reads >= KEYS)).toBe(true); // node 3 answered them
    } finally {
      await db.close();
    }
  }, 120_000);

  it('keeps disk bounded while a node is cut off beyond logGcLagSegmentsMax; resumed, that node fails with REBUILD_NEEDED and restart rebuilds it', async () => {
    const dir = tempDir();
    const SEG = 256 * 1024;
    const opts = smallOptions(dir, {
      segmentBytes: SEG, groupCommit: { batchBytesMax: 32 * 1024 }, mtrBytesMax: 32 * 1024, valueBytesMax: 8 * 1024,
      pageCount: 64, cacheBytesMax: 0, readTimeoutMs: 300,
      retainBytesMax: 0, // the group-commit thread keeps nothing to resend: only peers' logs can catch node 1 up
    });
    const db = await open(opts);
    try {
      const KEYS = 500;
      const value = (round: number) => `${round}:${'x'.repeat(196)}`;
      const nodeBytes = (i: number) => {
        let total = 0;
        for (const sub of ['log', 'blocks']) {
          const d = path.join(dir, `node-${i}`, sub);
          for (const f of fs.readdirSync(d)) total += fs.statSync(path.join(d, f), { throwIfNoEntry: false })?.size ?? 0; // a spare renamed meanwhile
        }
        return total;
      };
      await Promise.all(Array.from({ length: KEYS }, (_, k) => db.put(`key-${k}`, value(0))));
      db.faults.pauseNode(1); // running, but cut off: it falls further and further behind
      const ROUNDS = 60; // ~7.8 MB of redo per node: ~30 segments, far beyond the lag limit
      let maxBytes = 0;
      for (let round = 1; round <= ROUNDS; round++) {
        await Promise.all(Array.from({ length: KEYS }, (_, k) => db.put(`key-${k}`, value(round))));
        if (round % 10 === 0) for (const i of [0, 2, 3, 4, 5]) maxBytes = Math.max(maxBytes, nodeBytes(i));
      }
      // The coalescing bound, plus the segments kept for a peer behind until it is too far behind.
      const bound = 4 * KEYS * (16 + 200 + 64) + (5 + logGcLagSegmentsMax) * SEG;
      expect(maxBytes).toBeLessThanOrEqual(bound);
      db.faults.resumeNode(1);
      expect(await waitFor(() => db.stats().nodes[1]!.failure !== null, 10_000)).toBe(true);
      expect(db.stats().nodes[1]!.state).toBe('failed');
      expect(db.stats().nodes[1]!.failure).toMatch(/^REBUILD_NEEDED/);
      const rebuilds = clusterOf(db).rebuilds;
      await db.faults.restartNode(1);
      expect(clusterOf(db).rebuilds).toBe(rebuilds + 1);
      expect(await waitFor(() => db.stats().nodes[1]!.scl === db.vdl && db.stats().nodes[1]!.state === 'running', 10_000)).toBe(true);
      for (const i of [0, 2, 3, 4, 5]) db.faults.muteNode(i);
      const got = await Promise.all(Array.from({ length: KEYS }, (_, k) => db.get(`key-${k}`)));
      expect(got.filter((v) => text(v) !== value(ROUNDS)).length).toBe(0);
    } finally {
      await db.close();
    }
  }, 120_000);
});
