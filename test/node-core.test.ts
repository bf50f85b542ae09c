// Goal: a node acks only what it has synced, drops duplicates, never appends across a gap, and
// fails for good on a write or sync error (no retry: fsyncgate).
// Method: NodeCore over the fault-injecting in-memory HotLog.
import { describe, expect, it } from 'vitest';
import { MemHotLog } from '../src/node/hotlog.js';
import { MemBlockStorage } from '../src/node/blocks.js';
import { NodeCore, type FrameRef } from '../src/node/core.js';
import { decodeFrame } from '../src/log/frame.js';
import { buildFrame } from './frame-builder.js';

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

  it('fails for good on an EIO from fdatasync and never syncs that file again', () => {
    const log = new MemHotLog(64 * 1024);
    const n = fresh(log);
    n.receive([frame(1)]);
    log.failNext = { op: 'sync', code: 'EIO' };
    expect(n.receive([frame(2)])).toBe(0);
    expect(n.failure?.code).toBe('IO_ERROR');
    expect(n.scl).toBe(1); // the frame whose sync failed is never acknowledged
    const syncs = n.stats.syncs;
    expect(n.receive([frame(2), frame(3)])).toBe(0);
    expect(n.stats.syncs).toBe(syncs);
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
    n.indexAccepted(0);
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
});
