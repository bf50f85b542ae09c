// Hot-log storage: the narrow interface a node core uses for its segment files, with the real
// file implementation and an in-memory one for unit tests and (later) the simulator.
//
// Fault model of FsHotLog: an error from write or sync leaves the file's durable state unknown,
// so the node stops using it (the core fails the node; nothing here retries a sync). As a second
// line of defence the log latches the first such error: from then on every write, sync, segment
// creation or removal throws it again and no preallocation runs, whatever the caller does.
import * as path from 'node:path';
import { assert } from '../assert.js';
import { AuroralError, ErrorCode } from '../errors.js';
import type { FsyncMode } from '../config.js';
import { fsyncDir, mkdirDurable } from '../shared/fsync-dir.js';
import { nodeFs } from '../fs/node-fs.js';
import type { FsPort } from '../fs/port.js';
import { hintFileName, readHintFile, writeHintFile } from './hints.js';

export interface HotLog {
  /** Segment sequence numbers present, ascending. */
  segments(): number[];
  /**
   * The whole segment's bytes (segmentBytes long), into `out` if given (segmentBytes long: a scan
   * reuses one buffer for every segment; a fresh 16 MiB buffer costs thousands of page faults).
   */
  readSegment(seq: number, out?: Uint8Array): Uint8Array;
  /** Reads `length` bytes at `position` of segment `seq` (written and synced before). */
  read(seq: number, position: number, length: number): Uint8Array;
  /**
   * As read(), into `out` (at least `length` bytes; returns its first `length` bytes), for a caller
   * that uses the bytes at once: a fresh 35 KB buffer per frame cost ~100 µs here (page faults on
   * first touch), a reused one ~6 µs.
   */
  readInto(seq: number, position: number, length: number, out: Uint8Array): Uint8Array;
  /** Creates segment `seq`, zero-filled to segmentBytes and durable (file and directory). */
  createSegment(seq: number): void;
  /** Writes `views` back to back at `position` of segment `seq`. Throws on error. */
  write(seq: number, position: number, views: readonly Uint8Array[]): void;
  /** Makes every write to segment `seq` durable. Throws on error: never call it again on that segment. */
  sync(seq: number): void;
  /** Removes segment `seq` and its hint (the hint first). */
  removeSegment(seq: number): void;
  /**
   * Segment hints (hints.ts): derived data beside a segment, written without fsync and never
   * trusted without its checks. writeHint is best effort (false if it could not be written);
   * readHint is null when there is none or it cannot be read; removeHint before the segment is
   * changed in place (durable when it returns).
   */
  writeHint(seq: number, bytes: Uint8Array): boolean;
  readHint(seq: number): Uint8Array | null;
  removeHint(seq: number): void;
  /**
   * A bounded slice of background work (preallocating the next segment, once the current one is
   * at least half full: `currentUsedBytes` of it); true if more remains.
   */
  idleWork(currentUsedBytes: number): boolean;
  close(): void;
  readonly segmentBytes: number;
}

/**
 * Disk faults injected beneath a real hot log (db.faults): read at each call, so a test can turn
 * them on and off while the node runs. They fail the operation the way the OS would.
 */
export interface DiskFaults {
  /** Microseconds each fdatasync takes on top of the real one. */
  slowSyncMicros(): number;
  /** True if this fdatasync must fail with EIO (the hook counts down to the k-th). */
  failThisSync(): boolean;
  /** True while the disk is full: writes and segment creation fail with ENOSPC. */
  diskFull(): boolean;
  /** True if this write must be torn: half of it reaches the file, then the node dies. */
  tearThisWrite(): boolean;
}

const SLEEP_CELL = new Int32Array(new SharedArrayBuffer(4));

function injected(code: 'EIO' | 'ENOSPC'): Error {
  return Object.assign(new Error(`${code} (injected fault)`), { code });
}

const SEGMENT_SUFFIX = '.log';
const SPARE_NAME = 'spare.tmp';
const ZERO_CHUNK = new Uint8Array(1 << 20);

export function segmentFileName(seq: number): string {
  return `${String(seq).padStart(16, '0')}${SEGMENT_SUFFIX}`;
}

function ioError(op: string, file: string, e: unknown): AuroralError {
  const code = (e as NodeJS.ErrnoException).code;
  // A torn write is a crash, not a bad disk: the node restarts from its own log (the scan cuts the tail).
  if (code === 'ETORN') return new AuroralError(ErrorCode.NODE_FAILED, `${op} ${file}: ${(e as Error).message}`, { cause: e });
  return new AuroralError(code === 'ENOSPC' ? ErrorCode.DISK_FULL : ErrorCode.IO_ERROR,
    `${op} ${file} failed: ${code ?? (e as Error).message}`, { cause: e });
}

export class FsHotLog implements HotLog {
  readonly segmentBytes: number;
  private readonly dir: string;
  private readonly fsyncMode: FsyncMode;
  private readonly fds = new Map<number, number>();
  /** Background preallocation of the next segment into spare.tmp, a chunk per idleWork(). */
  private spareFd = -1;
  private spareBytes = 0;
  private spareReady = false;

  private readonly faults: DiskFaults | null;
  /** The first write/sync/create error: the log never touches its files again (fail-stop). */
  private broken: AuroralError | null = null;

  private latch(e: AuroralError): AuroralError {
    this.broken ??= e;
    return e;
  }

  private checkUsable(): void {
    if (this.broken !== null) throw this.broken;
  }

  private readonly io: FsPort;

  constructor(dir: string, segmentBytes: number, fsyncMode: FsyncMode, readOnly = false, faults: DiskFaults | null = null, io: FsPort = nodeFs) {
    this.dir = dir;
    this.io = io;
    this.faults = faults;
    this.segmentBytes = segmentBytes;
    this.fsyncMode = fsyncMode;
    if (!readOnly) {
      mkdirDurable(dir, io); // the node and log directories, each synced in its parent
      this.io.rmSync(path.join(dir, SPARE_NAME), { force: true }); // an unfinished spare is never trusted
    }
  }

  segments(): number[] {
    let names: string[];
    try {
      names = this.io.readdirSync(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    return names.filter((n) => n.endsWith(SEGMENT_SUFFIX) && /^\d{16}\.log$/.test(n))
      .map((n) => Number(n.slice(0, 16))).sort((a, b) => a - b);
  }

  private file(seq: number): string {
    return path.join(this.dir, segmentFileName(seq));
  }

  private fd(seq: number): number {
    let fd = this.fds.get(seq);
    if (fd === undefined) {
      fd = this.io.openSync(this.file(seq), 'r+');
      this.fds.set(seq, fd);
    }
    return fd;
  }

  readSegment(seq: number, out?: Uint8Array): Uint8Array {
    assert(out === undefined || out.length === this.segmentBytes, 'readSegment: buffer is not a segment long');
    const buf = out ?? new Uint8Array(this.segmentBytes);
    const fd = this.io.openSync(this.file(seq), 'r');
    try {
      let at = 0;
      while (at < buf.length) {
        const n = this.io.readSync(fd, buf, at, buf.length - at, at);
        if (n === 0) break; // a short file reads as zeros past its end
        at += n;
      }
      buf.fill(0, at); // a reused buffer holds the previous segment's bytes there
    } finally {
      this.io.closeSync(fd);
    }
    return buf;
  }

  read(seq: number, position: number, length: number): Uint8Array {
    return this.readInto(seq, position, length, Buffer.allocUnsafe(length));
  }

  readInto(seq: number, position: number, length: number, out: Uint8Array): Uint8Array {
    assert(out.length >= length, 'readInto: buffer too small');
    const fd = this.fd(seq);
    let at = 0;
    while (at < length) {
      const n = this.io.readSync(fd, out, at, length - at, position + at);
      if (n === 0) throw ioError('read', this.file(seq), new Error('short read'));
      at += n;
    }
    return out.length === length ? out : out.subarray(0, length);
  }

  createSegment(seq: number): void {
    this.checkUsable();
    const target = this.file(seq);
    try {
      if (this.faults?.diskFull()) throw injected('ENOSPC');
      if (!this.spareReady) this.finishSpare();
      this.io.rmSync(this.hintFile(seq), { force: true }); // left by a crash between a hint's removal and its segment's? never trusted for new bytes
      this.io.closeSync(this.spareFd);
      this.spareFd = -1;
      this.spareReady = false;
      this.spareBytes = 0;
      this.io.renameSync(path.join(this.dir, SPARE_NAME), target);
      fsyncDir(this.dir, this.io);
    } catch (e) {
      throw this.latch(ioError('create segment', target, e));
    }
  }

  /** Zero-fills and syncs spare.tmp: overwriting a preallocated file keeps fdatasync cheap. */
  private finishSpare(): void {
    while (!this.spareReady) this.spareStep();
  }

  private spareStep(): void {
    if (this.spareFd < 0) {
      this.spareFd = this.io.openSync(path.join(this.dir, SPARE_NAME), 'w+');
      this.spareBytes = 0;
    }
    if (this.spareBytes < this.segmentBytes) {
      const n = Math.min(ZERO_CHUNK.length, this.segmentBytes - this.spareBytes);
      this.io.writeSync(this.spareFd, ZERO_CHUNK, 0, n, this.spareBytes);
      this.spareBytes += n;
      return;
    }
    this.io.fsyncSync(this.spareFd); // metadata too: the file's size must be durable
    this.spareReady = true;
  }

  idleWork(currentUsedBytes: number): boolean {
    if (this.broken !== null || this.spareReady || currentUsedBytes * 2 < this.segmentBytes) return false;
    const opening = this.spareFd < 0;
    try {
      this.spareStep();
    } catch (e) {
      // An error writing or syncing the spare (EIO on the zero-fill or its fsync) is the disk
      // failing: fail-stop, as for a segment, never swallowed and "retried" on a fresh spare.
      // Failing to open it (EMFILE: six nodes share one process) or a full disk or quota put
      // nothing in doubt: reported when a segment is actually needed (space may be freed first).
      const code = (e as NodeJS.ErrnoException).code;
      if (!opening && code !== 'ENOSPC' && code !== 'EDQUOT') throw this.latch(ioError('preallocate segment', path.join(this.dir, SPARE_NAME), e));
      if (this.spareFd >= 0) this.io.closeSync(this.spareFd);
      this.spareFd = -1;
      this.spareBytes = 0;
      this.io.rmSync(path.join(this.dir, SPARE_NAME), { force: true });
      return false;
    }
    return !this.spareReady;
  }

  write(seq: number, position: number, views: readonly Uint8Array[]): void {
    assert(position >= 0, 'negative write position');
    this.checkUsable();
    try {
      const fd = this.fd(seq);
      let total = 0;
      for (const v of views) total += v.length;
      assert(position + total <= this.segmentBytes, 'write past the end of a segment');
      if (this.faults?.diskFull()) throw injected('ENOSPC');
      if (this.faults?.tearThisWrite()) {
        // A power cut mid-write: the first half (rounded down to 512-byte sectors) reaches the file.
        const joined = Buffer.concat(views as Uint8Array[]);
        this.io.writeSync(fd, joined, 0, Math.max(8, Math.floor(total / 2 / 512) * 512), position);
        throw Object.assign(new Error('torn write (injected fault): the node dies before syncing'), { code: 'ETORN' });
      }
      let written = this.io.writevSync(fd, views as Uint8Array[], position);
      // writev may be partial; finish the rest (rare).
      if (written < total) {
        let skip = written;
        for (const v of views) {
          if (skip >= v.length) { skip -= v.length; continue; }
          const rest = v.subarray(skip);
          skip = 0;
          let off = 0;
          while (off < rest.length) off += this.io.writeSync(fd, rest, off, rest.length - off, position + written + off);
          written += rest.length;
        }
      }
    } catch (e) {
      throw this.latch(ioError('write', this.file(seq), e));
    }
  }

  sync(seq: number): void {
    this.checkUsable();
    if (this.fsyncMode === 'none') return;
    try {
      const fd = this.fd(seq);
      const slow = this.faults?.slowSyncMicros() ?? 0;
      if (slow > 0) Atomics.wait(SLEEP_CELL, 0, 0, slow / 1000); // a slow device: sleep, never spin
      if (this.faults?.failThisSync()) throw injected('EIO');
      if (this.fsyncMode === 'fsync') this.io.fsyncSync(fd);
      else this.io.fdatasyncSync(fd);
    } catch (e) {
      throw this.latch(ioError(this.fsyncMode, this.file(seq), e));
    }
  }

  removeSegment(seq: number): void {
    this.checkUsable();
    const fd = this.fds.get(seq);
    if (fd !== undefined) {
      this.io.closeSync(fd);
      this.fds.delete(seq);
    }
    this.io.rmSync(this.hintFile(seq), { force: true });
    this.io.rmSync(this.file(seq), { force: true });
    fsyncDir(this.dir, this.io);
  }

  private hintFile(seq: number): string {
    return path.join(this.dir, hintFileName(seq));
  }

  writeHint(seq: number, bytes: Uint8Array): boolean {
    if (this.broken !== null) return false;
    return writeHintFile(this.io, this.hintFile(seq), bytes);
  }

  readHint(seq: number): Uint8Array | null {
    return readHintFile(this.io, this.hintFile(seq));
  }

  removeHint(seq: number): void {
    this.checkUsable();
    const file = this.hintFile(seq);
    if (!this.io.existsSync(file)) return;
    try {
      this.io.rmSync(file, { force: true });
      // Durable before the caller changes the segment in place: a removal only in the page cache
      // is undone by a power cut, and the hint comes back beside bytes it no longer describes.
      fsyncDir(this.dir, this.io);
    } catch (e) {
      throw this.latch(ioError('remove hint', file, e)); // a failed directory sync is never retried
    }
  }

  close(): void {
    for (const fd of this.fds.values()) this.io.closeSync(fd);
    this.fds.clear();
    if (this.spareFd >= 0) this.io.closeSync(this.spareFd);
    this.spareFd = -1;
  }
}

/** In-memory HotLog: "durable" bytes survive crash(), unsynced writes are dropped by it. */
export class MemHotLog implements HotLog {
  readonly segmentBytes: number;
  private readonly durable = new Map<number, Uint8Array>();
  private readonly live = new Map<number, Uint8Array>();
  /** Test hook: throw this from the next write or sync. */
  failNext: { op: 'write' | 'sync'; code: 'EIO' | 'ENOSPC' } | null = null;

  constructor(segmentBytes: number) {
    this.segmentBytes = segmentBytes;
  }

  segments(): number[] {
    return [...this.live.keys()].sort((a, b) => a - b);
  }

  readSegment(seq: number, out?: Uint8Array): Uint8Array {
    const s = this.live.get(seq);
    assert(s !== undefined, `no segment ${seq}`);
    if (out === undefined) return s.slice();
    out.set(s);
    return out;
  }

  read(seq: number, position: number, length: number): Uint8Array {
    const s = this.live.get(seq);
    assert(s !== undefined && position + length <= s.length, `no bytes at ${seq}:${position}+${length}`);
    return s.slice(position, position + length);
  }

  readInto(seq: number, position: number, length: number, out: Uint8Array): Uint8Array {
    out.set(this.read(seq, position, length));
    return out.subarray(0, length);
  }

  createSegment(seq: number): void {
    assert(!this.live.has(seq), `segment ${seq} exists`);
    this.hints.delete(seq);
    this.live.set(seq, new Uint8Array(this.segmentBytes));
    this.durable.set(seq, new Uint8Array(this.segmentBytes));
  }

  private maybeFail(op: 'write' | 'sync'): void {
    if (this.failNext !== null && this.failNext.op === op) {
      const code = this.failNext.code;
      this.failNext = null;
      const e = Object.assign(new Error(`${code}: injected`), { code });
      throw ioError(op, 'mem', e);
    }
  }

  write(seq: number, position: number, views: readonly Uint8Array[]): void {
    this.maybeFail('write');
    const s = this.live.get(seq);
    assert(s !== undefined, `no segment ${seq}`);
    let at = position;
    for (const v of views) {
      assert(at + v.length <= s.length, 'write past the end of a segment');
      s.set(v, at);
      at += v.length;
    }
  }

  sync(seq: number): void {
    this.maybeFail('sync');
    const s = this.live.get(seq);
    assert(s !== undefined, `no segment ${seq}`);
    this.durable.set(seq, s.slice());
  }

  removeSegment(seq: number): void {
    this.hints.delete(seq);
    this.live.delete(seq);
    this.durable.delete(seq);
  }

  private readonly hints = new Map<number, Uint8Array>();
  writeHint(seq: number, bytes: Uint8Array): boolean {
    this.hints.set(seq, bytes.slice());
    return true;
  }
  readHint(seq: number): Uint8Array | null {
    return this.hints.get(seq)?.slice() ?? null;
  }
  removeHint(seq: number): void {
    this.hints.delete(seq);
  }

  idleWork(_currentUsedBytes: number): boolean {
    return false;
  }

  close(): void {}

  /** Forgets every write not followed by a sync of its segment (a power cut). */
  crash(): void {
    this.hints.clear(); // never synced
    this.live.clear();
    for (const [seq, bytes] of this.durable) this.live.set(seq, bytes.slice());
  }

  /** Test hook: flip one bit of durable and live bytes. */
  flipBit(seq: number, offset: number, bit = 0): void {
    for (const m of [this.live, this.durable]) {
      const s = m.get(seq);
      assert(s !== undefined, `no segment ${seq}`);
      s[offset] = s[offset]! ^ (1 << bit);
    }
  }
}
