// Goal: the group-commit core cuts batches for the documented reasons, derives VDL from a write
// quorum of SCLs, and resends retained frames to a node that comes back.
// Method: GroupCommitCore with in-memory links.
import { describe, expect, it } from 'vitest';
import { GroupCommitCore, type NodeLinks } from '../src/commit/core.js';
import { decideCut } from '../src/commit/policy.js';
import { kthLargest, QuorumTracker } from '../src/commit/quorum.js';
import { decodeFrame } from '../src/log/frame.js';
import { encodeRecord, Op, recordBytes } from '../src/log/record.js';

function mtr(lsn: number): Uint8Array {
  const k = new TextEncoder().encode(`k${lsn}`);
  const v = new Uint8Array(40);
  const b = new Uint8Array(recordBytes(k.length, v.length));
  encodeRecord(b, new DataView(b.buffer), 0, Op.PUT, true, lsn, 0, k, v);
  return b;
}

const policy = { batchBytesMax: 1024, batchRecordsMax: 8, waitMicrosMax: 100, mode: 'adaptive' as const, framesInFlightMax: 1 };

function links(nodes: number) {
  const got: Uint8Array[][] = Array.from({ length: nodes }, () => []);
  const live = new Array(nodes).fill(true);
  const l: NodeLinks = { isLive: (i) => live[i], tryPush: (i, f) => (got[i]!.push(f.slice()), true), flush: () => {} };
  return { l, got, live };
}

describe('batch policy', () => {
  it('cuts for bytes, records, idle and time', () => {
    const s = { payloadBytes: 0, records: 1, startedMicros: 0, framesInFlight: 1 };
    expect(decideCut(policy, { ...s, payloadBytes: 2000 }, 0)).toEqual({ cut: 'bytes' });
    expect(decideCut(policy, { ...s, records: 8 }, 0)).toEqual({ cut: 'records' });
    expect(decideCut(policy, { ...s, framesInFlight: 0 }, 0)).toEqual({ cut: 'idle' });
    expect(decideCut(policy, s, 50)).toEqual({ cut: null, wakeAtMicros: 100 });
    expect(decideCut(policy, s, 100)).toEqual({ cut: 'time' });
    expect(decideCut({ ...policy, mode: 'timed' }, { ...s, framesInFlight: 0 }, 0)).toEqual({ cut: null, wakeAtMicros: 100 });
  });
});

describe('quorum', () => {
  it('VDL is the writeQuorum-th largest SCL and never goes back', () => {
    expect(kthLargest([5, 9, 1, 7, 3, 8], 4)).toBe(5);
    const q = new QuorumTracker(6, 4, 0);
    [10, 10, 10].forEach((s, i) => q.update(i, s));
    expect(q.vdl).toBe(0); // three nodes are not a write quorum
    q.update(3, 10);
    expect(q.vdl).toBe(10);
    q.update(3, 2); // a node that came back with less does not take back an ack
    expect(q.vdl).toBe(10);
  });
});

describe('group-commit core', () => {
  it('sends identical, chained frames to every node and advances VDL on a write quorum', () => {
    const core = new GroupCommitCore({ nodes: 6, writeQuorum: 4, policy, frameBytesMax: 4096, retainBytesMax: 1 << 20, epoch: 1, lsnPrev: 0, batchSeqNext: 1 });
    const { l, got } = links(6);
    core.addMtr(mtr(1), 1, 0);
    core.poll(0); // idle: nothing in flight -> cut at once
    core.addMtr(mtr(2), 1, 0);
    core.addMtr(mtr(3), 1, 0);
    expect(core.poll(10)).toBe(100); // one frame in flight: accumulate
    core.pump(l);
    expect(got.every((g) => g.length === 1)).toBe(true);
    expect(core.onAcks([1, 1, 1, 0, 0, 0])).toBe(false);
    expect(core.onAcks([1, 1, 1, 1, 0, 0])).toBe(true);
    expect(core.vdl).toBe(1);
    core.poll(20);
    core.pump(l);
    const h = decodeFrame(got[5]![1]!);
    expect([h.lsnPrev, h.lsnFirst, h.lsnLast, h.recordCount]).toEqual([1, 2, 3, 2]);
    expect(Buffer.compare(got[0]![1]!, got[5]![1]!)).toBe(0);
    expect(core.cuts.idle).toBe(2);
  });

  it('reports its window full (the writer then skips ringing it) only in adaptive mode with every frame in flight', () => {
    const two = { ...policy, framesInFlightMax: 2 };
    const core = new GroupCommitCore({ nodes: 6, writeQuorum: 4, policy: two, frameBytesMax: 4096, retainBytesMax: 1 << 20, epoch: 1, lsnPrev: 0, batchSeqNext: 1 });
    const { l } = links(6);
    expect(core.windowFull).toBe(false);
    core.addMtr(mtr(1), 1, 0);
    core.poll(0);
    core.pump(l);
    expect(core.windowFull).toBe(false); // one of two in flight: a new record is cut at once
    core.addMtr(mtr(2), 1, 0);
    core.poll(0);
    core.pump(l);
    expect(core.windowFull).toBe(true); // two of two: new records wait for an ack, which wakes the thread
    core.addMtr(mtr(3), 1, 0);
    expect(core.poll(0)).toBe(100); // and indeed it is not cut
    expect(core.onAcks([1, 1, 1, 1, 0, 0])).toBe(true);
    expect(core.windowFull).toBe(false);
    const timed = new GroupCommitCore({ nodes: 6, writeQuorum: 4, policy: { ...two, mode: 'timed' }, frameBytesMax: 4096, retainBytesMax: 1 << 20, epoch: 1, lsnPrev: 0, batchSeqNext: 1 });
    for (let lsn = 1; lsn <= 3; lsn++) {
      timed.addMtr(mtr(lsn), 1, 0);
      timed.poll(1_000);
      timed.pump(l);
    }
    expect(timed.framesInFlight).toBe(3);
    expect(timed.windowFull).toBe(false); // timed mode has no window: its timer, not an ack, cuts
  });

  it('resends retained frames to a node that restarts behind', () => {
    const core = new GroupCommitCore({ nodes: 3, writeQuorum: 2, policy, frameBytesMax: 4096, retainBytesMax: 1 << 20, epoch: 1, lsnPrev: 0, batchSeqNext: 1 });
    const { l, got, live } = links(3);
    for (let lsn = 1; lsn <= 3; lsn++) {
      core.addMtr(mtr(lsn), 1, 0);
      core.poll(1_000_000 * lsn);
      core.pump(l);
      core.onAcks([lsn, lsn, 0]); // node 2 never acks
    }
    live[2] = false;
    core.nodeDown(2);
    live[2] = true;
    core.nodeUp(2, 1); // restarted with frame 1 durable
    core.pump(l);
    expect(got[2]!.slice(3).map((f) => decodeFrame(f).lsnFirst)).toEqual([2, 3]);
    expect(core.retainedFrames).toBe(3);
    core.onAcks([3, 3, 3]);
    expect(core.retainedFrames).toBe(0);
  });
});
