// Goal: a node with a lag bound acks frames without indexing them, and yet every read at a read
// point it has acknowledged sees exactly the acknowledged values (on-demand indexing); it indexes
// the backlog only once quiet, never lets the backlog pass the bound, never indexes bytes that
// fail their CRC, and coalesces only what is indexed.
// Method: NodeCore over the in-memory HotLog with a hand-driven clock (src/node/indexing.ts).
import { describe, expect, it } from 'vitest';
import { MemHotLog } from '../src/node/hotlog.js';
import { MemBlockStorage } from '../src/node/blocks.js';
import { NodeCore, type FrameRef } from '../src/node/core.js';
import { decodeFrame } from '../src/log/frame.js';
import { IDLE_BYTES_PER_SLICE, INDEX_QUIET_MICROS, indexIdleSlice, OVER_LAG_FRAMES_PER_APPEND } from '../src/node/indexing.js';
import { buildFrame } from './frame-builder.js';

const dec = new TextDecoder();
const enc = new TextEncoder();

function setup(indexLagBytesMax: number, segmentBytes = 1 << 20) {
  const clock = { t: 1_000_000, nowMicros() { return this.t; } };
  const log = new MemHotLog(segmentBytes);
  const blocks = new MemBlockStorage();
  const core = new NodeCore({ nodeId: 0, pageCount: 16, payloadBytesMax: 1 << 20, indexLagBytesMax }, log, blocks, clock);
  core.recoverScan();
  core.recoverTo(0, 1, null);
  let lsn = 1;
  const frameBytes: number[] = [];
  /** Appends one frame of `n` puts (key k<i % keys> = round-tagged value) and acks it. */
  const append = (n: number, keys: number, tag: string): FrameRef => {
    const recs = Array.from({ length: n }, (_, i) => ({ key: `k${(lsn + i) % keys}`, value: `${tag}-${lsn + i}` }));
    const bytes = buildFrame(recs, lsn, lsn - 1, 1, lsn);
    const f: FrameRef = { bytes, header: decodeFrame(bytes) };
    expect(core.receive([f])).toBe(1);
    core.afterAck(0);
    frameBytes.push(bytes.length);
    lsn += n;
    return f;
  };
  const read = (key: string, rp = core.scl): string | null | undefined => {
    const r = core.read(enc.encode(key), rp);
    if (r.status !== 'ok') return r.status as never;
    return r.result.found ? (r.result.value === null ? null : dec.decode(r.result.value)) : undefined;
  };
  return { core, log, blocks, clock, append, read, frameBytes };
}

describe('lazy indexing (node/indexing.ts)', () => {
  it('indexes the backlog in slices of about IDLE_BYTES_PER_SLICE when quiet (a slice keeps the node from its ring)', () => {
    const { core, clock, append, read } = setup(1 << 30, 4 << 20);
    const big = 'x'.repeat(4000);
    for (let f = 0; f < 12; f++) append(32, 1000, big); // ~128 KiB frames
    expect(core.indexedLsn).toBe(0);
    clock.t += INDEX_QUIET_MICROS;
    let slices = 0;
    for (let more = true; more; slices++) {
      const before = core.unindexedBytes;
      more = indexIdleSlice(core);
      expect(before - core.unindexedBytes).toBeLessThanOrEqual(IDLE_BYTES_PER_SLICE + 140 * 1024); // one frame past the budget at most
    }
    expect(slices).toBeGreaterThanOrEqual(4);
    expect(core.indexedLsn).toBe(core.scl);
    expect(read(`k${(12 * 32) % 1000}`)).toBe(`${big}-${12 * 32}`);
  });

  it('acks without indexing; a read indexes up to its read point first and sees every acknowledged value', () => {
    const { core, append, read } = setup(1 << 30);
    const model = new Map<string, string>();
    for (let f = 0; f < 20; f++) {
      const fr = append(10, 37, 'v');
      for (let i = 0; i < 10; i++) model.set(`k${(fr.header.lsnFirst + i) % 37}`, `v-${fr.header.lsnFirst + i}`);
    }
    expect(core.scl).toBe(200);
    expect(core.indexedLsn).toBe(0);
    expect(core.stats.recordsApplied).toBe(0);
    // A read at an older read point indexes only that far, and sees the values as of it.
    expect(read('k5', 50)).toBe('v-42');
    expect(core.indexedLsn).toBe(50);
    for (const [k, v] of model) expect(read(k)).toBe(v);
    expect(core.indexedLsn).toBe(200);
    expect(core.stats.framesIndexedOnRead).toBe(20);
    expect(core.unindexedBytes).toBe(0);
  });

  it('indexes the backlog only once nothing was appended for INDEX_QUIET_MICROS', () => {
    const { core, clock, append } = setup(1 << 30);
    for (let f = 0; f < 10; f++) append(5, 1000, 'v');
    clock.t += INDEX_QUIET_MICROS - 1;
    expect(core.idleWork(true)).toBe(false);
    expect(core.indexedLsn).toBe(0);
    clock.t += 1;
    while (core.idleWork(true)) { /* slices */ }
    expect(core.indexedLsn).toBe(core.scl);
    expect(core.stats.recordsApplied).toBe(50);
    expect(core.stats.framesIndexedOnRead).toBe(0);
  });

  it('never lets the unindexed backlog pass indexLagBytesMax: the oldest frames are indexed, just back under it', () => {
    const { core, append, frameBytes } = setup(8192);
    let maxLag = 0;
    for (let f = 0; f < 200; f++) {
      append(8, 5000, 'v');
      maxLag = Math.max(maxLag, core.unindexedBytes);
      expect(core.unindexedBytes).toBeLessThanOrEqual(8192);
    }
    expect(maxLag).toBeGreaterThan(8192 - 2 * frameBytes[0]!); // it did lag, up to the bound
    expect(core.indexedLsn).toBeGreaterThan(0);
    expect(core.stats.framesIndexedOverLag).toBeGreaterThan(0);
    // Everything above the indexed point is exactly the backlog it reports.
    const lagFrames = frameBytes.slice(frameBytes.length - (core.scl - core.indexedLsn) / 8);
    expect(lagFrames.reduce((a, b) => a + b, 0)).toBe(core.unindexedBytes);
  });

  it('an append group of more frames than OVER_LAG_FRAMES_PER_APPEND never grows a backlog that is over the bound', () => {
    // The worker takes up to 1024 frames per group (a node that fell behind a little): indexing
    // only a fixed few frames per group let the backlog, and so the hot log GC waits for, grow
    // without bound under load (no quiet moment to catch up in).
    const { core, frameBytes } = setup(8192);
    let lsn = 1;
    const group = (frames: number): void => {
      const refs: FrameRef[] = [];
      for (let f = 0; f < frames; f++) {
        const recs = Array.from({ length: 8 }, (_, i) => ({ key: `k${(lsn + i) % 5000}`, value: `g-${lsn + i}` }));
        const bytes = buildFrame(recs, lsn, lsn - 1, 1, lsn);
        refs.push({ bytes, header: decodeFrame(bytes) });
        frameBytes.push(bytes.length);
        lsn += 8;
      }
      expect(core.receive(refs)).toBe(frames);
      core.afterAck(0);
    };
    for (let g = 0; g < 50; g++) {
      group(OVER_LAG_FRAMES_PER_APPEND + 12);
      expect(core.unindexedBytes).toBeLessThanOrEqual(8192);
    }
    expect(core.indexedLsn).toBeGreaterThan(0);
  });

  it('a large backlog (the log tail a node opens with) shrinks by a few frames per append, and never grows', () => {
    const { core: first, log, blocks, clock } = setup(1 << 30);
    let lsn = 1;
    const frame = (epoch = 1): FrameRef => {
      const recs = Array.from({ length: 8 }, (_, i) => ({ key: `k${(lsn + i) % 5000}`, value: `v-${lsn + i}` }));
      const bytes = buildFrame(recs, lsn, lsn - 1, epoch, lsn);
      lsn += 8;
      return { bytes, header: decodeFrame(bytes) };
    };
    for (let f = 0; f < 200; f++) expect(first.receive([frame()])).toBe(1);
    // A restart with a bound below that tail: the tail is the backlog.
    const core = new NodeCore({ nodeId: 0, pageCount: 16, payloadBytesMax: 1 << 20, indexLagBytesMax: 4096 }, log, blocks, clock);
    core.recoverScan();
    core.recoverTo(core.scl, 2, null);
    expect(core.indexedLsn).toBe(0);
    let before = core.unindexedBytes;
    for (let f = 0; f < 5; f++) {
      expect(core.receive([frame(2)])).toBe(1);
      core.afterAck(0);
      expect(core.unindexedBytes).toBeLessThan(before);
      expect(core.scl - core.indexedLsn).toBeGreaterThan(100 * 8); // an ack does not wait for the whole tail
      before = core.unindexedBytes;
    }
  });

  it('with indexLagBytesMax = 0 every frame is indexed at its ack (from the ring)', () => {
    const { core, append } = setup(0);
    append(4, 10, 'v');
    expect(core.indexedLsn).toBe(4);
    expect(core.stats.recordsApplied).toBe(4);
  });

  it('never indexes a frame damaged on disk after its ack: the read answers corrupt and a scrub is due', () => {
    const { core, log, append, read } = setup(1 << 30);
    append(4, 10, 'good');
    const loc = core.frameDir.at(core.frameDir.first)!;
    log.flipBit(loc.seq, loc.position + 70);
    expect(read('k1')).toBe('corrupt');
    expect(core.indexedLsn).toBe(0);
    expect(core.stats.recordsApplied).toBe(0);
    expect(core.scrubSoon).toBe(true);
    expect(core.stats.readsCorrupt).toBe(1);
  });

  it('waits for the repair of a damaged frame instead of re-reading it, then indexes the repaired bytes', () => {
    const { core, log, append, read } = setup(1 << 30);
    const f = append(4, 10, 'good');
    const loc = core.frameDir.at(core.frameDir.first)!;
    log.flipBit(loc.seq, loc.position + 70);
    expect(read('k1')).toBe('corrupt');
    const reads = { n: 0 };
    const orig = log.read.bind(log);
    log.read = (seq, position, length) => { reads.n++; return orig(seq, position, length); };
    expect(read('k1')).toBe('corrupt');
    core.afterAck(0);
    expect(reads.n).toBe(0); // not read again until repaired
    expect(core.repairFrame(loc, f.bytes)).toBe(true); // a peer's good copy
    expect(read('k1')).toBe('good-1');
    expect(core.indexedLsn).toBe(4);
  });

  it('coalesces only what is indexed, and after a quiet moment catches up and coalesces all of it', () => {
    const { core, clock, append, read } = setup(1 << 30, 64 * 1024); // the lag is capped at one segment
    let lagged = 0;
    for (let f = 0; f < 250; f++) { // > 3 segments of 64 KiB
      append(20, 50, 'v');
      core.index.setReadMin(core.scl);
      while (core.idleWork(true)) { /* not quiet: coalescing only */ }
      // A cycle never covers frames that are not indexed yet.
      expect(core.coalescer.coalesceLsn).toBeLessThanOrEqual(core.indexedLsn);
      expect(core.unindexedBytes).toBeLessThanOrEqual(64 * 1024);
      if (core.indexedLsn < core.scl) lagged++;
    }
    expect(lagged).toBe(250);
    clock.t += INDEX_QUIET_MICROS;
    while (core.idleWork(true)) { /* index, then coalesce */ }
    expect(core.indexedLsn).toBe(core.scl);
    expect(core.coalescer.coalesceLsn).toBeGreaterThan(0);
    for (let k = 0; k < 50; k++) expect(read(`k${k}`)).toMatch(/^v-\d+$/);
  });
});
