// Making a directory entry durable (after creating, renaming or deleting a file in it): without
// this, a crash can lose the file's name even though its contents were synced.
import * as fs from 'node:fs';
import * as path from 'node:path';

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Replaces `file` atomically and durably: write a temp file, fsync it, rename it over `file`, fsync
 * the directory. A crash leaves either the old or the new content, never a torn one.
 */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  fsyncDir(path.dirname(file));
}

/**
 * Creates `dir` and any missing ancestors, durably: each directory created is fsynced in its
 * parent (a new directory's name is an entry of its parent, lost in a crash until the parent is
 * synced). Nothing is synced if `dir` already exists. `syncDir` is injectable for tests.
 */
export function mkdirDurable(dir: string, syncDir: (d: string) => void = fsyncDir): void {
  const first = fs.mkdirSync(dir, { recursive: true });
  if (first === undefined) return;
  const created: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    created.push(d);
    if (d === path.resolve(first) || d === path.dirname(d)) break;
  }
  for (const d of created) syncDir(path.dirname(d));
}
