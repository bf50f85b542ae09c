// Goal: every I/O error a storage node meets fails it for good with a typed code (an errno error is
// IO_ERROR, or DISK_FULL for ENOSPC), so that it never writes or syncs again and a restart rebuilds
// it from a peer: errors in coalescing (block files, meta), in fencing and adopting (epoch.json), in
// reads and gossip fetches; and a node whose restart scan asks for a rebuild (REBUILD_NEEDED) is
// rebuilt by that same restart.
// Method: NodeCore over the real stores on FaultFs (a failed block-file fsync, a full disk), or over
// an in-memory log whose reads fail; end to end, a node whose block directory is unusable when its
// coalescing resumes while idle, and a node restarted with an epoch.json whose history is capped
// past its frames.
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FaultFs } from '../src/fs/fault-fs.js';
import { FsHotLog, MemHotLog } from '../src/node/hotlog.js';
import { FsBlockStorage, MemBlockStorage } from '../src/node/blocks.js';
import { EPOCH_FILE, FsEpochStore, HISTORY_MAX } from '../src/node/epoch-store.js';
import { NodeCore, type FrameRef } from '../src/node/core.js';
import { decodeFrame } from '../src/log/frame.js';
import { open, type Database } from '../src/index.js';
import type { Cluster } from '../src/writer/cluster.js';
import { buildFrame } from './frame-builder.js';
import { smallOptions, tempDir, text, waitFor } from './helpers.js';

const clock = { nowMicros: () => 0 };
const NODE_DIR = '/vol/node-0';
const SEGMENT_BYTES = 16 * 1024;
const clusterOf = (db: Database) => (db as unknown as { cluster: Cluster }).cluster;

/** A node core over the real stores on `io`, recovered empty at epoch 1. */
function fsCore(io: FaultFs): NodeCore {
  const n = new NodeCore({ nodeId: 0, pageCount: 16, payloadBytesMax: 1 << 20 },
    new FsHotLog(`${NODE_DIR}/log`, SEGMENT_BYTES, 'fdatasync', false, null, io), new FsBlockStorage(NODE_DIR, io), clock,
    new FsEpochStore(NODE_DIR, io));
  n.recoverScan();
  n.recoverTo(0, 1, null);
  return n;
}

/** Feeds an overwrite workload, running idle work after each frame, until the node fails (or `frames` are in). */
function feedUntilFailed(n: NodeCore, frames: number): void {
  let lsn = 1;
  for (let f = 0; f < frames && n.failure === null; f++) {
    const recs = Array.from({ length: 20 }, (_, k) => ({ key: `k${k}`, value: `${f}-${'v'.repeat(50)}` }));
    const bytes = buildFrame(recs, lsn, lsn - 1, 1, lsn);
    const ref: FrameRef = { bytes, header: decodeFrame(bytes) };
    if (n.receive([ref]) !== 1) break;
    n.afterAck(ref.header.lsnLast);
    lsn += 20;
    while (n.idleWork()) { /* coalesce as the log grows */ }
  }
}

/** A log whose reads fail with an errno error once `failing` is set (a bad sector under a value). */
class FailingReadLog extends MemHotLog {
  failing = false;
  override read(seq: number, position: number, length: number): Uint8Array {
    if (this.failing) throw Object.assign(new Error('EIO: injected read error'), { code: 'EIO', syscall: 'read' });
    return super.read(seq, position, length);
  }
}

describe('fail-stop on every node I/O error', () => {
  it('an fsync error while preallocating the next segment fails the node (IO_ERROR), not swallowed and redone on a fresh spare', () => {
    const io = new FaultFs();
    const n = fsCore(io);
    io.failSyncAfterOk(`${NODE_DIR}/log/spare.tmp`, 0); // the spare's first fsync fails (once)
    feedUntilFailed(n, 400); // several segments: preallocation runs in the idle work between frames
    expect(n.failure?.code).toBe('IO_ERROR');
    expect(n.failure?.message).toMatch(/preallocate/);
    const before = { ...io.stats };
    for (let i = 0; i < 4; i++) n.idleWork(i % 2 === 0);
    expect(io.stats).toEqual(before); // writes and syncs nothing again
  });

  it('a block-file fsync error in coalescing fails the node with IO_ERROR, and it writes and syncs nothing again', () => {
    const io = new FaultFs();
    const n = fsCore(io);
    io.failSyncAfterOk(`${NODE_DIR}/blocks`, 0); // the first block-file fsync fails
    feedUntilFailed(n, 400);
    expect(n.failure?.code).toBe('IO_ERROR');
    const before = { ...io.stats };
    for (let i = 0; i < 4; i++) n.idleWork(i % 2 === 0);
    expect(io.stats).toEqual(before);
  });

  it('a full disk under the block files in coalescing fails the node with DISK_FULL', () => {
    const io = new FaultFs();
    const n = fsCore(io);
    io.setFull(`${NODE_DIR}/blocks`, true);
    feedUntilFailed(n, 400);
    expect(n.failure?.code).toBe('DISK_FULL');
  });

  it('a full disk does not stop a fence once the epoch file exists (it is preallocated)', () => {
    const io = new FaultFs();
    fsCore(io).receive([]); // the node's files exist, its epoch file too
    const n = new NodeCore({ nodeId: 0, pageCount: 16, payloadBytesMax: 1 << 20 },
      new FsHotLog(`${NODE_DIR}/log`, SEGMENT_BYTES, 'fdatasync', false, null, io), new FsBlockStorage(NODE_DIR, io), clock,
      new FsEpochStore(NODE_DIR, io));
    n.recoverScan();
    io.setFull(NODE_DIR, true);
    n.fence(2);
    expect(n.failure).toBeNull();
    expect(new FsEpochStore(NODE_DIR, io).load().epoch).toBe(2);
  });

  it('a full disk during a fence that must create the epoch file fails the node (DISK_FULL): it is fatal, and the recovery that follows writes nothing', () => {
    const io = new FaultFs();
    fsCore(io).receive([]); // the node's files exist
    io.rmSync(`${NODE_DIR}/${EPOCH_FILE}`); // but not its epoch file: the first save creates it (512 KiB)
    const n = new NodeCore({ nodeId: 0, pageCount: 16, payloadBytesMax: 1 << 20 },
      new FsHotLog(`${NODE_DIR}/log`, SEGMENT_BYTES, 'fdatasync', false, null, io), new FsBlockStorage(NODE_DIR, io), clock,
      new FsEpochStore(NODE_DIR, io));
    n.recoverScan();
    io.setFull(NODE_DIR, true);
    expect(() => n.fence(2)).toThrow(/DISK_FULL/);
    expect(n.failure?.code).toBe('DISK_FULL');
    io.setFull(NODE_DIR, false); // space freed: still no retry on a node that saw a write error
    const before = { ...io.stats };
    expect(() => n.recoverTo(n.scl, 2, null)).toThrow(/DISK_FULL/);
    expect(() => n.fence(3)).toThrow(/DISK_FULL/);
    expect(io.stats.writes).toBe(before.writes);
    expect(io.stats.fileSyncs).toBe(before.fileSyncs);
  });

  it('an EIO writing epoch.json during adopt fails the node with IO_ERROR', () => {
    const io = new FaultFs();
    const n = fsCore(io);
    io.failSyncAfterOk(NODE_DIR, 0); // the epoch file's sync fails
    expect(() => n.adopt(2, [{ epoch: 2, vdl: 0 }])).toThrow(/IO_ERROR/);
    expect(n.failure?.code).toBe('IO_ERROR');
  });

  it('a read or a gossip fetch that meets an I/O error fails the node (IO_ERROR) instead of throwing out of it', () => {
    const log = new FailingReadLog(64 * 1024);
    const n = new NodeCore({ nodeId: 0, pageCount: 16, payloadBytesMax: 1 << 20 }, log, new MemBlockStorage(), clock);
    n.recoverScan();
    n.recoverTo(0, 1, null);
    const bytes = buildFrame([{ key: 'k', value: 'v' }], 1, 0, 1, 1);
    expect(n.receive([{ bytes, header: decodeFrame(bytes) }])).toBe(1);
    n.afterAck(1);
    log.failing = true;
    expect(n.read(new TextEncoder().encode('k'), 1)).toEqual({ status: 'failed' });
    expect(n.failure?.code).toBe('IO_ERROR');

    const m = new NodeCore({ nodeId: 1, pageCount: 16, payloadBytesMax: 1 << 20 }, new FailingReadLog(64 * 1024), new MemBlockStorage(), clock);
    m.recoverScan();
    m.recoverTo(0, 1, null);
    m.receive([{ bytes, header: decodeFrame(bytes) }]);
    (m.log as FailingReadLog).failing = true;
    expect(m.framesAfter(0, 1 << 20)).toEqual([]);
    expect(m.failure?.code).toBe('IO_ERROR');
  });

  it('an idle node whose coalescing meets an I/O error is marked failed (IO_ERROR) at once, and restart rebuilds it', async () => {
    const dir = tempDir();
    const db = await open(smallOptions(dir, { segmentBytes: 256 * 1024, groupCommit: { batchBytesMax: 32 * 1024 }, mtrBytesMax: 32 * 1024,
      valueBytesMax: 8 * 1024, pageCount: 64 }));
    try {
      db.setCoalescing(false);
      const value = 'x'.repeat(1000);
      // ~1.2 MB of redo: enough log (segments and bytes) for a coalescing cycle.
      for (let round = 0; round < 24; round++) await Promise.all(Array.from({ length: 50 }, (_, k) => db.put(`k${k}`, `${round}:${value}`)));
      // Node 1's block directory becomes unusable (ENOTDIR on every block-file operation).
      const blocks = path.join(dir, 'node-1', 'blocks');
      fs.rmSync(blocks, { recursive: true, force: true });
      fs.writeFileSync(blocks, 'not a directory');
      db.setCoalescing(true); // no more writes: node 1 coalesces while idle
      // The state is shared memory; the failure arrives as a message just after it.
      expect(await waitFor(() => db.stats().nodes[1]!.state === 'failed' && db.stats().nodes[1]!.failureCode !== null)).toBe(true);
      expect(db.stats().nodes[1]!.failureCode).toBe('IO_ERROR');
      const rebuilds = clusterOf(db).rebuilds;
      await db.faults.restartNode(1);
      expect(clusterOf(db).rebuilds).toBe(rebuilds + 1);
      expect(await waitFor(() => db.stats().nodes[1]!.scl === db.vdl)).toBe(true);
      expect(text(await db.get('k49'))).toBe(`23:${value}`);
    } finally {
      await db.close();
    }
  });

  it('a restart whose scan needs a rebuild (REBUILD_NEEDED: its frames are older than the capped history) rebuilds the node', async () => {
    const dir = tempDir();
    const db = await open(smallOptions(dir));
    try {
      for (let i = 0; i < 20; i++) await db.put(`k${i}`, `v${i}`);
      await db.faults.crashNode(0);
      // As if the volume had more than HISTORY_MAX recoveries while node 0 was down: its epoch-1
      // frames are older than every record kept, and it applied no recovery since.
      const history = Array.from({ length: HISTORY_MAX }, (_, i) => ({ epoch: 10 + i, vdl: 1_000_000 }));
      new FsEpochStore(path.join(dir, 'node-0')).save({ epoch: 1, history, recovered: 0 });
      for (let i = 20; i < 30; i++) await db.put(`k${i}`, `v${i}`);
      await db.faults.restartNode(0);
      expect(clusterOf(db).lastRebuild?.node).toBe(0);
      expect(await waitFor(() => db.stats().nodes[0]!.scl === db.vdl && db.stats().nodes[0]!.state === 'running')).toBe(true);
      expect(text(await db.get('k29'))).toBe('v29');
    } finally {
      await db.close();
    }
  });
});
