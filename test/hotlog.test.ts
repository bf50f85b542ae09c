// Goal: the real hot log is fail-stop on its own: after a write or sync error it never writes,
// syncs, creates, removes or preallocates a segment again, whatever its caller does (fsyncgate: a
// retried fsync may "succeed" after the kernel dropped the dirty pages).
// Method: FsHotLog on a temp directory with the fault hooks the node thread uses; every fdatasync
// passes through slowSyncMicros() and every write and segment creation through diskFull(), so
// counting those calls counts the syscalls the log attempts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FsHotLog, type DiskFaults } from '../src/node/hotlog.js';
import { tempDir } from './helpers.js';

describe('FsHotLog', () => {
  it('after an EIO from fdatasync never writes, syncs, creates, removes or zero-fills a segment again', () => {
    const dir = path.join(tempDir(), 'log');
    const seen = { syncs: 0, writesOrCreates: 0 };
    let failNext = false;
    const faults: DiskFaults = {
      slowSyncMicros: () => { seen.syncs++; return 0; },
      failThisSync: () => { const f = failNext; failNext = false; return f; },
      diskFull: () => { seen.writesOrCreates++; return false; },
      tearThisWrite: () => false,
    };
    const log = new FsHotLog(dir, 64 * 1024, 'fdatasync', false, faults);
    try {
      log.createSegment(0);
      log.write(0, 0, [new Uint8Array(64).fill(1)]);
      log.sync(0);
      failNext = true;
      expect(() => log.sync(0)).toThrow(/IO_ERROR/);
      const before = { ...seen };
      expect(() => log.write(0, 64, [new Uint8Array(64).fill(2)])).toThrow(/IO_ERROR/);
      expect(() => log.sync(0)).toThrow(/IO_ERROR/); // never retried
      expect(() => log.createSegment(1)).toThrow(/IO_ERROR/);
      expect(() => log.removeSegment(0)).toThrow(/IO_ERROR/);
      for (let i = 0; i < 8; i++) expect(log.idleWork(64 * 1024)).toBe(false); // no preallocation
      expect(seen).toEqual(before);
      expect(fs.existsSync(path.join(dir, 'spare.tmp'))).toBe(false);
      expect(log.segments()).toEqual([0]);
      expect(log.read(0, 64, 64).every((b) => b === 0)).toBe(true); // the refused write never reached the file
    } finally {
      log.close();
    }
  });
});
