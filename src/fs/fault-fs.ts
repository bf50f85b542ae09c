// An in-memory file system with crash semantics, behind the same port as node:fs (port.ts).
//
// Fault model (what a power cut may do to a POSIX file system, after ALICE / CrashMonkey):
// - File data written since the file's last fsync/fdatasync is volatile. At a power cut each dirty
//   512-byte sector independently keeps its new bytes or falls back to its last durable bytes, so a
//   multi-sector write can be torn anywhere; an unsynced size change is kept or lost.
// - Directory entries (a file's or directory's name: create, rename, remove) are volatile until the
//   directory itself is fsynced. A file that was fsynced but whose name never was is gone after a cut.
// - A failed fsync (injected EIO) marks the dirty sectors clean without making them durable, as
//   Linux does (PostgreSQL's "fsyncgate"): a retried fsync then "succeeds" and the data is still
//   lost at the next cut. That is why storage code must never retry one.
// - At rest, sectors can be zeroed or bits flipped (a lost or damaged sector), in durable and live
//   bytes alike.
// Every choice at a cut comes from the injected Random, so a seed replays a run exactly.
import * as path from 'node:path';
import { assert } from '../assert.js';
import type { Random } from '../shared/random.js';
import type { FsPort, FsStat } from './port.js';

export const FAULT_SECTOR_BYTES = 512;

/** True if absolute path `p` is `prefix` or inside it. */
function under(p: string, prefix: string): boolean {
  return prefix === '/' || p === prefix || p.startsWith(prefix + '/');
}

function fsError(code: string, op: string, p: string): Error {
  return Object.assign(new Error(`${code}: ${op} '${p}' (fault-fs)`), { code, syscall: op, path: p });
}

class FileNode {
  readonly kind = 'file';
  data = new Uint8Array(0);
  size = 0;
  durable = new Uint8Array(0);
  durableSize = 0;
  /** Sectors written since the last successful sync. */
  readonly dirty = new Set<number>();
  syncs = 0;
  /** Set after an injected sync failure: the next sync fails too until cleared by the test. */
  failSyncs = 0;

  ensure(capacity: number): void {
    if (capacity <= this.data.length) return;
    const grown = new Uint8Array(Math.max(capacity, this.data.length * 2, 4096));
    grown.set(this.data.subarray(0, this.size));
    this.data = grown;
  }

  resize(size: number): void {
    this.ensure(size);
    if (size < this.size) this.data.fill(0, size, this.size);
    const from = Math.min(size, this.size);
    for (let s = Math.floor(from / FAULT_SECTOR_BYTES); s * FAULT_SECTOR_BYTES < Math.max(size, this.size); s++) this.dirty.add(s);
    this.size = size;
  }

  /**
   * Writes the dirty sectors and the size to the "disk". Only dirty sectors: after a failed sync the
   * page cache still shows bytes the disk never got, and a later sync does not write them.
   */
  makeDurable(): void {
    let out = this.durable;
    if (out.length !== this.size) {
      out = new Uint8Array(this.size);
      out.set(this.durable.subarray(0, Math.min(this.size, this.durableSize)));
    }
    for (const s of this.dirty) {
      const from = s * FAULT_SECTOR_BYTES;
      if (from < this.size) out.set(this.data.subarray(from, Math.min(this.size, from + FAULT_SECTOR_BYTES)), from);
    }
    this.durable = out;
    this.durableSize = this.size;
    this.dirty.clear();
  }
}

class DirNode {
  readonly kind = 'dir';
  entries = new Map<string, Node>();
  durableEntries = new Map<string, Node>();
  syncs = 0;
}

type Node = FileNode | DirNode;

interface OpenFile {
  node: Node;
  path: string;
  readable: boolean;
  writable: boolean;
}

export interface FaultFsStats {
  /** fsync/fdatasync calls on files, successful or not. */
  fileSyncs: number;
  dirSyncs: number;
  writes: number;
}

export class FaultFs implements FsPort {
  private root = new DirNode();
  private readonly fds = new Map<number, OpenFile>();
  private fdNext = 3;
  /** Bytes of file data the disk holds at most (ENOSPC past it); Infinity: no limit. */
  capacityBytes = Infinity;
  /** Per subtree (a simulated disk per node): syncs to let through before one fails with EIO, and full disks. */
  private readonly failSyncAfter = new Map<string, number>();
  private readonly fullUnder = new Set<string>();
  readonly stats: FaultFsStats = { fileSyncs: 0, dirSyncs: 0, writes: 0 };
  /** Called before every mutating call or sync with its name and path: a test hook to fail or count. */
  onOp: ((op: 'write' | 'sync' | 'create' | 'rename' | 'remove', p: string) => void) | null = null;

  // ---- lookup -------------------------------------------------------------------------------------

  private parts(p: string): string[] {
    return path.resolve('/', p).split('/').filter((s) => s.length > 0);
  }

  private lookup(p: string): Node | undefined {
    let n: Node = this.root;
    for (const part of this.parts(p)) {
      if (n.kind !== 'dir') return undefined;
      const next: Node | undefined = n.entries.get(part);
      if (next === undefined) return undefined;
      n = next;
    }
    return n;
  }

  private parent(p: string, op: string): { dir: DirNode; name: string } {
    const parts = this.parts(p);
    assert(parts.length > 0, 'the root has no parent');
    const dir = this.lookup('/' + parts.slice(0, -1).join('/'));
    if (dir === undefined) throw fsError('ENOENT', op, p);
    if (dir.kind !== 'dir') throw fsError('ENOTDIR', op, p);
    return { dir, name: parts[parts.length - 1]! };
  }

  private file(fd: number, op: string): OpenFile & { node: FileNode } {
    const f = this.fds.get(fd);
    if (f === undefined) throw fsError('EBADF', op, String(fd));
    if (f.node.kind !== 'file') throw fsError('EISDIR', op, f.path);
    return f as OpenFile & { node: FileNode };
  }

  private usedBytes(): number {
    let total = 0;
    const seen = new Set<Node>();
    const walk = (d: DirNode): void => {
      for (const n of d.entries.values()) {
        if (seen.has(n)) continue;
        seen.add(n);
        if (n.kind === 'dir') walk(n);
        else total += n.size;
      }
    };
    walk(this.root);
    return total;
  }

  // ---- the port -----------------------------------------------------------------------------------

  openSync(p: string, flags: string): number {
    let node = this.lookup(p);
    const create = flags.startsWith('w') || flags.startsWith('a');
    if (flags.includes('x') && node !== undefined) throw fsError('EEXIST', 'open', p);
    if (node === undefined) {
      if (!create) throw fsError('ENOENT', 'open', p);
      this.onOp?.('create', p);
      const { dir, name } = this.parent(p, 'open');
      node = new FileNode();
      dir.entries.set(name, node);
    } else if (create && node.kind === 'file' && flags.startsWith('w')) {
      node.resize(0);
    }
    if (node.kind === 'dir' && flags !== 'r') throw fsError('EISDIR', 'open', p);
    const fd = this.fdNext++;
    this.fds.set(fd, { node, path: path.resolve('/', p), readable: flags.startsWith('r') || flags.includes('+'), writable: flags !== 'r' });
    return fd;
  }

  closeSync(fd: number): void {
    if (!this.fds.delete(fd)) throw fsError('EBADF', 'close', String(fd));
  }

  readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number {
    const f = this.file(fd, 'read');
    if (!f.readable) throw fsError('EBADF', 'read', f.path);
    const n = Math.max(0, Math.min(length, f.node.size - position));
    buffer.set(f.node.data.subarray(position, position + n), offset);
    return n;
  }

  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number {
    return this.writevSync(fd, [buffer.subarray(offset, offset + length)], position);
  }

  writevSync(fd: number, buffers: readonly Uint8Array[], position: number): number {
    const f = this.file(fd, 'write');
    if (!f.writable) throw fsError('EBADF', 'write', f.path);
    this.onOp?.('write', f.path);
    let total = 0;
    for (const b of buffers) total += b.length;
    const end = position + total;
    if (end > f.node.size) {
      for (const prefix of this.fullUnder) if (under(f.path, prefix)) throw fsError('ENOSPC', 'write', f.path);
      if (this.capacityBytes !== Infinity && this.usedBytes() + (end - f.node.size) > this.capacityBytes) throw fsError('ENOSPC', 'write', f.path);
    }
    this.stats.writes++;
    const node = f.node;
    if (end > node.size) node.resize(end);
    let at = position;
    for (const b of buffers) {
      node.data.set(b, at);
      at += b.length;
    }
    for (let s = Math.floor(position / FAULT_SECTOR_BYTES); s * FAULT_SECTOR_BYTES < end; s++) node.dirty.add(s);
    return total;
  }

  fdatasyncSync(fd: number): void {
    this.fsyncSync(fd);
  }

  fsyncSync(fd: number): void {
    const f = this.fds.get(fd);
    if (f === undefined) throw fsError('EBADF', 'fsync', String(fd));
    this.onOp?.('sync', f.path);
    if (f.node.kind === 'dir') {
      this.stats.dirSyncs++;
      f.node.syncs++;
      f.node.durableEntries = new Map(f.node.entries);
      return;
    }
    const node = f.node;
    this.stats.fileSyncs++;
    node.syncs++;
    for (const [prefix, left] of this.failSyncAfter) {
      if (!under(f.path, prefix)) continue;
      if (left > 0) {
        this.failSyncAfter.set(prefix, left - 1);
      } else {
        this.failSyncAfter.delete(prefix);
        node.failSyncs = Math.max(node.failSyncs, 1);
      }
    }
    if (node.failSyncs > 0) {
      node.failSyncs--;
      // Linux: the pages are marked clean although they never reached the disk.
      node.dirty.clear();
      throw fsError('EIO', 'fsync', f.path);
    }
    node.makeDurable();
  }

  ftruncateSync(fd: number, length: number): void {
    const f = this.file(fd, 'ftruncate');
    this.onOp?.('write', f.path);
    f.node.resize(length);
  }

  mkdirSync(p: string, options?: { recursive?: boolean }): string | undefined {
    const parts = this.parts(p);
    let dir: DirNode = this.root;
    let first: string | undefined;
    for (let i = 0; i < parts.length; i++) {
      const name = parts[i]!;
      const next = dir.entries.get(name);
      const last = i === parts.length - 1;
      if (next === undefined) {
        if (!last && options?.recursive !== true) throw fsError('ENOENT', 'mkdir', p);
        const madePath = '/' + parts.slice(0, i + 1).join('/');
        this.onOp?.('create', madePath);
        first ??= madePath;
        const made = new DirNode();
        dir.entries.set(name, made);
        dir = made;
      } else if (next.kind === 'dir') {
        if (last && options?.recursive !== true) throw fsError('EEXIST', 'mkdir', p);
        dir = next;
      } else {
        throw fsError(last ? 'EEXIST' : 'ENOTDIR', 'mkdir', p);
      }
    }
    return options?.recursive === true ? first : undefined;
  }

  readdirSync(p: string): string[] {
    const n = this.lookup(p);
    if (n === undefined) throw fsError('ENOENT', 'scandir', p);
    if (n.kind !== 'dir') throw fsError('ENOTDIR', 'scandir', p);
    return [...n.entries.keys()].sort();
  }

  renameSync(from: string, to: string): void {
    const src = this.parent(from, 'rename');
    const node = src.dir.entries.get(src.name);
    if (node === undefined) throw fsError('ENOENT', 'rename', from);
    const dst = this.parent(to, 'rename');
    const over = dst.dir.entries.get(dst.name);
    if (over !== undefined && over.kind !== node.kind) throw fsError(over.kind === 'dir' ? 'EISDIR' : 'ENOTDIR', 'rename', to);
    if (over !== undefined && over.kind === 'dir' && over.entries.size > 0) throw fsError('ENOTEMPTY', 'rename', to);
    this.onOp?.('rename', to);
    src.dir.entries.delete(src.name);
    dst.dir.entries.set(dst.name, node);
  }

  rmSync(p: string, options?: { recursive?: boolean; force?: boolean }): void {
    const n = this.lookup(p);
    if (n === undefined) {
      if (options?.force === true) return;
      throw fsError('ENOENT', 'rm', p);
    }
    if (n.kind === 'dir' && options?.recursive !== true) throw fsError('ERR_FS_EISDIR', 'rm', p);
    this.onOp?.('remove', p);
    const { dir, name } = this.parent(p, 'rm');
    dir.entries.delete(name);
  }

  readFileSync(p: string): Uint8Array {
    const n = this.lookup(p);
    if (n === undefined) throw fsError('ENOENT', 'open', p);
    if (n.kind !== 'file') throw fsError('EISDIR', 'read', p);
    return Buffer.from(n.data.subarray(0, n.size));
  }

  statSync(p: string): FsStat {
    const n = this.lookup(p);
    if (n === undefined) throw fsError('ENOENT', 'stat', p);
    return { size: n.kind === 'file' ? n.size : 4096, isDirectory: () => n.kind === 'dir', isFile: () => n.kind === 'file' };
  }

  existsSync(p: string): boolean {
    return this.lookup(p) !== undefined;
  }

  // ---- faults -------------------------------------------------------------------------------------

  /**
   * A power cut: every open file descriptor is gone; each directory keeps only its durable entries;
   * each file keeps its durable bytes plus, per dirty sector, the new bytes or not (drawn from rng),
   * and its unsynced size change or not.
   */
  powerCut(rng: Random, subtree = '/'): void {
    const top = this.lookup(subtree);
    assert(top !== undefined && top.kind === 'dir', `no directory ${subtree}`);
    this.dropFds(subtree);
    const files = new Set<FileNode>();
    const walk = (d: DirNode): void => {
      d.entries = new Map(d.durableEntries);
      for (const n of d.entries.values()) {
        if (n.kind === 'dir') walk(n);
        else files.add(n);
      }
    };
    walk(top);
    for (const f of files) {
      const size = f.size !== f.durableSize && rng.chance(0.5) ? f.size : f.durableSize;
      const out = new Uint8Array(size);
      out.set(f.durable.subarray(0, Math.min(size, f.durableSize)));
      // Per file: every unsynced sector reached the disk, none did, or each one independently (torn).
      const mode = rng.int(3);
      for (const s of [...f.dirty].sort((a, b) => a - b)) {
        const from = s * FAULT_SECTOR_BYTES;
        if (from >= size || mode === 1 || (mode === 2 && !rng.chance(0.5))) continue;
        const to = Math.min(size, from + FAULT_SECTOR_BYTES, f.size);
        if (to > from) out.set(f.data.subarray(from, to), from);
      }
      f.data = out;
      f.size = size;
      f.durable = out.slice();
      f.durableSize = size;
      f.dirty.clear();
      f.failSyncs = 0;
    }
  }

  /** A process crash (kill -9): descriptors close, but the kernel keeps every write. */
  processCrash(subtree = '/'): void {
    this.dropFds(subtree);
  }

  private dropFds(subtree: string): void {
    const prefix = path.resolve('/', subtree);
    for (const [fd, f] of this.fds) if (under(f.path, prefix)) this.fds.delete(fd);
  }

  /** Under `subtree`, `okSyncs` more file syncs succeed, then one fails with EIO (as failSync). */
  failSyncAfterOk(subtree: string, okSyncs: number): void {
    this.failSyncAfter.set(path.resolve('/', subtree), okSyncs);
  }

  /** While set, a write that grows a file under `subtree` fails with ENOSPC. */
  setFull(subtree: string, full: boolean): void {
    if (full) this.fullUnder.add(path.resolve('/', subtree));
    else this.fullUnder.delete(path.resolve('/', subtree));
  }

  /** Ends every injected fault under `subtree` (a replaced disk, space freed). */
  clearFaults(subtree: string): void {
    const prefix = path.resolve('/', subtree);
    for (const p of [...this.failSyncAfter.keys()]) if (under(p, prefix)) this.failSyncAfter.delete(p);
    for (const p of [...this.fullUnder]) if (under(p, prefix)) this.fullUnder.delete(p);
    const top = this.lookup(prefix);
    const walk = (n: Node | undefined): void => {
      if (n === undefined) return;
      if (n.kind === 'file') n.failSyncs = 0;
      else for (const c of n.entries.values()) walk(c);
    };
    walk(top);
  }

  /** The next `count` syncs of the file at `p` fail with EIO (and drop its dirty sectors, as Linux does). */
  failSync(p: string, count = 1): void {
    const n = this.lookup(p);
    assert(n !== undefined && n.kind === 'file', `no file ${p}`);
    n.failSyncs = count;
  }

  /** Zeroes `length` bytes at `offset` of the file at `p`, durably (a lost sector). */
  zero(p: string, offset: number, length: number): void {
    this.atRest(p, (b, end) => b.fill(0, offset, Math.min(end, offset + length)));
  }

  /** Flips one bit at `offset` of the file at `p`, durably (media corruption). */
  flipBit(p: string, offset: number, bit = 0): void {
    this.atRest(p, (b, end) => {
      if (offset < end) b[offset] = b[offset]! ^ (1 << bit);
    });
  }

  private atRest(p: string, damage: (bytes: Uint8Array, end: number) => void): void {
    const n = this.lookup(p);
    assert(n !== undefined && n.kind === 'file', `no file ${p}`);
    damage(n.data, n.size);
    damage(n.durable, n.durableSize);
  }

  /** Syncs made on the file at `p` (successful or not). */
  syncsOf(p: string): number {
    const n = this.lookup(p);
    return n === undefined ? 0 : n.syncs;
  }
}
