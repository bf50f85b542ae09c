// Shared test helpers: temp directories that are always removed, and small engine options so
// tests preallocate little and start fast.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach } from 'vitest';
import { isAuroralError, open, type Database, type OpenOptions } from '../src/index.js';

const dirs: string[] = [];

export function tempDir(prefix = 'auroral-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(d);
  return d;
}

afterEach(() => {
  while (dirs.length > 0) fs.rmSync(dirs.pop()!, { recursive: true, force: true });
});

export function smallOptions(dir: string, extra: Partial<OpenOptions> = {}): OpenOptions {
  return {
    dir,
    segmentBytes: 1 << 20,
    valueBytesMax: 16 << 10,
    mtrBytesMax: 64 << 10,
    groupCommit: { batchBytesMax: 64 << 10 },
    nodeRingBytes: 1 << 20,
    logRingBytes: 1 << 20,
    ...extra,
  };
}

/** Opens a small volume in a temp dir, runs `fn`, and closes it whatever happens. */
export async function withDb<T>(fn: (db: Database, dir: string) => Promise<T>, extra: Partial<OpenOptions> = {}): Promise<T> {
  const dir = tempDir();
  const db = await open(smallOptions(dir, extra));
  try {
    return await fn(db, dir);
  } finally {
    await db.close();
  }
}

export const text = (v: Uint8Array | undefined): string | undefined => (v === undefined ? undefined : Buffer.from(v).toString());

/** Polls `cond` until it holds or `ms` pass (stats are published just after the state they count). */
export async function waitFor(cond: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return cond();
}

/**
 * A put retried while its outcome is unknown (QUORUM_UNAVAILABLE). For tests with a short
 * commitTimeoutMs whose point is not the timeout: on a loaded 2-core machine the first commits
 * after open can take longer than it (six threads starting).
 */
export async function putEventually(db: Database, key: string, value: string, attempts = 20): Promise<number> {
  for (let i = 1; ; i++) {
    try {
      return await db.put(key, value);
    } catch (e) {
      if (i >= attempts || !isAuroralError(e, 'QUORUM_UNAVAILABLE')) throw e;
    }
  }
}
