// Rebuilding a node from a peer's files: after an I/O failure (its own files are not trusted: the
// page cache may hold writes the disk lost), or when its chain ends below what every peer's hot
// log still holds (it cannot catch up by log any more).
//
// The source is a live node, so the copy must not take what it has not synced, nor a mix of two
// coalescing states. The protocol:
//   1. choose the source: the healthy running peer with the highest SCL (ties: lowest index);
//   2. hold it (`SnapshotHolds.hold`, on its own thread): abandon any coalescing cycle in progress
//      and start no other, nor a scrub pass (so neither meta, nor the block file it names, nor any
//      segment changes or goes), and report its durable point: its SCL and the byte where its chain's last frame ends
//      in its last segment (every byte of the log before it was fdatasync'ed before that SCL was
//      published). It keeps appending and acking meanwhile, past that point;
//   3. copy (`copyNodeFiles`) into <node>.rebuild.tmp: the epoch file, meta, the block file meta
//      names, and the hot-log segments up to the durable point; bytes after it are zeros in the
//      copy, so the rebuilt node's scan ends its chain exactly at the source's durable SCL. Every
//      file is fsync'ed, then each directory; then it is renamed to <node>.rebuild (complete by
//      construction) and the parent is fsync'ed;
//   4. release the hold (also on error);
//   5. swap it into place (`installRebuild`): <node> -> <node>.failed, <node>.rebuild -> <node>,
//      remove <node>.failed, fsyncing the parent after each step.
//
// A crash anywhere leaves the old (failed) node directory or the complete copy; the next start of
// the node (or the next rebuild) settles the leftovers (`settleRebuild`), finishing what was begun:
//
//   left behind                 | what happened                           | settle
//   ----------------------------+-----------------------------------------+----------------------------
//   <node>.rebuild.tmp          | crash during the copy                   | remove it (incomplete)
//   <node>.rebuild              | crash after the copy, before or during  | finish the swap
//                               | the swap (the copy is complete)         | (installRebuild)
//   <node>.failed and <node>    | crash after the swap                    | remove <node>.failed
//   <node>.failed, no <node>    | cannot happen (.failed exists only      | rename it back
//                               | while .rebuild does)                    |
import { nodeFs } from '../fs/node-fs.js';
import type { FsPort } from '../fs/port.js';
import { fsyncDir } from '../shared/fsync-dir.js';
import * as path from 'node:path';
import { assert } from '../assert.js';
import type { NodeCore } from './core.js';
import { segmentFileName } from './hotlog.js';
import { EPOCH_FILE, LEGACY_EPOCH_FILE } from './epoch-store.js';

/** A source node's durable point, reported while it holds still. */
export interface DurablePoint {
  /** Its SCL: the chain's last frame ends here. */
  scl: number;
  /** The segment holding that frame (-1: the log holds no segment). */
  seq: number;
  /** The byte of segment `seq` where that frame ends (0 if the log holds no frame). */
  position: number;
}

/** What a node sees of a candidate source. */
export interface SourceCandidate {
  /** Running and not failed. */
  healthy: boolean;
  scl: number;
}

/** The source for rebuilding node `target`: the healthy node with the highest SCL, ties to the lowest index; null if none. */
export function chooseRebuildSource(target: number, nodes: readonly SourceCandidate[]): number | null {
  let best: number | null = null;
  for (let j = 0; j < nodes.length; j++) {
    const n = nodes[j]!;
    if (j === target || !n.healthy) continue;
    if (best === null || n.scl > nodes[best]!.scl) best = j;
  }
  return best;
}

/** Where a peer's hot log starts and ends: it can serve every frame after `logFrom` up to `scl`. */
export interface LogRange {
  scl: number;
  logFrom: number;
}

/**
 * Whether a node whose chain ends at `scl` can still catch up from its peers' logs: some running
 * peer serves frames after `scl` (or none is ahead). If not, it must be rebuilt from a copy.
 */
export function canCatchUpByLog(scl: number, peers: readonly LogRange[]): boolean {
  return peers.every((p) => p.scl <= scl) || peers.some((p) => p.logFrom <= scl);
}

// ---- the source's side (runs on its own thread) ------------------------------------------------

/** The lowest LSN after which `core` can still serve frames (its SCL if its log holds none). */
export function logFromOf(core: NodeCore): number {
  const first = core.frameDir.at(core.frameDir.first);
  return first === undefined ? core.scl : first.lsnPrev;
}

/**
 * Holds of a node serving as a rebuild source, by id. While any is held, coalescing (and so
 * hot-log GC, which only a finished cycle does) stays stopped.
 */
export class SnapshotHolds {
  private readonly ids = new Set<number>();

  get held(): boolean {
    return this.ids.size > 0;
  }

  /**
   * Takes hold `id`: abandons a coalescing cycle in progress (so it cannot replace meta or delete
   * files under the copy) and reports the durable point. Called between two appends, so the SCL
   * is the end of synced frames.
   */
  hold(id: number, core: NodeCore): DurablePoint {
    if (core.failure !== null) throw core.failure;
    this.ids.add(id);
    core.coalescer.abandon();
    core.coalescer.dropSpare(); // the node holds still for the copy: no cycle needs them soon
    core.coalescer.paused = true;
    const last = core.frameDir.at(core.frameDir.first + core.frameDir.size - 1);
    if (last === undefined) {
      const segs = core.log.segments();
      return { scl: core.scl, seq: segs.length === 0 ? -1 : segs[segs.length - 1]!, position: 0 };
    }
    assert(last.lsnLast === core.scl, `frame directory ends at ${last.lsnLast}, SCL is ${core.scl}`);
    return { scl: core.scl, seq: last.seq, position: last.position + last.bytes };
  }

  release(id: number): void {
    this.ids.delete(id);
  }
}

// ---- the copy (runs on the writer's thread while the source holds) -----------------------------

/** The file operations a rebuild uses: the file-system port (node:fs; tests pass FaultFs or a recording one). */
export type RebuildFs = FsPort;

const COPY_CHUNK_BYTES = 1 << 20;
const SEGMENT_NAME = /^\d{16}\.log$/;

/** The complete copy, waiting to be swapped in. */
export function rebuildDir(nodeDir: string): string {
  return `${nodeDir}.rebuild`;
}

/** The copy being written. */
function copyingDir(nodeDir: string): string {
  return `${nodeDir}.rebuild.tmp`;
}

function failedDir(nodeDir: string): string {
  return `${nodeDir}.failed`;
}

/**
 * Writes `bytes` bytes of `from` (from offset 0), then zeros up to `sizeBytes`, to a new file
 * `to`, and fsyncs it. A source shorter than `bytes` reads as zeros past its end.
 */
function copyFile(io: RebuildFs, from: string, to: string, bytes: number, sizeBytes: number): void {
  assert(bytes <= sizeBytes, `copy of ${from}: ${bytes} bytes into a ${sizeBytes}-byte file`);
  const buf = Buffer.alloc(Math.min(COPY_CHUNK_BYTES, Math.max(sizeBytes, 1)));
  const src = bytes > 0 ? io.openSync(from, 'r') : -1;
  const dst = io.openSync(to, 'wx');
  try {
    for (let at = 0; at < sizeBytes; at += buf.length) {
      const n = Math.min(buf.length, sizeBytes - at);
      const want = Math.max(0, Math.min(n, bytes - at));
      let got = 0;
      while (got < want) {
        const r = io.readSync(src, buf, got, want - got, at + got);
        if (r === 0) break;
        got += r;
      }
      buf.fill(0, got, n); // past the durable point (or the file's end): zeros
      let put = 0;
      while (put < n) put += io.writeSync(dst, buf, put, n - put, at + put);
    }
    io.fsyncSync(dst);
  } finally {
    io.closeSync(dst);
    if (src >= 0) io.closeSync(src);
  }
}

/** Writes `bytes` to a new file `to` and fsyncs it. */
function writeFileSynced(io: RebuildFs, to: string, bytes: Uint8Array): void {
  const fd = io.openSync(to, 'wx');
  try {
    let put = 0;
    while (put < bytes.length) put += io.writeSync(fd, bytes, put, bytes.length - put, put);
    io.fsyncSync(fd);
  } finally {
    io.closeSync(fd);
  }
}

/**
 * Copies node directory `from` (a source holding still at `point`) to rebuildDir(`nodeDir`),
 * durably: the epoch file, meta, the block file meta names, and the hot-log segments up to the durable
 * point (zeros after it). Anything else (unfinished block files, temp files, the spare segment,
 * segments after the durable point) is left out. Returns the files written, relative to the copy.
 */
export function copyNodeFiles(from: string, nodeDir: string, point: DurablePoint, segmentBytes: number, io: RebuildFs = nodeFs): string[] {
  const written: string[] = [];
  const to = copyingDir(nodeDir);
  io.rmSync(to, { recursive: true, force: true });
  io.rmSync(rebuildDir(nodeDir), { recursive: true, force: true });
  io.mkdirSync(to);
  io.mkdirSync(path.join(to, 'log'));
  io.mkdirSync(path.join(to, 'blocks'));
  // A fence may save the epoch even now: its slot file (and meta, replaced by rename) is read
  // whole, in one go. A slot caught mid-write fails its CRC in the copy, whose load then takes the
  // other slot: the state before that save, as a read before a rename would have seen.
  for (const rel of [EPOCH_FILE, LEGACY_EPOCH_FILE, 'meta']) {
    if (!io.existsSync(path.join(from, rel))) continue;
    const bytes = Buffer.from(io.readFileSync(path.join(from, rel)));
    writeFileSynced(io, path.join(to, rel), bytes);
    written.push(rel);
    if (rel !== 'meta') continue;
    // The block file meta names was synced before meta named it, and stays while the source holds.
    const blockSeq = (JSON.parse(bytes.toString('utf8')) as { blockSeq: number }).blockSeq;
    if (blockSeq < 0) continue;
    const block = path.join('blocks', `${String(blockSeq).padStart(16, '0')}.blk`);
    const n = io.statSync(path.join(from, block)).size;
    copyFile(io, path.join(from, block), path.join(to, block), n, n);
    written.push(block);
  }
  const segs = io.readdirSync(path.join(from, 'log')).filter((n) => SEGMENT_NAME.test(n))
    .map((n) => Number(n.slice(0, 16))).filter((s) => s <= point.seq).sort((a, b) => a - b);
  for (const seq of segs) {
    const rel = path.join('log', segmentFileName(seq));
    copyFile(io, path.join(from, rel), path.join(to, rel), seq < point.seq ? segmentBytes : point.position, segmentBytes);
    written.push(rel);
  }
  fsyncDir(path.join(to, 'log'), io);
  fsyncDir(path.join(to, 'blocks'), io);
  fsyncDir(to, io);
  io.renameSync(to, rebuildDir(nodeDir)); // complete from here on
  fsyncDir(path.dirname(nodeDir), io);
  return written;
}

/** Swaps the complete, synced copy at rebuildDir(nodeDir) into place (see the table at the top). */
export function installRebuild(nodeDir: string, io: RebuildFs = nodeFs): void {
  const parent = path.dirname(nodeDir);
  const tmp = rebuildDir(nodeDir);
  const old = failedDir(nodeDir);
  assert(io.existsSync(tmp), `no rebuilt copy at ${tmp}`);
  io.rmSync(old, { recursive: true, force: true });
  if (io.existsSync(nodeDir)) {
    io.renameSync(nodeDir, old);
    fsyncDir(parent, io);
  }
  io.renameSync(tmp, nodeDir);
  fsyncDir(parent, io);
  io.rmSync(old, { recursive: true, force: true });
  fsyncDir(parent, io);
}

export const SettleOutcome = { NOTHING: 'nothing', DROPPED_COPY: 'dropped-copy', SWAPPED: 'swapped', CLEANED: 'cleaned', RESTORED: 'restored' } as const;
export type SettleOutcome = (typeof SettleOutcome)[keyof typeof SettleOutcome];

/** Settles what a rebuild interrupted by a crash left (the table at the top). */
export function settleRebuild(nodeDir: string, io: RebuildFs = nodeFs): SettleOutcome {
  const parent = path.dirname(nodeDir);
  const old = failedDir(nodeDir);
  let outcome: SettleOutcome = SettleOutcome.NOTHING;
  if (io.existsSync(copyingDir(nodeDir))) {
    io.rmSync(copyingDir(nodeDir), { recursive: true, force: true });
    fsyncDir(parent, io);
    outcome = SettleOutcome.DROPPED_COPY;
  }
  if (io.existsSync(rebuildDir(nodeDir))) {
    installRebuild(nodeDir, io);
    return SettleOutcome.SWAPPED;
  }
  if (!io.existsSync(old)) return outcome;
  if (io.existsSync(nodeDir)) {
    io.rmSync(old, { recursive: true, force: true });
    fsyncDir(parent, io);
    return SettleOutcome.CLEANED;
  }
  io.renameSync(old, nodeDir);
  fsyncDir(parent, io);
  return SettleOutcome.RESTORED;
}
