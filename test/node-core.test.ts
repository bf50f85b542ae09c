// Goal: a node acks only what it has synced, drops duplicates, never appends across a gap, fails
// for good on a write or sync error (no retry: fsyncgate) and then writes and syncs nothing at all;
// recovery never zeroes frames that may be acknowledged, and never guesses past its history.
// Method: NodeCore over the fault-injecting in-memory HotLog (counting or watching every write).
import { describe, expect, it } from 'vitest';
import { MemHotLog } from '../src/node/hotlog.js';
import { MemBlockStorage } from '../src/node/blocks.js';
import { NodeCore, type FrameRef } from '../src/node/core.js';
import { decodeFrame, frameBytes } from '../src/log/frame.js';
import { HISTORY_MAX, MemEpochStore, type EpochRecord, type EpochState } from '../src/node/epoch-store.js';
import { ScanOutcome } from '../src/log/scanner.js';
import { buildFrame } from './frame-builder.js';

/** Counts every call that could write or sync the hot log's files. */
class CountingLog extends MemHotLog {
  calls = { write: 0, sync: 0, createSegment: 0, removeSegment: 0, idleWork: 0 };
  override write(seq: number, position: number, views: readonly Uint8Array[]): void {
    this.calls.write++;
    super.write(seq, position, views);
  }
  override sync(seq: number): void {
    this.calls.sync++;
    super.sync(seq);
  }
  override createSegment(seq: number): void {
    this.calls.createSegment++;
    super.createSegment(seq);
  }
  override removeSegment(seq: number): void {
    this.calls.removeSegment++;
    super.removeSegment(seq);
  }
  override idleWork(currentUsedBytes: number): boolean {
    this.calls.idleWork++; // preallocation (zero-fill) of the next segment on a real log
    return super.idleWork(currentUsedBytes);
  }
}

/** Counts saves of the epoch file. */
class CountingEpochs extends MemEpochStore {
  saves = 0;
  override save(s: EpochState): void {
    this.saves++;
    super.save(s);
  }
}

/**
 * A log that checks, after every write, that watched byte ranges (intact frames after damage)
 * still hold their bytes: recovery may overwrite them only with the same bytes.
 */
class WatchedLog extends MemHotLog {
  watched: { seq: number; position: number; bytes: Uint8Array }[] = [];
  violations: string[] = [];
  override write(seq: number, position: number, views: readonly Uint8Array[]): void {
    super.write(seq, position, views);
    for (const w of this.watched) {
      if (w.seq !== seq) continue;
      const now = this.read(w.seq, w.position, w.bytes.length);
      if (!Buffer.from(now).equals(Buffer.from(w.bytes))) this.violations.push(`frame at ${w.seq}:${w.position} overwritten by a write at ${seq}:${position}`);
    }
  }
  override removeSegment(seq: number): void {
    for (const w of this.watched) if (w.seq === seq) this.violations.push(`frame at ${w.seq}:${w.position} deleted with its segment`);
    super.removeSegment(seq);
  }
}

const clock = { nowMicros: () => 0 };
const ref = (bytes: Uint8Array): FrameRef => ({ bytes, header: decodeFrame(bytes) });
const frame = (i: number) => ref(buildFrame([{ key: `k${i}`, value: `v${i}` }], i, i - 1, 1, i));

function fresh(log = new MemHotLog(64 * 1024)): NodeCore {
  const n = new NodeCore({ nodeId: 0, pageCount: 16, payloadBytesMax: 1 << 20 }, log, new MemBlockStorage(), clock);
  n.recoverScan();
  n.recoverTo(0, 1, null);
  return n;
}

describe('node core', () => {
  it('acks only after append and sync, and drops duplicates', () => {
    const n = fresh();
    expect(n.receive([frame(1), frame(2)])).toBe(2);
    expect(n.scl).toBe(2);
    expect(n.receive([frame(2), frame(3)])).toBe(1);
    expect(n.stats.framesDuplicate).toBe(1);
    expect(n.scl).toBe(3);
    expect(n.stats.syncs).toBe(2);
  });

  it('never appends across a gap', () => {
    const n = fresh();
    n.receive([frame(1)]);
    expect(n.receive([frame(3)])).toBe(0);
    expect(n.scl).toBe(1);
    expect(n.stats.framesGap).toBe(1);
  });

  it('fails for good on an EIO from fdatasync and never writes or syncs again: not by append, scrub repair, preallocation or fencing', () => {
    // Counted at the HotLog (and epoch file) level, so a write or sync from any path is seen, not
    // only those of receive().
    const log = new CountingLog(64 * 1024);
    const epochs = new CountingEpochs();
    const n = new NodeCore({ nodeId: 0, pageCount: 16, payloadBytesMax: 1 << 20 }, log, new MemBlockStorage(), clock, epochs);
    n.recoverScan();
    n.recoverTo(0, 1, null);
    n.receive([frame(1)]);
    const loc = n.frameDir.at(n.frameDir.first)!; // where frame 1 lies: what a scrub repair would overwrite
    log.failNext = { op: 'sync', code: 'EIO' };
    expect(n.receive([frame(2)])).toBe(0);
    expect(n.failure?.code).toBe('IO_ERROR');
    expect(n.scl).toBe(1); // the frame whose sync failed is never acknowledged
    const calls = { ...log.calls };
    const saves = epochs.saves;
    expect(n.receive([frame(2), frame(3)])).toBe(0);
    expect(n.repairFrame(loc, frame(1).bytes)).toBe(false); // a good copy from a peer arrives late
    for (let i = 0; i < 4; i++) n.idleWork(i % 2 === 0);
    expect(() => n.fence(2)).toThrow(/IO_ERROR/); // a failed node is counted in no fence quorum
    expect(() => n.adopt(2, [{ epoch: 2, vdl: 1 }])).toThrow(/IO_ERROR/);
    expect(log.calls).toEqual(calls);
    expect(epochs.saves).toBe(saves);
    expect(n.framesAfter(0, 1 << 20)).toEqual([]); // and serves nothing to peers
  });

  it('reports ENOSPC from a write as DISK_FULL', () => {
    const log = new MemHotLog(64 * 1024);
    const n = fresh(log);
    log.failNext = { op: 'write', code: 'ENOSPC' };
    n.receive([frame(1)]);
    expect(n.failure?.code).toBe('DISK_FULL');
  });

  it('serves reads only at read points it has reached, with the version as of the read point', () => {
    const n = fresh();
    const frames = [1, 2, 3].map((i) => ref(buildFrame([{ key: 'same', value: `v${i}` }], i, i - 1, 1, i)));
    n.receive(frames);
    n.afterAck(0);
    const key = new TextEncoder().encode('same');
    const at = (rp: number) => {
      const r = n.read(key, rp);
      return r.status === 'ok' && r.result.found ? Buffer.from(r.result.value!).toString() : r.status;
    };
    expect(at(2)).toBe('v2');
    expect(at(3)).toBe('v3');
    expect(at(4)).toBe('behind');
  });

  it('truncates above the recovered VDL and catches up from a peer', () => {
    const a = new MemHotLog(64 * 1024);
    const b = new MemHotLog(64 * 1024);
    const na = fresh(a);
    const nb = fresh(b);
    na.receive([1, 2, 3, 4].map(frame));
    nb.receive([1, 2].map(frame));
    // Recovery decided VDL = 3: a truncates frame 4, b copies frame 3 from a.
    const ra = new NodeCore(na.config, a, na.blocks, clock);
    ra.recoverScan();
    ra.recoverTo(3, 2, null);
    const rb = new NodeCore(nb.config, b, nb.blocks, clock);
    rb.recoverScan();
    rb.recoverTo(3, 2, a);
    expect(ra.scl).toBe(3);
    expect(rb.scl).toBe(3);
    const again = new NodeCore(na.config, a, na.blocks, clock);
    expect(again.recoverScan().lsnLast).toBe(3); // the truncated frame is gone from disk
  });

  it('a node whose log lost a frame its page images already hold asks for a rebuild at rejoin (REBUILD_NEEDED), instead of failing every restart the same way', () => {
    // Found by the simulator (seed 808): the first frame the log still held (at the coalesce point)
    // was damaged, so the chain the scan finds ends at 0, below the images' 190. RECOVERY_FAILED
    // there did not ask for a rebuild, and every restart failed again.
    const log = new MemHotLog(4096);
    const n = fresh(log);
    const kFrame = (i: number) => ref(buildFrame([{ key: `k${i % 5}`, value: `v${i}`.repeat(20) }], i, i - 1, 1, i));
    for (let i = 1; i <= 200; i++) {
      n.receive([kFrame(i)]);
      n.afterAck(i);
      while (n.idleWork()) { /* coalesce and collect the log as it grows */ }
    }
    const first = n.frameDir.at(n.frameDir.first)!;
    expect(first.lsnLast).toBeLessThanOrEqual(n.coalescer.coalesceLsn);
    log.flipBit(first.seq, first.position + 70);
    const back = new NodeCore(n.config, log, n.blocks, clock);
    back.recoverScan();
    expect(back.scl).toBeLessThan(n.coalescer.coalesceLsn);
    expect(() => back.recoverTo(back.scl, 1, null)).toThrow(expect.objectContaining({ code: 'REBUILD_NEEDED' }));
  });

  it('catches up at open from a source that removes its segments above VDL meanwhile (a vanished segment is the end of its log, not an error)', () => {
    // At open the source truncates above VDL while the nodes behind read its log: a segment listed
    // by the reader can be gone by the time it is read (ENOENT).
    class TruncatingLog extends MemHotLog {
      truncating = false;
      override segments(): number[] {
        return this.truncating ? [...super.segments(), 1] : super.segments(); // listed before the source removed it
      }
      override readSegment(seq: number): Uint8Array {
        if (this.truncating && seq === 1) throw Object.assign(new Error(`ENOENT: no such file, open segment ${seq}`), { code: 'ENOENT', syscall: 'open' });
        return super.readSegment(seq);
      }
    }
    const src = new TruncatingLog(64 * 1024);
    fresh(src).receive([1, 2, 3].map(frame));
    const behind = fresh();
    behind.receive([frame(1)]);
    const back = new NodeCore(behind.config, behind.log, behind.blocks, clock);
    back.recoverScan();
    src.truncating = true;
    back.recoverTo(3, 2, src);
    expect(back.failure).toBeNull();
    expect(back.scl).toBe(3);
  });

  it('a rejoining node cuts its old-epoch frames at the lowest VDL any later recovery kept, not the first one\'s (an attach that failed after recording a higher VDL)', () => {
    // The node took frames 1..5 at epoch 1 and went down. Recovery at epoch 2 recorded VDL 5 (from
    // this node's chain) but its writer never opened; recovery at epoch 3, without this node, kept
    // VDL 3, and its writer reused LSNs 4 and 5. Frames 4 and 5 here are not the volume's: served or
    // counted as an SCL, they would be a stale value and an acknowledgement on a chain nobody has.
    const log = new MemHotLog(64 * 1024);
    const n = fresh(log);
    n.receive([1, 2, 3, 4, 5].map(frame));
    const history: EpochRecord[] = [{ epoch: 1, vdl: 0 }, { epoch: 2, vdl: 5 }, { epoch: 3, vdl: 3 }];
    const back = new NodeCore(n.config, log, n.blocks, clock);
    back.recoverScan(history);
    expect(back.scl).toBe(3);
    expect(back.read(new TextEncoder().encode('k5'), 5)).toEqual({ status: 'behind', scl: 3 });
  });

  it('recovery never zeroes the frames after a corrupt-middle frame: the peer\'s copies overwrite them in place', () => {
    // Frame 3 of node A is damaged in the middle of its log; frames 4..8 after it are intact and
    // acknowledged. Recovery (VDL 8, node B as the source) must bring A to 8 without ever
    // replacing those intact frames by anything but the same bytes (zeroing them first would leave
    // them lost if B's copy never arrived).
    const a = new WatchedLog(512); // four frames per segment: the damage and the frames after it span segments
    const b = new MemHotLog(512);
    const na = fresh(a);
    const nb = fresh(b);
    na.receive([1, 2, 3, 4, 5, 6, 7, 8].map(frame));
    nb.receive([1, 2, 3, 4, 5, 6, 7, 8].map(frame));
    expect(a.segments().length).toBeGreaterThan(1);
    const locs = [4, 5, 6, 7, 8].map((i) => na.frameDir.at(na.frameDir.indexAfter(i - 1))!);
    const damaged = na.frameDir.at(na.frameDir.indexAfter(2))!;
    a.flipBit(damaged.seq, damaged.position + 70);
    a.watched = locs.map((l) => ({ seq: l.seq, position: l.position, bytes: a.read(l.seq, l.position, l.bytes) }));
    const ra = new NodeCore(na.config, a, na.blocks, clock);
    expect(ra.recoverScan().outcome).toBe(ScanOutcome.CORRUPT_MIDDLE);
    expect(ra.scl).toBe(2);
    ra.recoverTo(8, 2, b);
    expect(a.violations).toEqual([]);
    expect(ra.scl).toBe(8);
    const again = new NodeCore(na.config, a, na.blocks, clock);
    const r = again.recoverScan();
    expect(r.outcome).toBe(ScanOutcome.CLEAN);
    expect(r.lsnLast).toBe(8);
  });

  it('keeps the bytes after a corrupt-middle frame when no peer can supply the rest (REBUILD_NEEDED, nothing zeroed)', () => {
    const a = new MemHotLog(512);
    const b = new MemHotLog(512);
    const na = fresh(a);
    const nb = fresh(b);
    na.receive([1, 2, 3, 4, 5, 6].map(frame));
    nb.receive([1, 2, 3].map(frame)); // the only peer holds up to 3
    const damaged = na.frameDir.at(na.frameDir.indexAfter(2))!;
    a.flipBit(damaged.seq, damaged.position + 70);
    const ra = new NodeCore(na.config, a, na.blocks, clock);
    ra.recoverScan();
    expect(() => ra.recoverTo(6, 2, b)).toThrow(/REBUILD_NEEDED/);
    // Frame 3 was repaired from the peer's copy; frames 4..6 are still on disk, intact.
    const again = new NodeCore(na.config, a, na.blocks, clock);
    expect(again.recoverScan().lsnLast).toBe(6);
  });

  it('a node rejoining a live volume keeps the frames after a corrupt-middle frame, and gossip overwrites them in place', () => {
    // A live rejoin keeps the node's own chain end (no VDL is decided): the frames after the damage
    // may be acknowledged, so they are kept, and frames fetched from a peer are written over them,
    // reusing the segments that follow.
    const a = new WatchedLog(512);
    const na = fresh(a);
    na.receive([1, 2, 3, 4, 5, 6, 7, 8].map(frame));
    const damaged = na.frameDir.at(na.frameDir.indexAfter(2))!;
    const locs = [4, 5, 6, 7, 8].map((i) => na.frameDir.at(na.frameDir.indexAfter(i - 1))!);
    a.flipBit(damaged.seq, damaged.position + 70);
    a.watched = locs.map((l) => ({ seq: l.seq, position: l.position, bytes: a.read(l.seq, l.position, l.bytes) }));
    const segments = a.segments();
    const ra = new NodeCore(na.config, a, na.blocks, clock);
    ra.recoverScan();
    ra.recoverTo(ra.scl, 2, null); // as Cluster.restart / the simulator rejoin: keep its own chain end
    expect(ra.scl).toBe(2);
    expect(a.segments()).toEqual(segments);
    expect(ra.receive([3, 4, 5, 6, 7, 8, 9].map(frame), true)).toBe(7); // from a peer, by gossip
    expect(a.violations).toEqual([]);
    expect(ra.scl).toBe(9);
    const again = new NodeCore(na.config, a, na.blocks, clock);
    const r = again.recoverScan();
    expect(r.outcome).toBe(ScanOutcome.CLEAN);
    expect(r.lsnLast).toBe(9);
  });

  it('a cut of a clean log leaves no frame behind it that a later scan counts (an older-epoch frame past a zero gap, below the chain end)', () => {
    // The layout a kept tail leaves (a frame corrupt in the middle, epoch 1: B torn with its bytes
    // lost, C intact after it), once epoch 2 overwrote it in place with shorter frames: the scan sees
    // A D E, zeros, then C, whose lsnLast 4 is below the chain end 5 (CLEAN). Recovery at epoch 3
    // keeps 2: after the cut the chain ends at 2, and C (4 > 2) must not make it corrupt-middle.
    const log = new MemHotLog(64 * 1024);
    log.createSegment(0);
    let at = 0;
    const put = (bytes: Uint8Array, position = at) => { log.write(0, position, [bytes]); at = position + frameBytes(decodeFrame(bytes).payloadBytes); };
    put(buildFrame([{ key: 'a', value: '1' }], 1, 0, 1, 1));
    put(buildFrame([{ key: 'd', value: '2' }], 2, 1, 2, 1));
    put(buildFrame([{ key: 'e', value: '3' }, { key: 'e', value: '4' }, { key: 'e', value: '5' }], 3, 2, 2, 2));
    put(buildFrame([{ key: 'c', value: '3' }, { key: 'c', value: '4' }], 3, 2, 1, 3), 8192);
    log.sync(0);
    const config = { nodeId: 0, pageCount: 16, payloadBytesMax: 1 << 20 };
    const blocks = new MemBlockStorage();
    const n = new NodeCore(config, log, blocks, clock);
    const scan = n.recoverScan();
    expect(scan.outcome).toBe(ScanOutcome.CLEAN);
    expect(scan.lsnLast).toBe(5);
    n.recoverTo(2, 3, null);
    expect(n.scl).toBe(2);
    const r = new NodeCore(config, log, blocks, clock).recoverScan();
    expect(r.outcome).toBe(ScanOutcome.CLEAN);
    expect(r.lsnLast).toBe(2);
  });

  it('refuses to guess past a capped truncation history: a frame older than it is REBUILD_NEEDED, unless the node applied a recovery since', () => {
    // The first recovery after epoch 1 (epoch 2, VDL 2) cut frame 3 off, but the volume has had
    // more than HISTORY_MAX recoveries since and that record was dropped: the kept records (VDL 100)
    // would wrongly keep frame 3. The node must be rebuilt from a peer instead.
    const history: EpochRecord[] = Array.from({ length: HISTORY_MAX }, (_, i) => ({ epoch: 10 + i, vdl: 100 }));
    const log = new MemHotLog(64 * 1024);
    fresh(log).receive([1, 2, 3].map(frame)); // epoch 1
    const n = new NodeCore({ nodeId: 0, pageCount: 16, payloadBytesMax: 1 << 20 }, log, new MemBlockStorage(), clock);
    expect(() => n.recoverScan(history)).toThrow(/REBUILD_NEEDED/);
    // A node whose own log was brought in line by a recovery after epoch 1 needs no older record.
    const epochs = new MemEpochStore();
    epochs.save({ epoch: 5, history: [], recovered: 5 });
    const m = new NodeCore({ nodeId: 0, pageCount: 16, payloadBytesMax: 1 << 20 }, log, new MemBlockStorage(), clock, epochs);
    m.recoverScan(history);
    expect(m.scl).toBe(3);
  });
});
