// Goal: coalescing moves redo into page images, lets old hot-log segments go, keeps every read
// right, and a node restarts from its images plus the log above them.
// Method: a NodeCore over in-memory storage fed an overwrite workload, then a restart on the same
// storage; end to end, an overwrite soak with a stated disk bound and a reopen.
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MemHotLog } from '../src/node/hotlog.js';
import { MemBlockStorage } from '../src/node/blocks.js';
import { NodeCore, type FrameRef } from '../src/node/core.js';
import { decodeFrame } from '../src/log/frame.js';
import { open } from '../src/index.js';
import { ackFrame, buildFrame } from './frame-builder.js';
import { smallOptions, tempDir, text } from './helpers.js';

const clock = { nowMicros: () => 0 };
const enc = new TextEncoder();

function readText(n: NodeCore, key: string, rp: number): string | undefined {
  const r = n.read(enc.encode(key), rp);
  if (r.status !== 'ok') throw new Error(r.status);
  return r.result.found && r.result.value !== null ? Buffer.from(r.result.value).toString() : undefined;
}

/**
 * A node over in-memory storage (64 KiB segments) after `rounds` overwrites of `keys` keys
 * (value `r<round>-` + `valueBytes` v's), 20 per frame, coalescing as the log grows.
 */
function overwritten(clk: { nowMicros(): number }, rounds: number, keys: number, valueBytes: number, coalesceBufferBytesMax?: number): NodeCore {
  const n = new NodeCore({ nodeId: 0, pageCount: 16, payloadBytesMax: 1 << 20, coalesceBufferBytesMax }, new MemHotLog(64 * 1024), new MemBlockStorage(), clk);
  n.recoverScan();
  n.recoverTo(0, 1, null);
  let lsn = 1;
  for (let round = 0; round < rounds; round++) {
    for (let at = 0; at < keys; at += 20) {
      ackFrame(n, Array.from({ length: 20 }, (_, i) => ({ key: `k${at + i}`, value: `r${round}-${'v'.repeat(valueBytes)}` })), lsn);
      lsn += 20;
      while (n.idleWork()) { /* coalesce as the log grows */ }
    }
  }
  return n;
}

describe('coalescing', () => {
  it('writes page images, deletes covered segments, and restarts from images plus the log above them', () => {
    const log = new MemHotLog(64 * 1024);
    const blocks = new MemBlockStorage();
    const config = { nodeId: 0, pageCount: 16, payloadBytesMax: 1 << 20 };
    const n = new NodeCore(config, log, blocks, clock);
    n.recoverScan();
    n.recoverTo(0, 1, null);
    const KEYS = 200;
    let lsn = 1;
    for (let round = 0; round < 30; round++) {
      const recs = Array.from({ length: KEYS }, (_, k) => ({ key: `k${k}`, value: k % 7 === 0 && round === 29 ? null : `r${round}-${'v'.repeat(50)}` }));
      for (let at = 0; at < KEYS; at += 20) {
        const f: FrameRef = { bytes: buildFrame(recs.slice(at, at + 20), lsn, lsn - 1, 1, lsn), header: null as never };
        f.header = decodeFrame(f.bytes);
        expect(n.receive([f])).toBe(1);
        n.afterAck(f.header.lsnLast); // PGMRPL follows VDL
        lsn += 20;
        while (n.idleWork()) { /* coalesce as the log grows */ }
      }
    }
    const s = n.statsSnapshot();
    expect(s.coalesceCycles).toBeGreaterThan(0);
    // Cycles back to back reuse the previous cycle's file buffers (no fresh pages per cycle).
    const { fileBuffersAllocated, filesBuffered } = n.coalescer.stats;
    expect(fileBuffersAllocated).toBeLessThan(filesBuffered / 2);
    expect(s.segmentsDeleted).toBeGreaterThan(0);
    expect(s.coalesceLsn).toBeGreaterThan(0);
    const expected = (k: number) => (k % 7 === 0 ? undefined : `r29-${'v'.repeat(50)}`);
    for (let k = 0; k < KEYS; k++) expect(readText(n, `k${k}`, n.scl)).toBe(expected(k));
    // Restart on the same storage: images + log above the coalesce point.
    const again = new NodeCore(config, log, blocks, clock);
    again.recoverScan();
    again.recoverTo(n.scl, 2, null);
    expect(again.scl).toBe(n.scl);
    for (let k = 0; k < KEYS; k++) expect(readText(again, `k${k}`, again.scl)).toBe(expected(k));
  });

  it('keeps the last cycle\'s file buffers only while cycles keep coming', () => {
    let now = 0;
    const n = overwritten({ nowMicros: () => now }, 30, 200, 50);
    expect(n.statsSnapshot().coalesceCycles).toBeGreaterThan(1);
    expect(n.coalescer.spareBytes).toBeGreaterThan(0);
    now += 1_000_000; // quiet, but not for long
    n.idleWork();
    expect(n.coalescer.spareBytes).toBeGreaterThan(0);
    now += 1_500_000; // quiet past SPARE_KEEP_MICROS: the memory goes back
    n.idleWork();
    expect(n.coalescer.spareBytes).toBe(0);
    for (let k = 0; k < 200; k += 13) expect(readText(n, `k${k}`, n.scl)).toBe(`r29-${'v'.repeat(50)}`);
  });

  it("gives the block hint's grown buffer back with the file buffers once quiet", () => {
    let now = 0;
    const n = overwritten({ nowMicros: () => now }, 2, 40_000, 8); // a block hint of 40K entries: > 1 MiB
    expect(n.statsSnapshot().coalesceCycles).toBeGreaterThan(0);
    expect(n.coalescer.bufferBytes).toBeGreaterThan(1 << 20);
    now += 2_500_000; // quiet past SPARE_KEEP_MICROS
    n.idleWork();
    expect(n.coalescer.bufferBytes).toBeLessThanOrEqual(1 << 20);
    expect(n.statsSnapshot().fileBufferBytes).toBe(n.coalescer.bufferBytes);
    for (let k = 0; k < 40_000; k += 997) expect(readText(n, `k${k}`, n.scl)).toBe(`r1-${'v'.repeat(8)}`);
  });

  it('bounds the file buffers it holds, kept ones included, by their capacity; past it values are read one by one', () => {
    const run = (coalesceBufferBytesMax?: number) => {
      const n = overwritten(clock, 20, 600, 100, coalesceBufferBytesMax);
      expect(n.statsSnapshot().coalesceCycles).toBeGreaterThan(3);
      for (let k = 0; k < 600; k += 7) expect(readText(n, `k${k}`, n.scl)).toBe(`r19-${'v'.repeat(100)}`);
      return n.coalescer.stats.fileBufferBytesPeak;
    };
    const bound = 160 * 1024;
    expect(run()).toBeGreaterThan(bound); // unbounded by this limit, the workload holds more
    const peak = run(bound);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(bound);
  });

  it('reads its source files across steps and fdatasyncs the block file as it goes; an fdatasync error fails the node, never retried', () => {
    // Sources above the per-step read budget (4 MiB) and images above the flush interval (8 MiB).
    class FlushLog extends MemBlockStorage {
      flushes = 0;
      writesAfterFailure = 0;
      failFlush = false;
      failed = false;
      override flushData(seq: number): void {
        this.flushes++;
        if (this.failFlush) {
          this.failed = true;
          throw Object.assign(new Error('EIO (injected)'), { code: 'EIO' });
        }
        super.flushData(seq);
      }
      override append(seq: number, position: number, bytes: Uint8Array): void {
        if (this.failed) this.writesAfterFailure++;
        super.append(seq, position, bytes);
      }
      override sync(seq: number): void {
        if (this.failed) this.writesAfterFailure++;
        super.sync(seq);
      }
    }
    const run = (failFlush: boolean) => {
      const log = new MemHotLog(4 << 20);
      const blocks = new FlushLog();
      blocks.failFlush = failFlush;
      const config = { nodeId: 0, pageCount: 16, payloadBytesMax: 1 << 20 };
      const n = new NodeCore(config, log, blocks, clock);
      n.recoverScan();
      n.recoverTo(0, 1, null);
      const KEYS = 640;
      const value = (k: number) => `${k}-${'x'.repeat(20_000)}`;
      let lsn = 1;
      for (let at = 0; at < KEYS; at += 16) {
        ackFrame(n, Array.from({ length: 16 }, (_, i) => ({ key: `k${at + i}`, value: value(at + i) })), lsn);
        lsn += 16;
      }
      let steps = 0;
      while (n.idleWork() && steps < 10_000) steps++;
      return { n, blocks, value, KEYS };
    };
    const ok = run(false);
    expect(ok.n.failure).toBeNull();
    expect(ok.n.statsSnapshot().coalesceCycles).toBeGreaterThan(0);
    expect(ok.blocks.flushes).toBeGreaterThan(0);
    for (let k = 0; k < ok.KEYS; k += 37) expect(readText(ok.n, `k${k}`, ok.n.scl)).toBe(ok.value(k));
    const bad = run(true);
    expect(bad.n.failure?.code).toBe('IO_ERROR');
    expect(bad.blocks.flushes).toBe(1);
    expect(bad.blocks.writesAfterFailure).toBe(0);
    expect(bad.n.idleWork()).toBe(false);
    expect(bad.blocks.flushes).toBe(1);
  });

  it('keeps disk bounded under an endless overwrite load and reads stay right after reopen', async () => {
    const dir = tempDir();
    // Live data per node: 500 keys x (16 + 200 bytes + overhead) ~ 120 KB. Bound stated here:
    // per node, hot log + blocks <= 4 x live + 4 segments (+ the zero-filled spare).
    const opts = smallOptions(dir, { segmentBytes: 256 * 1024, groupCommit: { batchBytesMax: 32 * 1024 }, mtrBytesMax: 32 * 1024, valueBytesMax: 8 * 1024, pageCount: 64 });
    const db = await open(opts);
    const KEYS = 500;
    const value = (round: number) => `${round}:${'x'.repeat(196)}`;
    let maxNodeBytes = 0;
    const nodeBytes = (i: number) => {
      let total = 0;
      for (const sub of ['log', 'blocks']) {
        const d = path.join(dir, `node-${i}`, sub);
        // A file listed here may be deleted by the node's hot-log GC before it is measured.
        for (const f of fs.readdirSync(d)) total += fs.statSync(path.join(d, f), { throwIfNoEntry: false })?.size ?? 0;
      }
      return total;
    };
    const ROUNDS = 60; // ~60 x 500 x 260 B = 7.8 MB of redo per node: 30x the live data
    for (let round = 0; round < ROUNDS; round++) {
      await Promise.all(Array.from({ length: KEYS }, (_, k) => db.put(`key-${k}`, value(round))));
      if (round % 10 === 9) for (let i = 0; i < 6; i++) maxNodeBytes = Math.max(maxNodeBytes, nodeBytes(i));
    }
    const live = KEYS * (16 + 200 + 64);
    const bound = 4 * live + 5 * 256 * 1024;
    const s = db.stats();
    expect(s.nodes.every((n) => n.coalesceCycles > 0 && n.segmentsDeleted > 0)).toBe(true);
    expect(maxNodeBytes).toBeLessThanOrEqual(bound);
    const got = await Promise.all(Array.from({ length: KEYS }, (_, k) => db.get(`key-${k}`)));
    expect(got.every((v) => text(v) === value(ROUNDS - 1))).toBe(true);
    await db.close();
    const again = await open(opts);
    try {
      const after = await Promise.all(Array.from({ length: KEYS }, (_, k) => again.get(`key-${k}`)));
      expect(after.every((v) => text(v) === value(ROUNDS - 1))).toBe(true);
    } finally {
      await again.close();
    }
  }, 120_000);
});
