// A node's durable epoch and the volume's truncation history, as the node knows them.
//
// Fencing: a recovering writer raises the epoch on the nodes (durably, here) before it truncates
// anything; from then on the node refuses frames of older epochs, so a stale writer can never
// collect an acknowledgement from it.
//
// History: each recovery at epoch E records the VDL it kept (`vdl`): the volume's chain of epoch E
// continues from there, so any frame of an older epoch ending above it was never acknowledged and
// was cut off. A node that was down during that recovery finds such frames in its log when it
// rejoins and truncates them (rejoinPoint); otherwise it would count a cut-off frame as part of the
// chain and take newer frames reusing those LSNs for duplicates.
//
// Cap: the history keeps the newest HISTORY_MAX records. The record that decides a frame of epoch
// e is the first one after e; if the history was capped and that record may have been dropped,
// the answer is unknown and is never guessed (cutFor returns null): the node is rebuilt from a
// peer (REBUILD_NEEDED). A node that itself applied a recovery after e (`recovered`) needs no
// record: its log was cut to that recovery's VDL then, so its frames of epoch e are the volume's.
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import { fail } from '../assert.js';
import { errors } from '../errors.js';
import { mkdirDurable, readText, writeBytesAtomic } from '../shared/fsync-dir.js';
import { nodeFs } from '../fs/node-fs.js';
import type { FsPort } from '../fs/port.js';

export interface EpochRecord {
  /** The epoch a recovery opened. */
  epoch: number;
  /** The VDL it kept: frames of older epochs ending above this are not part of the volume. */
  vdl: number;
}

export interface EpochState {
  epoch: number;
  history: EpochRecord[];
  /**
   * The epoch of the last recovery this node applied to its own log (recoverTo finished, or adopt):
   * every frame of an older epoch still in its log is part of the volume. 0 if none (or unknown:
   * epoch.json files written before this field).
   */
  recovered?: number;
}

export interface EpochStore {
  load(): EpochState;
  /** Durable when it returns (a crash leaves the old or the new state). */
  save(s: EpochState): void;
}

/** History entries kept (one per recovery); a node down for more recoveries than this is rebuilt. */
export const HISTORY_MAX = 4096;

/** Merges two histories (union by epoch, ascending), keeping the newest HISTORY_MAX entries. */
export function mergeHistory(a: readonly EpochRecord[], b: readonly EpochRecord[]): EpochRecord[] {
  const byEpoch = new Map<number, EpochRecord>();
  for (const r of [...a, ...b]) byEpoch.set(r.epoch, r);
  return [...byEpoch.values()].sort((x, y) => x.epoch - y.epoch).slice(-HISTORY_MAX);
}

/**
 * The highest LSN a frame of epoch `epoch` may end at and still be part of the volume: the lowest
 * VDL kept by any recovery after that epoch. Not simply the first one's: a recovery is recorded
 * before its writer opens, and if that attach then fails (too few nodes reach its VDL in time, a
 * crash meanwhile), the next recovery may keep less (nothing above was ever acknowledged) and
 * cuts the frame even though the first record kept it.
 * `recovered`: the epoch of the last recovery applied to the log holding the frame (see
 * EpochState). null: unknown, because a deciding record may be one the cap dropped.
 */
export function cutFor(history: readonly EpochRecord[], epoch: number, recovered = 0): number | null {
  const oldest = history[0];
  if (oldest !== undefined && history.length >= HISTORY_MAX && epoch + 1 < oldest.epoch) {
    // Records with epochs in (epoch, oldest.epoch) may have been dropped by the cap.
    return epoch < recovered ? Number.MAX_SAFE_INTEGER : null;
  }
  let cut = Number.MAX_SAFE_INTEGER;
  for (const r of history) if (r.epoch > epoch && r.vdl < cut) cut = r.vdl;
  return cut;
}

export class MemEpochStore implements EpochStore {
  private state: EpochState = { epoch: 0, history: [] };
  load(): EpochState {
    return { epoch: this.state.epoch, history: [...this.state.history], recovered: this.state.recovered ?? 0 };
  }
  save(s: EpochState): void {
    this.state = { epoch: s.epoch, history: [...s.history], recovered: s.recovered ?? 0 };
  }
}

/**
 * The epoch state on disk: one preallocated file with two slots, each a header (magic, format,
 * sequence number, body length, CRC) and the JSON state. A save writes the slot holding the older
 * state and fdatasyncs once; a load takes the valid slot with the higher sequence. A torn or lost
 * slot write (a crash before the sync returned) fails its CRC and the other slot, the previous
 * state, is used: a crash leaves the old or the new state. The file replaced by rename
 * (`epoch.json`: temp file, fsync, rename, directory fsync) cost 8-12 ms per save on the 2-core VM,
 * three saves per node per open; one write and one fdatasync of a preallocated file cost one
 * flush. `epoch.json` (volumes written before) is read when there is no slot file; the first save
 * creates the slot file (atomically, once) and removes it.
 */
export const EPOCH_FILE = 'epoch.slots';
export const LEGACY_EPOCH_FILE = 'epoch.json';
/** Bytes per slot: the largest state (HISTORY_MAX records of two 16-digit numbers) is ~221 KB. */
export const EPOCH_SLOT_BYTES = 256 * 1024;
const SLOT_HEADER_BYTES = 32;
const SLOT_MAGIC = 0x4f504541; // "AEPO"
const SLOT_FORMAT = 1;

function slotCrc(slot: Uint8Array, bodyBytes: number): number {
  return crc32(slot.subarray(SLOT_HEADER_BYTES, SLOT_HEADER_BYTES + bodyBytes), crc32(slot.subarray(0, 20)));
}

/** The slot's state and sequence number, or null if the slot is empty, torn or damaged. */
function readSlot(slot: Uint8Array): { seq: number; state: EpochState } | null {
  const v = new DataView(slot.buffer, slot.byteOffset, slot.byteLength);
  if (v.getUint32(0, true) !== SLOT_MAGIC || v.getUint32(4, true) !== SLOT_FORMAT) return null;
  const seq = v.getFloat64(8, true);
  const bodyBytes = v.getUint32(16, true);
  if (!Number.isSafeInteger(seq) || seq < 1 || bodyBytes > EPOCH_SLOT_BYTES - SLOT_HEADER_BYTES) return null;
  if (slotCrc(slot, bodyBytes) !== v.getUint32(20, true)) return null;
  const s = JSON.parse(Buffer.from(slot.subarray(SLOT_HEADER_BYTES, SLOT_HEADER_BYTES + bodyBytes)).toString('utf8')) as EpochState;
  return { seq, state: { epoch: s.epoch, history: s.history ?? [], recovered: s.recovered ?? 0 } };
}

/** A slot's bytes (header + body) for `state` at sequence `seq`. */
export function encodeEpochSlot(state: EpochState, seq: number): Uint8Array {
  const body = Buffer.from(JSON.stringify({ epoch: state.epoch, history: state.history, recovered: state.recovered ?? 0 }), 'utf8');
  if (body.length > EPOCH_SLOT_BYTES - SLOT_HEADER_BYTES) fail(`epoch state of ${body.length} bytes does not fit a slot`);
  const out = new Uint8Array(SLOT_HEADER_BYTES + body.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, SLOT_MAGIC, true);
  v.setUint32(4, SLOT_FORMAT, true);
  v.setFloat64(8, seq, true);
  v.setUint32(16, body.length, true);
  out.set(body, SLOT_HEADER_BYTES);
  v.setUint32(20, slotCrc(out, body.length), true);
  return out;
}

/** The newest valid state of a slot file's bytes, with its sequence number; throws if neither slot is valid. */
export function decodeEpochFile(bytes: Uint8Array, file: string): { seq: number; state: EpochState } {
  if (bytes.length !== 2 * EPOCH_SLOT_BYTES) throw errors.corruptRecord(`${file}: ${bytes.length} bytes, expected ${2 * EPOCH_SLOT_BYTES}`);
  const a = readSlot(bytes.subarray(0, EPOCH_SLOT_BYTES));
  const b = readSlot(bytes.subarray(EPOCH_SLOT_BYTES));
  // Both damaged is never read as "epoch 0": a node that forgot its fence could take a stale
  // writer's frames. It fails, and is rebuilt from a peer.
  if (a === null && b === null) throw errors.corruptRecord(`${file}: neither epoch slot is intact`);
  return a === null || (b !== null && b.seq > a.seq) ? b! : a;
}

export class FsEpochStore implements EpochStore {
  private readonly dir: string;
  private readonly file: string;
  private readonly io: FsPort;
  /** Sequence number of the newest state on disk (0: no slot file yet); known after load() or save(). */
  private seq = -1;
  /**
   * The newest slot as load() read it, until a save has made it durable (null then). What a load
   * reads may be only in the page cache: its save's fdatasync failed (EIO: Linux marks the pages
   * clean without writing them) or the process died before the sync returned. Overwriting the
   * other slot first would leave, after a power cut mid-save, a torn slot beside an older state:
   * an acknowledged fence forgotten. So the first save after a load rewrites this slot in place
   * (the same bytes: a power cut mid-rewrite leaves it old, new or torn, and the other slot
   * intact) and syncs it, then writes the other slot. One more write and sync per store, not per
   * save; never in load(), which `auroral inspect` uses read-only.
   */
  private unconfirmed: { at: number; bytes: Uint8Array } | null = null;
  constructor(nodeDir: string, io: FsPort = nodeFs) {
    this.dir = nodeDir;
    this.file = path.join(nodeDir, EPOCH_FILE);
    this.io = io;
  }

  load(): EpochState {
    this.unconfirmed = null;
    if (this.io.existsSync(this.file)) {
      const bytes = this.io.readFileSync(this.file);
      const { seq, state } = decodeEpochFile(bytes, this.file);
      this.seq = seq;
      const at = (seq % 2) * EPOCH_SLOT_BYTES;
      const used = SLOT_HEADER_BYTES + new DataView(bytes.buffer, bytes.byteOffset + at).getUint32(16, true);
      this.unconfirmed = { at, bytes: bytes.slice(at, at + used) };
      return state;
    }
    this.seq = 0;
    try {
      const s = JSON.parse(readText(path.join(this.dir, LEGACY_EPOCH_FILE), this.io)) as EpochState;
      return { epoch: s.epoch, history: s.history ?? [], recovered: s.recovered ?? 0 };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { epoch: 0, history: [], recovered: 0 };
      throw e;
    }
  }

  save(s: EpochState): void {
    if (this.seq < 0) this.load(); // the sequence on disk decides which slot is older
    const seq = this.seq + 1;
    const slot = encodeEpochSlot(s, seq);
    if (this.seq === 0) {
      // First save: the whole file, created atomically (temp, fsync, rename, directory fsync).
      mkdirDurable(this.dir, this.io);
      const bytes = new Uint8Array(2 * EPOCH_SLOT_BYTES);
      bytes.set(slot, (seq % 2) * EPOCH_SLOT_BYTES);
      writeBytesAtomic(this.file, bytes, this.io);
      this.io.rmSync(path.join(this.dir, LEGACY_EPOCH_FILE), { force: true }); // superseded: the slot file wins
    } else {
      const fd = this.io.openSync(this.file, 'r+');
      try {
        if (this.unconfirmed !== null) {
          writeAll(this.io, fd, this.unconfirmed.bytes, this.unconfirmed.at);
          this.io.fdatasyncSync(fd);
          this.unconfirmed = null;
        }
        writeAll(this.io, fd, slot, (seq % 2) * EPOCH_SLOT_BYTES);
        this.io.fdatasyncSync(fd); // the file's size never changes: data is all there is to sync
      } finally {
        this.io.closeSync(fd);
      }
    }
    this.seq = seq;
  }
}

function writeAll(io: FsPort, fd: number, bytes: Uint8Array, position: number): void {
  let at = 0;
  while (at < bytes.length) at += io.writeSync(fd, bytes, at, bytes.length - at, position + at);
}
