// Coalescing: turns the redo in a node's hot log into page images in a block file, so that hot-log
// segments can be deleted and recovery starts from the images instead of the whole log.
//
// A cycle at coalesce point C (= min(SCL, PGMRPL): a frame end, and no read can need a version
// older than the newest one at or below it):
//   1. cap index pruning at C (the versions the images need stay while the cycle runs);
//   2. page by page, in slices between appends: write the image (every live key's newest version
//      <= C) to a new block file, and point those versions at their copies in it;
//   3. sync the block file; replace meta atomically (C, block file): from here recovery uses it;
//   4. delete the previous block file, and hot-log segments wholly at or below min(C, the GC bound
//      of log-gc.ts: the lowest SCL of the live peers that are not too far behind) — such a
//      peer can still catch up from this node's log;
//   5. lift the prune cap.
// A crash anywhere before 3 leaves the old meta, old blocks and every segment: nothing is lost.
//
// When: the hot log holds >= 3 segments and has grown by at least twice the last images' size
// since the last cycle (rewriting all images then costs at most half a write of live data per
// write of log: amortised write amplification <= 1.5), and C has moved. Steps run only when the
// node has nothing waiting in its ring.
import { releaseArrayBuffer } from '../shared/release-buffer.js';
import { assert } from '../assert.js';
import { BLOCK_BIT, blockLocation, ImageBuilder, readImages, type BlockStorage } from './blocks.js';
import { keyHash, Op, valueChecksum } from '../log/record.js';
import { HintBuilder, HintKind, readBlockHint } from './hints.js';
import { errors } from '../errors.js';
import { TOMBSTONE, type KeyIndex } from './key-index.js';

export interface CoalesceHost {
  /** How far the node's chain is indexed (a cycle's images hold every version up to its LSN). */
  scl(): number;
  /** Bytes of log above that point: they count toward the next cycle. */
  unindexedBytes(): number;
  /** Reads a value from a location (a hot-log segment or, with BLOCK_BIT, a block file). */
  readValue(seq: number, position: number, valueBytes: number): Uint8Array;
  /** The size of the file behind a location's `seq` (segment or, with BLOCK_BIT, block file). */
  fileBytes(seq: number): number;
  /** Fills `out` with that file's bytes at `position`. */
  readInto(seq: number, position: number, out: Uint8Array): void;
  /** How far peers let hot-log GC go (logGcBound in log-gc.ts): never outrun a peer that holds it. */
  logGcBound(): number;
  /** Deletes hot-log segments wholly at or below `lsn` (never the active one); returns how many. */
  gcLogThrough(lsn: number): number;
  segmentCount(): number;
  /** Microseconds on the node's injected clock. */
  nowMicros(): number;
}

/** Entries per slice: bounds the time one step keeps a node from its ring (~0.5-2 ms). */
const ENTRIES_PER_STEP = 512;
/**
 * A cycle reads every live value once. One pread per value costs a syscall each (~3 us); reading
 * each source file whole, once per cycle, costs one. Files are kept for the cycle up to this many
 * bytes; past it, values are read one by one.
 */
const FILE_BUFFER_BYTES_MAX = 64 << 20;
/**
 * A file is read into its buffer progressively, at most this much per step: one step that read a
 * 64 MB block file whole (~100-200 ms with the fresh buffer's page faults) kept the node from its
 * ring that long, and right after an open all six nodes did it at once (puts waited hundreds of ms).
 * A page whose values are not loaded yet is built at the next step.
 */
const STEP_READ_BYTES = 4 << 20;
const READ_CHUNK_BYTES = 1 << 20;
/**
 * The last cycle's file buffers are kept this long for the next cycle: under write load cycles
 * follow each other, and a fresh 16 MiB buffer per source file per cycle cost ~4,000 first-touch
 * page faults (~14 µs each on the 2-core VM) plus an munmap whose TLB shootdown stalls every core.
 * Memory: FILE_BUFFER_BYTES_MAX per node bounds the buffers in use and kept together, counted by
 * their capacity (docs/results.md).
 */
const SPARE_KEEP_MICROS = 2_000_000;
/** A block-hint buffer at most this big is kept when the node goes quiet (the builder's initial size is smaller). */
const HINT_KEEP_BYTES_MAX = 1 << 20;
/** The block file being written is fdatasync'ed every this many bytes, so its final sync is short. */
const FLUSH_EVERY_BYTES = 8 << 20;

interface Cycle {
  lsn: number;
  /** bytesSinceCycle when the cycle began: given back if it is abandoned. */
  bytesBefore: number;
  /** Of those, the bytes not yet indexed, which bytesSinceCycle kept counting from the start. */
  unindexedAtStart: number;
  blockSeq: number;
  position: number;
  /** Where the block file was last fdatasync'ed up to (FLUSH_EVERY_BYTES). */
  flushedAt: number;
  page: number;
}

export class Coalescer {
  coalesceLsn = 0;
  blockSeq = -1;
  paused = false;
  readonly stats = { cycles: 0, cyclesAbandoned: 0, valuesReplaced: 0, imagesWritten: 0, entriesWritten: 0, segmentsDeleted: 0, blockBytes: 0, blockHintsLoaded: 0, fileBuffersAllocated: 0, filesBuffered: 0, fileBufferBytesPeak: 0 };
  /** Set when a cycle met a corrupt value: no new cycle until a scrub pass has run (and repaired). */
  waitForScrub = false;
  /** Good copies (from peers) of values that fail their checksum here, by LSN (unique per record). */
  readonly replacements = new Map<number, Uint8Array>();
  /** Start a cycle at the next step regardless of the trigger (to rewrite damaged images). */
  force = false;
  /** Hot-log bytes above the coalesce point not yet taken by a cycle (recomputed at recovery). */
  bytesSinceCycle = 0;
  private lastImageBytes = 0;
  private cycle: Cycle | null = null;
  private readonly builder = new ImageBuilder();
  /** The block hint of the cycle in progress (or of a recovery that read the images). */
  private readonly hint = new HintBuilder();
  private readonly relocations: number[] = [];
  /** Per entry of the page being written: its key (copied: the index may move its arena) and lsn, valueBytes, checksum. */
  private readonly hintKeys: Uint8Array[] = [];
  private readonly hintMeta: number[] = [];
  /** Source files buffered for the cycle, each loaded up to `loaded` bytes (progressively). */
  private readonly files = new Map<number, { bytes: Uint8Array; loaded: number }>();
  /** Capacity (ArrayBuffer bytes, not file sizes) of the buffers in `files`. */
  private filesBytes = 0;
  /** Buffers of the last cycle's files (each a whole ArrayBuffer), for the next cycle to reuse. */
  private spare: Uint8Array[] = [];
  private spareTotal = 0;
  private spareSinceMicros = 0;
  /** filesBytes + spareTotal never exceeds this (FILE_BUFFER_BYTES_MAX; smaller in tests). */
  private readonly bufferBytesMax: number;
  /** Bytes read into file buffers during the current step (bounded by STEP_READ_BYTES). */
  private stepReadBytes = 0;
  private readonly index: KeyIndex;
  private readonly blocks: BlockStorage;
  private readonly pageCount: number;
  private readonly segmentBytes: number;
  private readonly host: CoalesceHost;

  constructor(index: KeyIndex, blocks: BlockStorage, pageCount: number, segmentBytes: number, host: CoalesceHost,
    bufferBytesMax = FILE_BUFFER_BYTES_MAX) {
    this.bufferBytesMax = bufferBytesMax;
    this.index = index;
    this.blocks = blocks;
    this.pageCount = pageCount;
    this.segmentBytes = segmentBytes;
    this.host = host;
  }

  /**
   * Recovery: load meta, drop block files it does not name, index the images: from the block
   * file's hint when it has an intact one for this coalesce point and size (a few bytes per key
   * instead of every value), else by reading and checking every image (and writing the hint for
   * the next start).
   */
  recover(): void {
    const m = this.blocks.readMeta();
    this.coalesceLsn = m.coalesceLsn;
    this.blockSeq = m.blockSeq;
    for (const s of this.blocks.blockSeqs()) if (s !== m.blockSeq) this.blocks.remove(s); // an unfinished cycle
    if (m.blockSeq < 0) return;
    const location = blockLocation(m.blockSeq);
    const fileBytes = this.blocks.fileBytes(m.blockSeq);
    const hinted = readBlockHint(this.blocks.readHint(m.blockSeq), m.blockSeq, m.coalesceLsn, fileBytes,
      (bytes, keyStart, keyEnd, _op, valueBytes, lsn, valuePosition, checksum) => {
        this.index.insert(keyHash(bytes, keyStart, keyEnd), bytes, keyStart, keyEnd, lsn, location, valuePosition, valueBytes, checksum);
      });
    if (hinted) {
      this.stats.blockHintsLoaded++;
    } else {
      const bytes = this.blocks.readAll(m.blockSeq);
      this.hint.begin(HintKind.BLOCK, m.blockSeq);
      this.hint.blockPrefix(m.coalesceLsn, bytes.length);
      const r = readImages(bytes, (_pageId, e) => {
        const checksum = valueChecksum(bytes.subarray(e.valuePosition, e.valuePosition + e.valueBytes));
        this.index.insert(keyHash(e.key), e.key, 0, e.key.length, e.lsn, location, e.valuePosition, e.valueBytes, checksum);
        this.hint.entry(e.key, 0, e.key.length, Op.PUT, e.valueBytes, e.lsn, e.valuePosition, checksum);
      });
      assert(r.images === 0 || r.coalesceLsn === m.coalesceLsn, `block file ${m.blockSeq} is at ${r.coalesceLsn}, meta says ${m.coalesceLsn}`);
      this.blocks.writeHint(m.blockSeq, this.hint.seal());
    }
    this.lastImageBytes = fileBytes;
    this.stats.blockBytes = fileBytes;
  }

  get active(): boolean {
    return this.cycle !== null;
  }

  private wantsCycle(): boolean {
    if (this.paused || this.cycle !== null) return false;
    if (this.force) return true;
    if (this.waitForScrub) return false;
    const target = Math.min(this.host.scl(), this.index.readMinLsn);
    // segmentCount() lists the log directory: ask it last (the profile showed readdir on every idle wake-up).
    return target > this.coalesceLsn && this.bytesSinceCycle >= Math.max(2 * this.lastImageBytes, this.segmentBytes) &&
      this.host.segmentCount() >= 3;
  }

  /** One slice of coalescing work; true if more remains. */
  step(): boolean {
    if (this.cycle === null) {
      if (!this.wantsCycle()) {
        if ((this.spare.length > 0 || this.hint.capacity > HINT_KEEP_BYTES_MAX) && this.host.nowMicros() - this.spareSinceMicros > SPARE_KEEP_MICROS) this.dropSpare();
        return false;
      }
      const lsn = Math.max(this.coalesceLsn, Math.min(this.host.scl(), this.index.readMinLsn));
      this.force = false;
      const blockSeq = Math.max(this.blockSeq, ...this.blocks.blockSeqs(), -1) + 1;
      assert(blockSeq < BLOCK_BIT, 'block sequence overflow');
      this.blocks.create(blockSeq);
      this.hint.begin(HintKind.BLOCK, blockSeq);
      this.index.setPruneCap(lsn);
      const unindexed = this.host.unindexedBytes(); // log the cycle does not cover yet
      this.cycle = { lsn, blockSeq, position: 0, flushedAt: 0, page: 0, bytesBefore: this.bytesSinceCycle, unindexedAtStart: unindexed };
      this.bytesSinceCycle = unindexed;
      return true;
    }
    const c = this.cycle;
    let entries = 0;
    this.stepReadBytes = 0;
    try {
      while (c.page < this.pageCount && entries < ENTRIES_PER_STEP) {
        const n = this.writePage(c, c.page);
        if (n < 0) return true; // its values are not all loaded yet: this page again next step
        entries += n;
        c.page++;
      }
    } catch (e) {
      if ((e as { code?: string }).code !== 'CORRUPT_RECORD') throw e;
      this.abandon();
      this.waitForScrub = true;
      return false;
    }
    if (c.page < this.pageCount) return true;
    this.finish(c);
    return false;
  }

  /**
   * Drops the cycle in progress, if any (a value failed its checksum, or a peer is being rebuilt
   * from this node's files and they must hold still). Images already written stay valid and in use
   * until the next finished cycle supersedes them; meta still names the previous block file, so
   * recovery (and a rebuild's copy) ignores this one, and no hot-log segment was deleted.
   */
  abandon(): void {
    const c = this.cycle;
    if (c === null) return;
    this.index.setPruneCap(Number.POSITIVE_INFINITY);
    this.keepFileBuffers();
    this.cycle = null;
    this.bytesSinceCycle += c.bytesBefore - c.unindexedAtStart; // that log is still above the coalesce point (counted once)
    this.stats.cyclesAbandoned++;
  }

  /** Writes page `pageId`'s image; its entry count, or -1 if its values could not all be loaded this step. */
  private writePage(c: Cycle, pageId: number): number {
    this.builder.reset();
    this.relocations.length = 0;
    this.hintKeys.length = 0;
    this.hintMeta.length = 0;
    let incomplete = false;
    this.index.forEachKeyInPage(pageId, this.pageCount, c.lsn, (slot, key, lsn, seq, position, valueBytes, checksum) => {
      if (valueBytes === TOMBSTONE || incomplete) return; // deleted as of C: absent from the image
      const loaded = this.readValue(seq, position, valueBytes);
      if (loaded === null) {
        incomplete = true;
        return;
      }
      let value = loaded;
      if (valueChecksum(value) !== checksum) {
        // A bad value must not be laundered into a fresh image under a valid CRC: use a good copy
        // from a peer if one was fetched, else give up this cycle.
        const good = this.replacements.get(lsn);
        if (good === undefined || valueChecksum(good) !== checksum) throw errors.corruptRecord(`value of LSN ${lsn} at ${seq}:${position} fails its checksum`);
        value = good;
        this.stats.valuesReplaced++;
      }
      this.relocations.push(slot, this.builder.add(key, lsn, value));
      this.hintKeys.push(key.slice());
      this.hintMeta.push(lsn, valueBytes, checksum);
    });
    if (incomplete) return -1;
    const n = this.builder.entries;
    if (n === 0) {
      this.hintKeys.length = 0;
      this.hintMeta.length = 0;
      return 0;
    }
    const image = this.builder.seal(pageId, c.lsn);
    assert(c.position + image.length < BLOCK_BIT, 'block file larger than 2 GiB');
    this.blocks.append(c.blockSeq, c.position, image);
    // The bytes are readable now (page cache); recovery ignores them until meta names the file.
    for (let i = 0; i < this.relocations.length; i += 2) {
      this.index.relocate(this.relocations[i]!, blockLocation(c.blockSeq), c.position + this.relocations[i + 1]!);
      const key = this.hintKeys[i >> 1]!;
      const m = (i >> 1) * 3;
      this.hint.entry(key, 0, key.length, Op.PUT, this.hintMeta[m + 1]!, this.hintMeta[m]!, c.position + this.relocations[i + 1]!, this.hintMeta[m + 2]!);
    }
    this.hintKeys.length = 0;
    this.hintMeta.length = 0;
    c.position += image.length;
    if (c.position - c.flushedAt >= FLUSH_EVERY_BYTES) {
      this.blocks.flushData(c.blockSeq);
      c.flushedAt = c.position;
    }
    this.stats.imagesWritten++;
    this.stats.entriesWritten += n;
    return n;
  }

  /** A value, from its file's buffer; null if loading it would pass this step's read budget. */
  private readValue(seq: number, position: number, valueBytes: number): Uint8Array | null {
    let file = this.files.get(seq);
    if (file === undefined) {
      const bytes = this.fileBuffer(this.host.fileBytes(seq));
      if (bytes === null) return this.host.readValue(seq, position, valueBytes);
      file = { bytes, loaded: 0 };
      this.stats.filesBuffered++;
      this.files.set(seq, file);
    }
    const end = position + valueBytes;
    while (file.loaded < end) {
      if (this.stepReadBytes >= STEP_READ_BYTES) return null;
      const n = Math.min(READ_CHUNK_BYTES, file.bytes.length - file.loaded);
      this.host.readInto(seq, file.loaded, file.bytes.subarray(file.loaded, file.loaded + n));
      file.loaded += n;
      this.stepReadBytes += n;
    }
    return file.bytes.subarray(position, end);
  }

  /** Ends the cycle's use of its file buffers: they become the spare set for the next cycle. */
  private keepFileBuffers(): void {
    // Spares the cycle did not take were kept past their use: only this cycle's buffers stay.
    for (const b of this.spare) releaseArrayBuffer(b.buffer);
    this.spare = [];
    for (const f of this.files.values()) this.spare.push(new Uint8Array(f.bytes.buffer));
    this.spareTotal = this.filesBytes;
    this.spareSinceMicros = this.host.nowMicros();
    this.files.clear();
    this.filesBytes = 0;
  }

  /** Gives the kept buffers back (quiet for SPARE_KEEP_MICROS, or held still as a rebuild source). */
  dropSpare(): void {
    for (const b of this.spare) releaseArrayBuffer(b.buffer); // an idle node would keep them until some GC
    this.spare = [];
    this.spareTotal = 0;
    // The block hint's buffer grows to every live key's entry (~64 MiB for 1M keys), kept for the
    // next cycle like the file buffers, and given back with them.
    if (this.cycle === null) this.hint.shrink();
  }

  /** Bytes of file buffers in use by a cycle and kept for the next one, and of the block hint's buffer. */
  get bufferBytes(): number {
    return this.filesBytes + this.spareTotal + this.hint.capacity;
  }

  /** Bytes of file buffers kept for the next cycle. */
  get spareBytes(): number {
    return this.spareTotal;
  }

  /**
   * A buffer of `size` bytes, or null if buffers in use would pass bufferBytesMax (then values are
   * read one by one): the smallest spare one that fits, else a new one rounded up to a segment (so
   * the next cycle's file of another size fits it), dropping spares that fit nothing until the new
   * one is within the bound.
   */
  private fileBuffer(size: number): Uint8Array | null {
    let best = -1;
    for (let i = 0; i < this.spare.length; i++) {
      const n = this.spare[i]!.length;
      if (n >= size && (best < 0 || n < this.spare[best]!.length)) best = i;
    }
    let b: Uint8Array;
    if (best >= 0) {
      b = this.spare[best]!;
      this.spare[best] = this.spare[this.spare.length - 1]!;
      this.spare.pop();
      this.spareTotal -= b.length;
    } else {
      const capacity = Math.min(Math.ceil(size / this.segmentBytes) * this.segmentBytes, Math.max(size, this.bufferBytesMax - this.filesBytes));
      if (this.filesBytes + capacity > this.bufferBytesMax) return null;
      while (this.filesBytes + this.spareTotal + capacity > this.bufferBytesMax) {
        const dropped = this.spare.pop()!;
        this.spareTotal -= dropped.length;
        releaseArrayBuffer(dropped.buffer);
      }
      this.stats.fileBuffersAllocated++;
      b = new Uint8Array(capacity);
    }
    this.filesBytes += b.length;
    this.stats.fileBufferBytesPeak = Math.max(this.stats.fileBufferBytesPeak, this.filesBytes + this.spareTotal);
    return b.subarray(0, size);
  }

  private finish(c: Cycle): void {
    this.keepFileBuffers();
    this.blocks.sync(c.blockSeq);
    this.hint.blockPrefix(c.lsn, c.position);
    this.blocks.writeHint(c.blockSeq, this.hint.seal()); // before meta names the file; checked, never trusted blindly
    this.blocks.writeMeta({ format: 1, coalesceLsn: c.lsn, blockSeq: c.blockSeq });
    this.coalesceLsn = c.lsn;
    this.blockSeq = c.blockSeq;
    // Every live version now points into this file: the previous one (and any abandoned) can go.
    for (const s of this.blocks.blockSeqs()) if (s !== c.blockSeq) this.blocks.remove(s);
    this.stats.segmentsDeleted += this.host.gcLogThrough(Math.min(c.lsn, this.host.logGcBound()));
    this.index.setPruneCap(Number.POSITIVE_INFINITY);
    this.replacements.clear();
    this.lastImageBytes = c.position;
    this.stats.blockBytes = c.position;
    this.stats.cycles++;
    this.cycle = null;
  }
}
