// Making a directory entry durable (after creating, renaming or deleting a file in it): without
// this, a crash can lose the file's name even though its contents were synced. Every call goes
// through the file-system port (src/fs/port.ts), so FaultFs can check it at a simulated power cut.
import * as path from 'node:path';
import { nodeFs } from '../fs/node-fs.js';
import type { FsPort } from '../fs/port.js';

export function fsyncDir(dir: string, io: FsPort = nodeFs): void {
  const fd = io.openSync(dir, 'r');
  try {
    io.fsyncSync(fd);
  } finally {
    io.closeSync(fd);
  }
}

/**
 * Replaces `file` atomically and durably: write a temp file, fsync it, rename it over `file`, fsync
 * the directory. A crash leaves either the old or the new content, never a torn one.
 */
export function writeFileAtomic(file: string, text: string, io: FsPort = nodeFs): void {
  writeBytesAtomic(file, Buffer.from(text, 'utf8'), io);
}

/** writeFileAtomic for bytes. */
export function writeBytesAtomic(file: string, bytes: Uint8Array, io: FsPort = nodeFs): void {
  const tmp = `${file}.tmp`;
  const fd = io.openSync(tmp, 'w');
  try {
    let at = 0;
    while (at < bytes.length) at += io.writeSync(fd, bytes, at, bytes.length - at, at);
    io.fsyncSync(fd);
  } finally {
    io.closeSync(fd);
  }
  io.renameSync(tmp, file);
  fsyncDir(path.dirname(file), io);
}

/** The whole file as UTF-8 text (JSON metadata files). */
export function readText(file: string, io: FsPort = nodeFs): string {
  return Buffer.from(io.readFileSync(file)).toString('utf8');
}

/**
 * Creates `dir` and any missing ancestors, durably: each directory created is fsynced in its
 * parent (a new directory's name is an entry of its parent, lost in a crash until the parent is
 * synced). Nothing is synced if `dir` already exists. `syncDir` is injectable for tests.
 */
export function mkdirDurable(dir: string, io: FsPort = nodeFs, syncDir: (d: string) => void = (d) => fsyncDir(d, io)): void {
  const first = io.mkdirSync(dir, { recursive: true });
  if (first === undefined) return;
  const created: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    created.push(d);
    if (d === path.resolve(first) || d === path.dirname(d)) break;
  }
  for (const d of created) syncDir(path.dirname(d));
}
