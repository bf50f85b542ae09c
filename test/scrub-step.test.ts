// Goal: a scrub pass is background work in slices a node can take frames between: no slice reads
// much more than SCRUB_STEP_BYTES (one 64 MB block file read in one step kept nodes from their
// rings for 100-290 ms right after an open), damage anywhere in the log or the block file is still
// found, and the first pass is due one interval after the node starts, not at once.
// Method: a NodeCore over in-memory storage that counts the bytes each scrubStep reads.
import { describe, expect, it } from 'vitest';
import { MemHotLog } from '../src/node/hotlog.js';
import { MemBlockStorage } from '../src/node/blocks.js';
import { NodeCore } from '../src/node/core.js';
import { scrubStep, SCRUB_STEP_BYTES } from '../src/node/scrub.js';
import { ackFrame } from './frame-builder.js';

const readBack = (n: NodeCore, key: string): string | undefined => {
  const r = n.read(new TextEncoder().encode(key), n.scl);
  if (r.status !== 'ok') throw new Error(r.status);
  return r.result.found && r.result.value !== null ? Buffer.from(r.result.value).toString() : undefined;
};

class CountingLog extends MemHotLog {
  bytesRead = 0;
  override read(seq: number, position: number, length: number): Uint8Array {
    this.bytesRead += length;
    return super.read(seq, position, length);
  }
  // MemHotLog.readInto reads through read(): counted there.
}

class CountingBlocks extends MemBlockStorage {
  bytesRead = 0;
  override read(seq: number, position: number, length: number): Uint8Array {
    this.bytesRead += length;
    return super.read(seq, position, length);
  }
  override readInto(seq: number, position: number, out: Uint8Array): void {
    this.bytesRead += out.length;
    super.readInto(seq, position, out);
  }
  override readAll(seq: number): Uint8Array {
    const b = super.readAll(seq);
    this.bytesRead += b.length;
    return b;
  }
  /** Flips one bit of block file `seq` at `position`. */
  flip(seq: number, position: number): void {
    (this as unknown as { files: Map<number, Uint8Array> }).files.get(seq)![position]! ^= 1;
  }
}

const FRAME_VALUES = 16;
const VALUE = 'v'.repeat(4000);

function loaded(interval = 1_000_000) {
  let now = 5_000_000;
  const log = new CountingLog(1 << 20);
  const blocks = new CountingBlocks();
  const n = new NodeCore({ nodeId: 0, pageCount: 64, payloadBytesMax: 1 << 20, scrubIntervalMicros: interval }, log, blocks, { nowMicros: () => now });
  n.recoverScan();
  n.recoverTo(0, 1, null);
  let lsn = 1;
  // ~64 KiB frames: ~10 MB of log, and block files of several MB.
  for (let f = 0; f < 160; f++) {
    ackFrame(n, Array.from({ length: FRAME_VALUES }, (_, i) => ({ key: `k${(f * FRAME_VALUES + i) % 1500}`, value: VALUE })), lsn);
    lsn += FRAME_VALUES;
    while (n.idleWork()) { /* coalesce as the log grows */ }
  }
  return { n, log, blocks, advance: (us: number) => { now += us; } };
}

describe('scrub steps', () => {
  it('reads at most about SCRUB_STEP_BYTES per step, in the log and in the block file', () => {
    const { n, log, blocks, advance } = loaded();
    const seq = n.coalescer.blockSeq;
    expect(seq).toBeGreaterThanOrEqual(0);
    expect(blocks.fileBytes(seq)).toBeGreaterThan(4 * SCRUB_STEP_BYTES);
    expect(n.frameDir.size).toBeGreaterThan(32);
    advance(2_000_000);
    const passes = n.stats.scrubPasses;
    let steps = 0;
    let maxRead = 0;
    for (let more = true; more; steps++) {
      const before = log.bytesRead + blocks.bytesRead;
      more = scrubStep(n);
      maxRead = Math.max(maxRead, log.bytesRead + blocks.bytesRead - before);
    }
    expect(n.stats.scrubPasses).toBe(passes + 1);
    expect(n.stats.scrubErrors + n.stats.scrubBlockErrors).toBe(0);
    expect(steps).toBeGreaterThan(4);
    expect(maxRead).toBeLessThanOrEqual(SCRUB_STEP_BYTES + 128 * 1024); // one frame or image past the budget
  });

  it('still finds a damaged image at the end of the block file', () => {
    const { n, blocks, advance } = loaded();
    const seq = n.coalescer.blockSeq;
    blocks.flip(seq, blocks.fileBytes(seq) - 10);
    advance(2_000_000);
    while (scrubStep(n)) { /* the whole pass */ }
    expect(n.stats.scrubBlockErrors).toBe(1);
    expect(n.blockSuspect).toBe(true);
  });

  it('does not start a pass before one interval after the node started', () => {
    let now = 5_000_000;
    const n = new NodeCore({ nodeId: 0, pageCount: 64, payloadBytesMax: 1 << 20, scrubIntervalMicros: 60_000_000 }, new MemHotLog(1 << 20), new MemBlockStorage(), { nowMicros: () => now });
    n.recoverScan();
    n.recoverTo(0, 1, null);
    ackFrame(n, [{ key: 'k', value: 'v' }], 1);
    expect(scrubStep(n)).toBe(false);
    expect(n.scrubCursor).toBeNull();
    now += 61_000_000;
    expect(scrubStep(n)).toBe(true);
    n.scrubSoon = true; // a read found a bad checksum: at once, whatever the interval
    while (scrubStep(n)) { /* the pass */ }
    expect(scrubStep(n)).toBe(true);
  });
});

describe('scrub cursors across steps (found by review)', () => {
  function small(segmentBytes: number) {
    let now = 5_000_000;
    const log = new MemHotLog(segmentBytes);
    const blocks = new MemBlockStorage();
    const n = new NodeCore({ nodeId: 0, pageCount: 16, payloadBytesMax: 1 << 20, scrubIntervalMicros: 1_000_000 }, log, blocks, { nowMicros: () => now });
    n.recoverScan();
    n.recoverTo(0, 1, null);
    let lsn = 1;
    const put = (k: string, v: string) => { ackFrame(n, [{ key: k, value: v }], lsn); lsn++; };
    return { n, log, blocks, put, advance: (us: number) => { now += us; } };
  }

  it('log phase: hot-log GC mid-pass (the frame directory compacted) does not make the pass skip frames', () => {
    const { n, log, put, advance } = small(64 * 1024);
    for (let i = 0; i < 1500; i++) put(`k${i % 50}`, 'v'.repeat(20));
    const first0 = n.frameDir.first;
    advance(2_000_000);
    // Part of the log phase, well into the directory.
    let checked = 0;
    while (n.scrubCursor === null || (n.scrubCursor.phase === 'log' && checked < 1100)) {
      scrubStep(n);
      checked = n.scrubCursor === null ? 0 : n.frameDir.indexAfter(n.scrubCursor.index) - first0;
    }
    expect(n.scrubCursor!.phase).toBe('log');
    for (let i = 0; i < 1500; i++) put(`k${i % 50}`, 'w'.repeat(20));
    // Damage a frame the pass has not reached, in the current segment (GC keeps it).
    const victim = n.frameDir.at(n.frameDir.first + n.frameDir.size - 6)!;
    (log as unknown as { live: Map<number, Uint8Array> }).live.get(victim.seq)![victim.position + 40]! ^= 1;
    // A cycle and its hot-log GC, no scrub step meanwhile: the directory drops >1024 frames and compacts.
    n.coalescer.force = true;
    for (let s = 0; s < 100_000 && (n.coalescer.step() || n.coalescer.active); s++) { /* the cycle */ }
    expect(n.coalescer.stats.segmentsDeleted).toBeGreaterThan(0);
    const errors = n.stats.scrubErrors;
    while (scrubStep(n)) { /* the rest of the pass */ }
    expect(n.stats.scrubErrors - errors).toBe(1);
  });

  it('blocks phase: a cycle that replaces the block file mid-pass ends the pass without false damage', () => {
    const { n, blocks, put, advance } = small(256 * 1024);
    for (let i = 0; i < 6000; i++) {
      put(`k${i % 3000}`, 'v'.repeat(2000));
      if (i % 50 === 0) while (n.idleWork()) { /* coalesce as the log grows */ }
    }
    n.coalescer.force = true;
    while (n.coalescer.step() || n.coalescer.active) { /* a cycle */ }
    const seq = n.coalescer.blockSeq;
    advance(2_000_000);
    while (n.scrubCursor === null || n.scrubCursor.phase === 'log') scrubStep(n);
    scrubStep(n);
    expect(n.scrubCursor?.phase).toBe('blocks');
    for (let i = 0; i < 3000; i++) put(`k${i % 3000}`, 'w'.repeat(2000));
    n.coalescer.force = true;
    while (n.coalescer.step() || n.coalescer.active) { /* another cycle: the file scrub was reading is gone */ }
    expect(n.coalescer.blockSeq).not.toBe(seq);
    while (scrubStep(n)) { /* the rest of the pass */ }
    expect(n.stats.scrubBlockErrors).toBe(0);
    expect(blocks.fileBytes(n.coalescer.blockSeq)).toBeGreaterThan(0);
  });
  it('a frame queued for repair whose segment GC removed meanwhile is dropped, never written (found by review)', () => {
    const { n, log, put, advance } = small(64 * 1024);
    for (let i = 0; i < 1500; i++) put(`k${i % 50}`, 'v'.repeat(20));
    const live = (log as unknown as { live: Map<number, Uint8Array> }).live;
    const f = n.frameDir.at(n.frameDir.first + 5)!;
    const good = live.get(f.seq)!.slice(f.position, f.position + f.bytes);
    live.get(f.seq)![f.position + 4]! ^= 1; // a header byte: the values (indexed already) are intact
    advance(2_000_000);
    while (scrubStep(n)) { /* a pass finds it */ }
    expect(n.repairQueue.length).toBe(1);
    const queued = n.repairQueue[0]!;
    // A cycle copies the values into images and GC removes the segment before a peer's copy arrives.
    n.coalescer.force = true;
    for (let s = 0; s < 100_000 && (n.coalescer.step() || n.coalescer.active); s++) { /* the cycle */ }
    expect(live.has(f.seq)).toBe(false);
    expect(n.repairQueue.length).toBe(0); // nothing left to repair: its records are in the images
    expect(n.repairFrame(queued, good)).toBe(false); // a copy that arrives anyway is not written
    expect(n.failure).toBeNull();
    expect(readBack(n, 'k5')).toBe('v'.repeat(20));
  });
});
