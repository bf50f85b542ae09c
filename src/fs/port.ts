// The file-system port: the narrow, synchronous set of calls the storage code (hot logs, block
// files, epoch and volume files) makes. Production passes `nodeFs` (node:fs itself); tests and the
// simulator pass a `FaultFs` (fault-fs.ts), which keeps unsynced writes volatile and can cut the
// power, so a missing fsync is found by a test rather than by a user after a power failure. A
// kill -9 keeps the OS page cache, so it can never find one.
//
// Errors are thrown as node:fs does: an Error with an errno `code` ('ENOENT', 'EIO', 'ENOSPC', ...),
// so the storage code handles both implementations with one path.

export interface FsStat {
  size: number;
  isDirectory(): boolean;
  isFile(): boolean;
}

export interface FsPort {
  /** Flags as node:fs: 'r', 'r+', 'w', 'w+', 'wx', 'a'. Directories open with 'r' (for fsync). */
  openSync(path: string, flags: string): number;
  closeSync(fd: number): void;
  /** Reads up to `length` bytes at `position` into `buffer` at `offset`; 0 at end of file. */
  readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  /** Writes `length` bytes of `buffer` from `offset` at `position` (a file grows, holes read as zeros). */
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  writevSync(fd: number, buffers: readonly Uint8Array[], position: number): number;
  /** Makes the file's data (and the size needed to read it) durable. */
  fdatasyncSync(fd: number): void;
  /** Makes data and metadata durable; on a directory fd, its entries (creations, renames, removals). */
  fsyncSync(fd: number): void;
  ftruncateSync(fd: number, length: number): void;
  /** With `recursive`, returns the first directory it created (undefined if `path` existed), as node:fs. */
  mkdirSync(path: string, options?: { recursive?: boolean }): string | undefined;
  readdirSync(path: string): string[];
  renameSync(from: string, to: string): void;
  rmSync(path: string, options?: { recursive?: boolean; force?: boolean }): void;
  readFileSync(path: string): Uint8Array;
  statSync(path: string): FsStat;
  existsSync(path: string): boolean;
}
