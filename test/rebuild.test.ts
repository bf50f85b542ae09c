// Goal: rebuilding a node from a peer (after EIO / ENOSPC, or when peers' logs no longer reach it)
// copies from the most advanced healthy peer, takes only what that peer has synced, never a mix of
// two coalescing states, makes the copy durable (every file and directory fsync'ed) and swaps it in
// so that a crash leaves the old directory or the complete copy.
// Method: the pure source choice; the copy over a hand-made node directory with bytes past the
// durable point, through a recording file system (the order of writes, fsyncs and renames); a node
// core on real files held mid-cycle while the copy runs and the source keeps appending; end to
// end, EIO on a node while another lags, or while every source is inside a slow fdatasync, with
// node:fs spied in this (the writer's) thread.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import * as path from 'node:path';
import { syncBuiltinESMExports } from 'node:module';
import { open, type Database } from '../src/index.js';
import type { Cluster } from '../src/writer/cluster.js';
import { canCatchUpByLog, chooseRebuildSource, copyNodeFiles, installRebuild, rebuildDir, settleRebuild, SettleOutcome, SnapshotHolds,
  type RebuildFs } from '../src/node/rebuild.js';
import { FsHotLog, segmentFileName } from '../src/node/hotlog.js';
import { FsBlockStorage } from '../src/node/blocks.js';
import { EPOCH_FILE, EPOCH_SLOT_BYTES, FsEpochStore } from '../src/node/epoch-store.js';
import { NodeCore } from '../src/node/core.js';
import { ackFrame } from './frame-builder.js';
import { smallOptions, tempDir, text, waitFor } from './helpers.js';

const clusterOf = (db: Database) => (db as unknown as { cluster: Cluster }).cluster;

/** A RebuildFs over node:fs that logs every write, fsync, mkdir, create and rename by path. */
function recordingFs(): { io: RebuildFs; ops: string[][] } {
  const ops: string[][] = [];
  const paths = new Map<number, string>();
  const io: RebuildFs = {
    ...fs,
    openSync: ((p: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode) => {
      const fd = fs.openSync(p, flags ?? 'r', mode);
      paths.set(fd, String(p));
      if (flags === 'wx' || flags === 'w') ops.push(['create', String(p)]);
      return fd;
    }) as typeof fs.openSync,
    writeSync: ((fd: number, ...rest: unknown[]) => {
      ops.push(['write', paths.get(fd)!]);
      return (fs.writeSync as (...a: unknown[]) => number)(fd, ...rest);
    }) as typeof fs.writeSync,
    fsyncSync: (fd: number) => {
      ops.push(['fsync', paths.get(fd)!]);
      fs.fsyncSync(fd);
    },
    mkdirSync: ((p: fs.PathLike, o?: fs.MakeDirectoryOptions) => {
      ops.push(['mkdir', String(p)]);
      return fs.mkdirSync(p, o);
    }) as typeof fs.mkdirSync,
    renameSync: (a: fs.PathLike, b: fs.PathLike) => {
      ops.push(['rename', String(a), String(b)]);
      fs.renameSync(a, b);
    },
  };
  return { io, ops };
}

const SEGMENT_BYTES = 4096;

/** A source node directory by hand: two segments with garbage past the durable point, an abandoned block file, temp files. */
function sourceDir(root: string): { dir: string; seg0: Buffer; seg1: Buffer; block: Buffer } {
  const dir = path.join(root, 'node-0');
  for (const d of ['log', 'blocks']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.writeFileSync(path.join(dir, 'epoch.json'), JSON.stringify({ epoch: 3, history: [{ epoch: 3, vdl: 7 }] }));
  fs.writeFileSync(path.join(dir, 'meta'), JSON.stringify({ format: 1, coalesceLsn: 5, blockSeq: 2 }));
  fs.writeFileSync(path.join(dir, 'meta.tmp'), 'half-written');
  const block = Buffer.alloc(3000, 0xb1);
  fs.writeFileSync(path.join(dir, 'blocks', '0000000000000002.blk'), block);
  fs.writeFileSync(path.join(dir, 'blocks', '0000000000000003.blk'), Buffer.alloc(100, 0xb2)); // an abandoned cycle's
  const seg0 = Buffer.alloc(SEGMENT_BYTES, 0x11);
  const seg1 = Buffer.alloc(SEGMENT_BYTES, 0x22); // durable up to 1000, then bytes not yet synced
  fs.writeFileSync(path.join(dir, 'log', segmentFileName(0)), seg0);
  fs.writeFileSync(path.join(dir, 'log', segmentFileName(1)), seg1);
  fs.writeFileSync(path.join(dir, 'log', segmentFileName(2)), Buffer.alloc(SEGMENT_BYTES, 0x33)); // after the durable point
  fs.writeFileSync(path.join(dir, 'log', 'spare.tmp'), Buffer.alloc(10));
  return { dir, seg0, seg1, block };
}

function listTree(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).map((p) => p.split(path.sep).join('/')).sort();
}

describe('rebuild source', () => {
  it('is the healthy node with the highest SCL, ties to the lowest index, never the target', () => {
    const n = (healthy: boolean, scl: number) => ({ healthy, scl });
    expect(chooseRebuildSource(5, [n(true, 10), n(true, 30), n(true, 30), n(false, 99), n(true, 20), n(false, 0)])).toBe(1);
    expect(chooseRebuildSource(1, [n(true, 10), n(true, 99), n(true, 10)])).toBe(0);
    expect(chooseRebuildSource(0, [n(true, 99), n(false, 5)])).toBe(null);
  });

  it('tells a node that can still catch up from a peer\'s log from one that must be rebuilt', () => {
    expect(canCatchUpByLog(50, [{ scl: 90, logFrom: 60 }, { scl: 90, logFrom: 40 }])).toBe(true);
    expect(canCatchUpByLog(50, [{ scl: 90, logFrom: 60 }, { scl: 95, logFrom: 51 }])).toBe(false);
    expect(canCatchUpByLog(50, [{ scl: 50, logFrom: 50 }])).toBe(true); // nobody ahead
    expect(canCatchUpByLog(50, [])).toBe(true);
  });
});

describe('rebuild copy', () => {
  it('copies only up to the source\'s durable point (zeros after it) and leaves out what meta does not name', () => {
    const root = tempDir();
    const src = sourceDir(root);
    const dst = path.join(root, 'node-5');
    const written = copyNodeFiles(src.dir, dst, { scl: 9, seq: 1, position: 1000 }, SEGMENT_BYTES);
    installRebuild(dst);
    expect(written.sort()).toEqual(['blocks/0000000000000002.blk', 'epoch.json', 'log/0000000000000000.log', 'log/0000000000000001.log', 'meta']);
    expect(listTree(dst)).toEqual(['blocks', 'blocks/0000000000000002.blk', 'epoch.json', 'log', 'log/0000000000000000.log', 'log/0000000000000001.log', 'meta']);
    expect(fs.readFileSync(path.join(dst, 'log', segmentFileName(0)))).toEqual(src.seg0);
    const seg1 = fs.readFileSync(path.join(dst, 'log', segmentFileName(1)));
    expect(seg1.length).toBe(SEGMENT_BYTES);
    expect(seg1.subarray(0, 1000)).toEqual(src.seg1.subarray(0, 1000));
    expect(seg1.subarray(1000).every((b) => b === 0)).toBe(true); // the source's unsynced bytes are not copied
    expect(fs.readFileSync(path.join(dst, 'blocks', '0000000000000002.blk'))).toEqual(src.block);
    expect(fs.readFileSync(path.join(dst, 'meta'), 'utf8')).toBe(fs.readFileSync(path.join(src.dir, 'meta'), 'utf8'));
    expect(fs.existsSync(rebuildDir(dst))).toBe(false);
  });

  it('fsyncs every copied file after its last write and every directory after its last entry, before each rename; the parent after each rename', () => {
    const root = tempDir();
    const src = sourceDir(root);
    const dst = path.join(root, 'node-5');
    fs.mkdirSync(path.join(dst, 'log'), { recursive: true }); // the failed node's directory
    fs.writeFileSync(path.join(dst, 'log', segmentFileName(0)), 'untrusted');
    const { io, ops } = recordingFs();
    copyNodeFiles(src.dir, dst, { scl: 9, seq: 1, position: 1000 }, SEGMENT_BYTES, io);
    installRebuild(dst, io);
    const lastIndex = (pred: (op: string[]) => boolean) => ops.reduce((at, op, i) => (pred(op) ? i : at), -1);
    const firstRename = ops.findIndex((op) => op[0] === 'rename');
    expect(firstRename).toBeGreaterThan(0);
    // Files: each created file is fsync'ed after its last write, before the copy is renamed.
    const files = new Set(ops.filter((op) => op[0] === 'create').map((op) => op[1]!));
    expect(files.size).toBe(5);
    for (const f of files) {
      const lastWrite = lastIndex((op) => op[0] === 'write' && op[1] === f);
      const sync = lastIndex((op) => op[0] === 'fsync' && op[1] === f);
      expect(lastWrite, f).toBeGreaterThanOrEqual(0);
      expect(sync, f).toBeGreaterThan(lastWrite);
      expect(sync, f).toBeLessThan(firstRename);
    }
    // Directories: each is fsync'ed after the last entry created in it, before the rename.
    const dirs = new Set(ops.filter((op) => op[0] === 'mkdir').map((op) => op[1]!));
    expect(dirs.size).toBe(3);
    for (const d of dirs) {
      const lastEntry = lastIndex((op) => (op[0] === 'create' || op[0] === 'mkdir') && path.dirname(op[1]!) === d);
      const sync = lastIndex((op) => op[0] === 'fsync' && op[1] === d);
      expect(sync, d).toBeGreaterThan(lastEntry);
      expect(sync, d).toBeLessThan(firstRename);
    }
    // Every rename (copy -> .rebuild, old -> .failed, .rebuild -> node) is followed by an fsync of the parent.
    const renames = ops.flatMap((op, i) => (op[0] === 'rename' ? [i] : []));
    expect(renames.length).toBe(3);
    for (const r of renames) {
      const next = ops.slice(r + 1).find((op) => op[0] === 'fsync' || op[0] === 'rename');
      expect(next).toEqual(['fsync', root]);
    }
    expect(fs.readFileSync(path.join(dst, 'log', segmentFileName(0)))).toEqual(src.seg0);
  });

  it('settles a rebuild a crash interrupted: an unfinished copy is dropped, a finished one is swapped in, leftovers go', () => {
    const root = tempDir();
    const src = sourceDir(root);
    const node = path.join(root, 'node-5');
    const oldDir = (): void => {
      fs.mkdirSync(path.join(node, 'log'), { recursive: true });
      fs.writeFileSync(path.join(node, 'meta'), 'old');
    };
    // Crash during the copy: the old directory stays.
    oldDir();
    fs.mkdirSync(`${node}.rebuild.tmp/log`, { recursive: true });
    expect(settleRebuild(node)).toBe(SettleOutcome.DROPPED_COPY);
    expect(fs.readFileSync(path.join(node, 'meta'), 'utf8')).toBe('old');
    expect(fs.existsSync(`${node}.rebuild.tmp`)).toBe(false);
    // Crash after the copy was complete, before the swap: finish it.
    copyNodeFiles(src.dir, node, { scl: 9, seq: 1, position: 1000 }, SEGMENT_BYTES);
    expect(settleRebuild(node)).toBe(SettleOutcome.SWAPPED);
    expect(fs.readFileSync(path.join(node, 'meta'), 'utf8')).toContain('coalesceLsn');
    // Crash between the two renames (no node directory, the old one as .failed): finish it.
    copyNodeFiles(src.dir, node, { scl: 9, seq: 1, position: 1000 }, SEGMENT_BYTES);
    fs.renameSync(node, `${node}.failed`);
    expect(settleRebuild(node)).toBe(SettleOutcome.SWAPPED);
    expect(listTree(node)).toContain('log/0000000000000001.log');
    expect(fs.existsSync(`${node}.failed`)).toBe(false);
    // Crash after the swap: the old directory goes.
    fs.mkdirSync(`${node}.failed`);
    expect(settleRebuild(node)).toBe(SettleOutcome.CLEANED);
    expect(fs.existsSync(`${node}.failed`)).toBe(false);
    expect(settleRebuild(node)).toBe(SettleOutcome.NOTHING);
    expect(fs.readdirSync(root).sort()).toEqual(['node-0', 'node-5']);
  });
});

describe('rebuild source held still', () => {
  const clock = { nowMicros: () => 0 };
  const KEYS = 1500;
  const SEG = 64 * 1024;

  /** A node core on real files, with one finished coalescing cycle and a second one in progress. */
  function midCycleNode(dir: string): { core: NodeCore; append: (round: number) => void; lastValue: string } {
    const core = new NodeCore({ nodeId: 0, pageCount: 64, payloadBytesMax: 1 << 20 }, new FsHotLog(path.join(dir, 'log'), SEG, 'fdatasync'),
      new FsBlockStorage(dir), clock, new FsEpochStore(dir));
    core.recoverScan();
    core.recoverTo(0, 1, null);
    let lsn = 1;
    const valueOf = (round: number) => `r${round}-${'v'.repeat(40)}`;
    const append = (round: number): void => {
      for (let at = 0; at < KEYS; at += 50) {
        ackFrame(core, Array.from({ length: 50 }, (_, k) => ({ key: `k${at + k}`, value: valueOf(round) })), lsn);
        lsn += 50;
      }
    };
    let round = 0;
    while (core.coalescer.stats.cycles === 0) {
      append(round++);
      while (core.idleWork()) { /* coalesce */ }
    }
    for (let r = 0; r < 6; r++) append(round++);
    expect(core.coalescer.step()).toBe(true); // the cycle starts
    expect(core.coalescer.step()).toBe(true); // one slice of pages written, more remain
    expect(core.coalescer.active).toBe(true);
    return { core, append, lastValue: valueOf(round - 1) };
  }

  it('pausing coalescing alone lets a cycle in progress replace meta and delete files (the hazard a hold removes)', () => {
    const dir = tempDir();
    const { core } = midCycleNode(dir);
    const meta = fs.readFileSync(path.join(dir, 'meta'), 'utf8');
    const segments = core.log.segments().length;
    core.coalescer.paused = true; // what the coalescePaused flag did
    while (core.idleWork()) { /* the source's loop goes on */ }
    expect(fs.readFileSync(path.join(dir, 'meta'), 'utf8')).not.toBe(meta);
    expect(core.log.segments().length).toBeLessThan(segments);
    core.log.close();
    core.blocks.close();
  });

  it('a rebuild while a coalescing cycle runs and the source keeps appending yields a consistent node at the durable point', () => {
    const root = tempDir();
    const srcDir = path.join(root, 'node-0');
    const { core, append, lastValue } = midCycleNode(srcDir);
    const meta = fs.readFileSync(path.join(srcDir, 'meta'), 'utf8');
    const blocksBefore = fs.readdirSync(path.join(srcDir, 'blocks')).filter((n) => n.endsWith('.blk')).length;
    expect(blocksBefore).toBe(2); // the named block file and the one being written
    const holds = new SnapshotHolds();
    const point = holds.hold(1, core);
    expect(core.coalescer.active).toBe(false);
    expect(point.scl).toBe(core.scl);
    // The source's thread goes on while the copy runs: appends past the durable point, idle work.
    let appended = 0;
    const io: RebuildFs = {
      ...fs,
      openSync: ((...a: Parameters<typeof fs.openSync>) => {
        if (appended < 3) append(100 + appended++);
        while (core.idleWork()) { /* held: no cycle */ }
        return fs.openSync(...a);
      }) as typeof fs.openSync,
    };
    const dst = path.join(root, 'node-5');
    copyNodeFiles(srcDir, dst, point, SEG, io);
    installRebuild(dst);
    holds.release(1);
    expect(appended).toBe(3);
    expect(core.scl).toBeGreaterThan(point.scl);
    expect(fs.readFileSync(path.join(srcDir, 'meta'), 'utf8')).toBe(meta); // nothing replaced under the copy
    // The copy recovers on its own: meta's block file is there and matches (recover() checks), the
    // chain ends exactly at the durable point, and every key reads as of it.
    const blockSeq = (JSON.parse(fs.readFileSync(path.join(dst, 'meta'), 'utf8')) as { blockSeq: number }).blockSeq;
    expect(fs.existsSync(path.join(dst, 'blocks', `${String(blockSeq).padStart(16, '0')}.blk`))).toBe(true);
    const copy = new NodeCore({ nodeId: 5, pageCount: 64, payloadBytesMax: 1 << 20 }, new FsHotLog(path.join(dst, 'log'), SEG, 'fdatasync'),
      new FsBlockStorage(dst), clock, new FsEpochStore(dst));
    copy.recoverScan();
    expect(copy.scl).toBe(point.scl);
    copy.recoverTo(copy.scl, 2, null);
    const enc = new TextEncoder();
    for (let k = 0; k < KEYS; k += 7) {
      const r = copy.read(enc.encode(`k${k}`), copy.scl);
      expect(r.status === 'ok' && r.result.found && r.result.value !== null ? Buffer.from(r.result.value).toString() : r.status).toBe(lastValue);
    }
    for (const n of [core, copy]) {
      n.log.close();
      n.blocks.close();
    }
  });
});

function damageBothSlots(dir: string): void {
  const file = path.join(dir, 'node-5', EPOCH_FILE);
  const bytes = fs.readFileSync(file);
  bytes[40]! ^= 1;
  bytes[EPOCH_SLOT_BYTES + 40]! ^= 1;
  fs.writeFileSync(file, bytes);
  expect(() => new FsEpochStore(path.join(dir, 'node-5')).load()).toThrow(expect.objectContaining({ code: 'CORRUPT_RECORD' }));
}

describe('rebuild end to end', () => {
  it('rebuilds a failed node from the peer with the highest SCL, not from node 0 lagging behind', async () => {
    const db = await open(smallOptions(tempDir()));
    try {
      await db.put('before', '1');
      db.faults.pauseNode(0); // node 0 falls behind
      db.faults.failFsync(5, 1);
      for (let i = 0; i < 50; i++) await db.put(`k${i}`, `v${i}`);
      expect(await waitFor(() => db.stats().nodes[5]!.state === 'failed')).toBe(true);
      const s = db.stats();
      expect(s.nodes[0]!.scl).toBeLessThan(s.vdl);
      await db.faults.restartNode(5);
      // The copy was at the top: node 5 had nothing to catch up.
      expect(await waitFor(() => db.stats().nodes[5]!.scl === db.vdl)).toBe(true);
      const n5 = db.stats().nodes[5]!;
      expect(n5.framesAppended + n5.framesFetched).toBe(0);
      expect(clusterOf(db).lastRebuild).toEqual({ node: 5, source: 1, scl: s.vdl }); // nodes 1-4 tie at VDL
      for (const i of [0, 1, 2, 3, 4]) db.faults.muteNode(i);
      const snap = db.snapshot(); // node 5 alone answers (snapshot reads bypass the writer's cache fill)
      expect(text(await snap.get('k49'))).toBe('v49');
      snap.release();
    } finally {
      await db.close();
    }
  });

  it('a node whose epoch file has neither slot intact is rebuilt, never restarted at epoch 0', async () => {
    const dir = tempDir();
    const db = await open(smallOptions(dir));
    try {
      for (let i = 0; i < 20; i++) await db.put(`k${i}`, 'v');
      await db.faults.crashNode(5);
      damageBothSlots(dir);
      await db.faults.restartNode(5);
      expect(clusterOf(db).lastRebuild?.node).toBe(5);
      expect(new FsEpochStore(path.join(dir, 'node-5')).load().epoch).toBe(db.stats().epoch);
      await db.put('after', '1');
      expect(await waitFor(() => db.stats().nodes[5]!.scl === db.vdl)).toBe(true);
    } finally {
      await db.close();
    }
    // Found at an open: the node is left out (REBUILD_NEEDED), and its restart rebuilds it.
    damageBothSlots(dir);
    const again = await open(smallOptions(dir));
    try {
      // open() returns once a quorum is up; the left-out node's failure is reported by its thread,
      // which can come a moment later on a loaded machine (seen once in CI).
      expect(await waitFor(() => again.stats().nodes[5]!.failureCode === 'REBUILD_NEEDED')).toBe(true);
      expect(text(await again.get('after'))).toBe('1');
      await again.faults.restartNode(5);
      expect(clusterOf(again).lastRebuild?.node).toBe(5);
      expect(await waitFor(() => again.stats().nodes[5]!.scl === again.vdl)).toBe(true);
    } finally {
      await again.close();
    }
  });

  it('a rebuilt node never starts ahead of what its source had synced (its unsynced bytes are not copied)', async () => {
    const dir = tempDir();
    const db = await open(smallOptions(dir));
    try {
      for (let i = 0; i < 20; i++) await db.put(`k${i}`, 'v');
      db.faults.failFsync(5, 1);
      await db.put('fail-5', 'x');
      expect(await waitFor(() => db.stats().nodes[5]!.state === 'failed')).toBe(true);
      // Every possible source is now inside a slow fdatasync with the next frame written but not synced.
      for (const i of [0, 1, 2, 3, 4]) db.faults.slowFsync(i, 3_000_000);
      const late = db.put('late-key', 'late-value');
      const inFile = (i: number) => fs.readdirSync(path.join(dir, `node-${i}`, 'log')).some((f) =>
        f.endsWith('.log') && fs.readFileSync(path.join(dir, `node-${i}`, 'log', f)).includes('late-key'));
      expect(await waitFor(() => [0, 1, 2, 3, 4].every(inFile))).toBe(true);
      await db.faults.restartNode(5);
      const s = db.stats();
      const peersMax = Math.max(...[0, 1, 2, 3, 4].map((i) => s.nodes[i]!.scl));
      expect(s.nodes[5]!.scl).toBeLessThanOrEqual(peersMax);
      for (const i of [0, 1, 2, 3, 4]) db.faults.slowFsync(i, 0);
      await late;
      expect(await waitFor(() => db.stats().nodes[5]!.scl === db.vdl)).toBe(true);
    } finally {
      await db.close();
    }
  }, 30_000);

  it('fsyncs every file and directory of the rebuilt node and its parent (node:fs spied in the writer\'s thread)', async () => {
    const dir = tempDir();
    const db = await open(smallOptions(dir));
    const synced = new Set<string>();
    const opened = new Map<number, string>();
    const real = { openSync: fs.openSync, fsyncSync: fs.fsyncSync };
    try {
      for (let i = 0; i < 50; i++) await db.put(`k${i}`, `v${i}`);
      db.faults.failFsync(5, 1);
      await db.put('x', 'y');
      expect(await waitFor(() => db.stats().nodes[5]!.state === 'failed')).toBe(true);
      fs.openSync = ((...a: Parameters<typeof fs.openSync>) => {
        const fd = real.openSync(...a);
        opened.set(fd, path.resolve(String(a[0])));
        return fd;
      }) as typeof fs.openSync;
      fs.fsyncSync = (fd: number) => {
        synced.add(opened.get(fd) ?? `fd ${fd}`);
        real.fsyncSync(fd);
      };
      syncBuiltinESMExports();
      await db.faults.restartNode(5);
    } finally {
      Object.assign(fs, real);
      syncBuiltinESMExports();
      await db.close();
    }
    // Written under a temporary name, then renamed: map each synced path to its final place.
    const node5 = path.resolve(dir, 'node-5');
    const final = new Set([...synced].map((p) => p.replace(`${node5}.rebuild.tmp`, node5)));
    const tree = listTree(node5).filter((p) => !p.endsWith('.tmp')).map((p) => path.join(node5, p));
    const expected = [...tree, node5, path.resolve(dir)];
    expect(expected.filter((p) => !final.has(p))).toEqual([]);
  });
});
