// Making a directory entry durable (after creating, renaming or deleting a file in it): without
// this, a crash can lose the file's name even though its contents were synced.
import * as fs from 'node:fs';

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
