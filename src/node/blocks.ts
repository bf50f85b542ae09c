// Data blocks: page images written by coalescing, and the node's meta file naming the current
// block file and coalesce point.
//
// A block file (<node>/blocks/<16-digit seq>.blk) holds one image per page, back to back:
//   image header, 40 bytes, little endian:
//     0  u32 magic 'AURP'    4 u16 version (1)     6 u16 headerBytes (40)
//     8  u32 pageId          12 u32 entryCount     16 u32 payloadBytes (multiple of 8)
//     20 u32 crc             crc32 of header [0,20) ++ [24,40) ++ payload
//     24 u64 coalesceLsn     32 u64 reserved (0)
//   entry, 8-aligned: u16 keyBytes, u16 reserved, u32 valueBytes, u64 lsn, key, value, padding
// An image holds, for every live key of its page, the newest version at or below coalesceLsn
// (deleted keys are absent). Block files are written once, synced, then named by meta.
//
// meta (<node>/meta, JSON, replaced atomically): { format, coalesceLsn, blockSeq } where
// blockSeq = -1 means no images yet.
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import { assert } from '../assert.js';
import { AuroralError, ErrorCode } from '../errors.js';
import { readU64, writeU64 } from '../log/u64.js';
import { fsyncDir, mkdirDurable, readText, writeFileAtomic } from '../shared/fsync-dir.js';
import { nodeFs } from '../fs/node-fs.js';
import type { FsPort } from '../fs/port.js';
import { hintFileName, readHintFile, writeHintFile } from './hints.js';

export const IMAGE_MAGIC = 0x50525541; // 'AURP'
export const IMAGE_HEADER_BYTES = 40;
export const IMAGE_ENTRY_HEADER_BYTES = 16;
/** Set in a location's segment number when it names a block file, not a hot-log segment. */
export const BLOCK_BIT = 0x8000_0000;

/**
 * The location number of block file `seq`. `seq | BLOCK_BIT` alone is a negative int32 in JS,
 * while the index stores locations as u32: always go through this.
 */
export function blockLocation(seq: number): number {
  return (seq | BLOCK_BIT) >>> 0;
}

export function imageEntryBytes(keyBytes: number, valueBytes: number): number {
  return (IMAGE_ENTRY_HEADER_BYTES + keyBytes + valueBytes + 7) & ~7;
}

export interface NodeMeta {
  format: 1;
  coalesceLsn: number;
  blockSeq: number;
}

/** Builds one page image in a growable buffer. */
export class ImageBuilder {
  private buf = new Uint8Array(64 * 1024);
  private view = new DataView(this.buf.buffer);
  private at = IMAGE_HEADER_BYTES;
  private count = 0;

  reset(): void {
    this.at = IMAGE_HEADER_BYTES;
    this.count = 0;
  }

  /** Adds an entry; returns the value's offset within the image. */
  add(key: Uint8Array, lsn: number, value: Uint8Array): number {
    const size = imageEntryBytes(key.length, value.length);
    if (this.at + size > this.buf.length) {
      const grown = new Uint8Array(Math.max(this.buf.length * 2, this.at + size));
      grown.set(this.buf.subarray(0, this.at));
      this.buf = grown;
      this.view = new DataView(grown.buffer);
    }
    const v = this.view;
    v.setUint16(this.at, key.length, true);
    v.setUint16(this.at + 2, 0, true);
    v.setUint32(this.at + 4, value.length, true);
    writeU64(v, this.at + 8, lsn);
    this.buf.set(key, this.at + IMAGE_ENTRY_HEADER_BYTES);
    const valueOffset = this.at + IMAGE_ENTRY_HEADER_BYTES + key.length;
    this.buf.set(value, valueOffset);
    this.buf.fill(0, valueOffset + value.length, this.at + size);
    this.at += size;
    this.count++;
    return valueOffset;
  }

  /** Seals the image (header + CRC) and returns its bytes (valid until the next reset). */
  seal(pageId: number, coalesceLsn: number): Uint8Array {
    const v = this.view;
    v.setUint32(0, IMAGE_MAGIC, true);
    v.setUint16(4, 1, true);
    v.setUint16(6, IMAGE_HEADER_BYTES, true);
    v.setUint32(8, pageId, true);
    v.setUint32(12, this.count, true);
    v.setUint32(16, this.at - IMAGE_HEADER_BYTES, true);
    writeU64(v, 24, coalesceLsn);
    writeU64(v, 32, 0);
    v.setUint32(20, imageCrc(this.buf, 0, this.at - IMAGE_HEADER_BYTES), true);
    return this.buf.subarray(0, this.at);
  }

  get entries(): number {
    return this.count;
  }
}

function imageCrc(bytes: Uint8Array, offset: number, payloadBytes: number): number {
  let c = crc32(bytes.subarray(offset, offset + 20));
  c = crc32(bytes.subarray(offset + 24, offset + IMAGE_HEADER_BYTES + payloadBytes), c);
  return c >>> 0;
}

export interface ImageEntry {
  key: Uint8Array;
  lsn: number;
  /** Offset of the value within the block file. */
  valuePosition: number;
  valueBytes: number;
}

/**
 * Walks every image of a block file, checking each CRC; calls `fn` per entry. Throws
 * CORRUPT_FRAME on a bad image: a block file is written whole and synced before meta names it,
 * so any damage is corruption (repair comes from a peer), never a torn tail.
 */
export function readImages(bytes: Uint8Array, fn: (pageId: number, e: ImageEntry) => void): { images: number; coalesceLsn: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  let images = 0;
  let coalesceLsn = 0;
  while (at < bytes.length) {
    const bad = (why: string) => new AuroralError(ErrorCode.CORRUPT_FRAME, `page image at ${at}: ${why}`);
    if (at + IMAGE_HEADER_BYTES > bytes.length) throw bad('truncated header');
    if (view.getUint32(at, true) !== IMAGE_MAGIC) throw bad('bad magic');
    const payloadBytes = view.getUint32(at + 16, true);
    if (payloadBytes % 8 !== 0 || at + IMAGE_HEADER_BYTES + payloadBytes > bytes.length) throw bad('bad length');
    if (imageCrc(bytes, at, payloadBytes) !== view.getUint32(at + 20, true)) throw bad('CRC mismatch');
    const pageId = view.getUint32(at + 8, true);
    const count = view.getUint32(at + 12, true);
    coalesceLsn = readU64(view, at + 24);
    let e = at + IMAGE_HEADER_BYTES;
    const end = e + payloadBytes;
    for (let i = 0; i < count; i++) {
      const keyBytes = view.getUint16(e, true);
      const valueBytes = view.getUint32(e + 4, true);
      const size = imageEntryBytes(keyBytes, valueBytes);
      if (e + size > end) throw bad('entry overruns the image');
      const keyStart = e + IMAGE_ENTRY_HEADER_BYTES;
      fn(pageId, { key: bytes.subarray(keyStart, keyStart + keyBytes), lsn: readU64(view, e + 8), valuePosition: keyStart + keyBytes, valueBytes });
      e += size;
    }
    if (e !== end) throw bad('entry count does not fill the payload');
    at = end;
    images++;
  }
  return { images, coalesceLsn };
}

/** Block files and meta as a node core sees them (real files, or memory in tests). */
export interface BlockStorage {
  readMeta(): NodeMeta;
  writeMeta(m: NodeMeta): void;
  blockSeqs(): number[];
  create(seq: number): void;
  append(seq: number, position: number, bytes: Uint8Array): void;
  /** Makes the file's content and its directory entry durable. */
  sync(seq: number): void;
  read(seq: number, position: number, length: number): Uint8Array;
  /** Fills `out` with the bytes at `position` of block file `seq`. */
  readInto(seq: number, position: number, out: Uint8Array): void;
  readAll(seq: number): Uint8Array;
  /** fdatasync of block file `seq` as it is being written (its final sync() still follows). */
  flushData(seq: number): void;
  fileBytes(seq: number): number;
  /** Removes block file `seq` and its hint. */
  remove(seq: number): void;
  /**
   * Block hints (hints.ts): written without fsync, best effort (false if not written); readHint is
   * null when there is none or it cannot be read. create() and remove() drop any hint of `seq`.
   */
  writeHint(seq: number, bytes: Uint8Array): boolean;
  readHint(seq: number): Uint8Array | null;
  bytes(): number;
  close(): void;
}

export class MemBlockStorage implements BlockStorage {
  private meta: NodeMeta = { format: 1, coalesceLsn: 0, blockSeq: -1 };
  private readonly files = new Map<number, Uint8Array>();
  private readonly sizes = new Map<number, number>();
  readMeta(): NodeMeta { return { ...this.meta }; }
  writeMeta(m: NodeMeta): void { this.meta = { ...m }; }
  blockSeqs(): number[] { return [...this.files.keys()].sort((a, b) => a - b); }
  private readonly hints = new Map<number, Uint8Array>();
  create(seq: number): void { this.files.set(seq, new Uint8Array(1024)); this.sizes.set(seq, 0); this.hints.delete(seq); }
  writeHint(seq: number, bytes: Uint8Array): boolean { this.hints.set(seq, bytes.slice()); return true; }
  readHint(seq: number): Uint8Array | null { return this.hints.get(seq)?.slice() ?? null; }
  append(seq: number, position: number, bytes: Uint8Array): void {
    let f = this.files.get(seq)!;
    if (position + bytes.length > f.length) {
      const g = new Uint8Array(Math.max(f.length * 2, position + bytes.length));
      g.set(f);
      f = g;
      this.files.set(seq, f);
    }
    f.set(bytes, position);
    this.sizes.set(seq, Math.max(this.sizes.get(seq)!, position + bytes.length));
  }
  sync(_seq: number): void {}
  read(seq: number, position: number, length: number): Uint8Array { return this.files.get(seq)!.slice(position, position + length); }
  readInto(seq: number, position: number, out: Uint8Array): void { out.set(this.files.get(seq)!.subarray(position, position + out.length)); }
  flushData(_seq: number): void {}
  readAll(seq: number): Uint8Array { return this.files.get(seq)!.slice(0, this.sizes.get(seq)); }
  fileBytes(seq: number): number { return this.sizes.get(seq) ?? 0; }
  remove(seq: number): void { this.hints.delete(seq); this.files.delete(seq); this.sizes.delete(seq); }
  bytes(): number { let n = 0; for (const v of this.sizes.values()) n += v; return n; }
  close(): void {}
  /** Replaces this storage's content with a copy of another's (rebuilding a node from a peer). */
  copyFrom(other: MemBlockStorage): void {
    this.meta = { ...other.meta };
    this.files.clear();
    this.sizes.clear();
    this.hints.clear(); // a rebuild copies no hints (copyNodeFiles neither)
    for (const [seq, f] of other.files) this.files.set(seq, f.slice());
    for (const [seq, n] of other.sizes) this.sizes.set(seq, n);
  }
}

/** The node's block files and meta on disk. */
export class FsBlockStorage implements BlockStorage {
  readonly dir: string;
  private readonly metaPath: string;
  private readonly fds = new Map<number, number>();

  private readonly io: FsPort;

  constructor(nodeDir: string, io: FsPort = nodeFs) {
    this.io = io;
    this.dir = path.join(nodeDir, 'blocks');
    this.metaPath = path.join(nodeDir, 'meta');
    mkdirDurable(this.dir, io); // synced in its parent: block files named in it must not lose their directory
  }

  private file(seq: number): string {
    return path.join(this.dir, `${String(seq).padStart(16, '0')}.blk`);
  }

  readMeta(): NodeMeta {
    try {
      const m = JSON.parse(readText(this.metaPath, this.io)) as NodeMeta;
      assert(m.format === 1, `unknown node meta format ${m.format}`);
      return m;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { format: 1, coalesceLsn: 0, blockSeq: -1 };
      throw e;
    }
  }

  writeMeta(m: NodeMeta): void {
    writeFileAtomic(this.metaPath, JSON.stringify(m), this.io);
  }

  blockSeqs(): number[] {
    return this.io.readdirSync(this.dir).filter((n) => /^\d{16}\.blk$/.test(n)).map((n) => Number(n.slice(0, 16))).sort((a, b) => a - b);
  }

  create(seq: number): void {
    this.io.rmSync(this.hintFile(seq), { force: true }); // an abandoned cycle's number is reused
    const fd = this.io.openSync(this.file(seq), 'w+');
    this.fds.set(seq, fd);
  }

  append(seq: number, position: number, bytes: Uint8Array): void {
    const fd = this.fds.get(seq);
    assert(fd !== undefined, `block file ${seq} is not open`);
    let off = 0;
    while (off < bytes.length) off += this.io.writeSync(fd, bytes, off, bytes.length - off, position + off);
  }

  sync(seq: number): void {
    const fd = this.fds.get(seq);
    assert(fd !== undefined, `block file ${seq} is not open`);
    this.io.fsyncSync(fd);
    fsyncDir(this.dir, this.io);
  }

  read(seq: number, position: number, length: number): Uint8Array {
    const out = Buffer.allocUnsafe(length);
    this.readInto(seq, position, out);
    return out;
  }

  readInto(seq: number, position: number, out: Uint8Array): void {
    let fd = this.fds.get(seq);
    if (fd === undefined) {
      fd = this.io.openSync(this.file(seq), 'r');
      this.fds.set(seq, fd);
    }
    const length = out.length;
    let at = 0;
    while (at < length) {
      const n = this.io.readSync(fd, out, at, length - at, position + at);
      if (n === 0) throw new AuroralError(ErrorCode.IO_ERROR, `short read of block file ${seq}`);
      at += n;
    }
  }

  flushData(seq: number): void {
    const fd = this.fds.get(seq);
    assert(fd !== undefined, `block file ${seq} is not open`);
    this.io.fdatasyncSync(fd);
  }


  readAll(seq: number): Uint8Array {
    return this.io.readFileSync(this.file(seq)); // no copy: 64 MB copied and zero-filled again cost ~0.3 s per node at open
  }

  fileBytes(seq: number): number {
    return this.io.statSync(this.file(seq)).size;
  }

  remove(seq: number): void {
    const fd = this.fds.get(seq);
    if (fd !== undefined) this.io.closeSync(fd);
    this.fds.delete(seq);
    this.io.rmSync(this.hintFile(seq), { force: true });
    this.io.rmSync(this.file(seq), { force: true });
  }

  private hintFile(seq: number): string {
    return path.join(this.dir, hintFileName(seq));
  }

  writeHint(seq: number, bytes: Uint8Array): boolean {
    return writeHintFile(this.io, this.hintFile(seq), bytes);
  }

  readHint(seq: number): Uint8Array | null {
    return readHintFile(this.io, this.hintFile(seq));
  }

  bytes(): number {
    let n = 0;
    for (const s of this.blockSeqs()) n += this.io.statSync(this.file(s)).size;
    return n;
  }

  close(): void {
    for (const fd of this.fds.values()) this.io.closeSync(fd);
    this.fds.clear();
  }
}
