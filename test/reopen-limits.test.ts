// Goal: the limits a volume was written with belong to the volume, not to the options of a later
// open. Reopening with smaller frame limits (batchBytesMax, mtrBytesMax) or smaller record limits
// (keyBytesMax, valueBytesMax) must either work with every acknowledged key readable, or be
// refused with INVALID_OPTION naming the option: never VOLUME_CORRUPT, never a truncation.
// Method: real threads and files. Write with large limits and many puts in flight (so frames are
// large), check on disk that some frame is larger than the later open allows, close, reopen with
// the smaller limits, read every key back.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { open, isAuroralError } from '../src/index.js';
import { FsHotLog } from '../src/node/hotlog.js';
import { scanHotLog } from '../src/log/scanner.js';
import { nodeLogDir } from '../src/node/paths.js';
import { readVolume, writeVolume, type VolumeFile } from '../src/recovery/volume.js';
import { smallOptions, tempDir, text } from './helpers.js';

const KiB = 1024;
/** A large value in a failure message: its length and its end, not 40 KiB of it. */
const brief = (v: string | undefined): string => (v === undefined ? 'undefined' : `${v.length} bytes ending ${v.slice(-6)}`);

/** Largest frame payload in node 0's log (scanned with the segment as the only limit). */
function largestPayload(dir: string, segmentBytes: number): number {
  const log = new FsHotLog(nodeLogDir(dir, 0), segmentBytes, 'fdatasync', true);
  try {
    return Math.max(0, ...scanHotLog(log, segmentBytes).frames.map((f) => f.header.payloadBytes));
  } finally {
    log.close();
  }
}

describe('reopen with other limits', () => {
  it('reopens a volume written with larger frames under smaller batchBytesMax and mtrBytesMax, every key there', async () => {
    const dir = tempDir();
    const big = smallOptions(dir, { groupCommit: { batchBytesMax: 256 * KiB }, mtrBytesMax: 64 * KiB, nodeRingBytes: 2 << 20 });
    const db = await open(big);
    const n = 1500;
    const value = (i: number) => `${i}:`.padEnd(700, 'v');
    try {
      // Many puts in flight: the adaptive policy accumulates them into frames up to batchBytesMax.
      for (let round = 0; round < 3; round++) {
        await Promise.all(Array.from({ length: n }, (_, i) => db.put(`r${round}k${i}`, value(i))));
      }
    } finally {
      await db.close();
    }
    // Precondition: some frame is larger than the reopening options allow (64 KiB + 64 KiB payload).
    expect(largestPayload(dir, 1 << 20)).toBeGreaterThan(128 * KiB);
    const again = await open(smallOptions(dir, { groupCommit: { batchBytesMax: 64 * KiB }, mtrBytesMax: 64 * KiB }));
    try {
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < n; i += 37) expect(text(await again.get(`r${round}k${i}`))).toBe(value(i));
        expect(text(await again.get(`r${round}k${n - 1}`))).toBe(value(n - 1));
      }
      await again.put('after', 'reopen'); // and it takes writes under its own limits
    } finally {
      await again.close();
    }
    // A third open under the small limits still finds the large frames valid (the limit is the volume's).
    const third = await open(smallOptions(dir, { groupCommit: { batchBytesMax: 64 * KiB }, mtrBytesMax: 64 * KiB }));
    try {
      expect(text(await third.get('r0k0'))).toBe(value(0));
      expect(text(await third.get('after'))).toBe('reopen');
    } finally {
      await third.close();
    }
    const v = JSON.parse(fs.readFileSync(path.join(dir, 'volume.json'), 'utf8')) as { frameBytesMax?: number };
    expect(v.frameBytesMax).toBe(64 + 256 * KiB + 64 * KiB); // the largest frame any open allowed
  });

  it('reopens with smaller keyBytesMax and valueBytesMax than were written: values readable, long keys refused by name, never VOLUME_CORRUPT', async () => {
    const dir = tempDir();
    const big = smallOptions(dir, { keyBytesMax: 512, valueBytesMax: 48 * KiB, mtrBytesMax: 128 * KiB, groupCommit: { batchBytesMax: 128 * KiB },
      nodeRingBytes: 2 << 20 });
    const db = await open(big);
    const longKey = 'L'.repeat(400);
    const bigValue = 'B'.repeat(40 * KiB);
    try {
      // Whole-MTR frames of ~40 KiB values, cut together: frames up to ~250 KiB of payload.
      await Promise.all([
        db.put(longKey, 'long-key-value'),
        ...Array.from({ length: 24 }, (_, i) => db.put(`big${i}`, bigValue + i)),
      ]);
    } finally {
      await db.close();
    }
    expect(largestPayload(dir, 1 << 20)).toBeGreaterThan(64 * KiB + 32 * KiB);
    // Smaller record limits, and the smaller MTR and batch limits they allow.
    let again;
    try {
      again = await open(smallOptions(dir, { keyBytesMax: 64, valueBytesMax: 8 * KiB, mtrBytesMax: 32 * KiB, groupCommit: { batchBytesMax: 32 * KiB } }));
    } catch (e) {
      // The other allowed outcome: refused, naming the option.
      expect(isAuroralError(e, 'INVALID_OPTION')).toBe(true);
      expect((e as Error).message).toMatch(/keyBytesMax|valueBytesMax|mtrBytesMax|batchBytesMax/);
      return;
    }
    try {
      for (let i = 0; i < 24; i++) expect(brief(text(await again.get(`big${i}`)))).toBe(brief(bigValue + i)); // larger than valueBytesMax now
      // A key longer than this open's keyBytesMax is a request this open refuses, by name.
      await expect(again.get(longKey)).rejects.toThrow(/KEY_TOO_LARGE.*keyBytesMax/);
      await expect(again.put('new', 'B'.repeat(9 * KiB))).rejects.toThrow(/VALUE_TOO_LARGE/);
    } finally {
      await again.close();
    }
    // The long key is intact: an open with the original limits reads it.
    const orig = await open(big);
    try {
      expect(text(await orig.get(longKey))).toBe('long-key-value');
    } finally {
      await orig.close();
    }
  });

  it('never lowers the recorded frame limit, and takes the segment as the limit of a volume.json without it', () => {
    const dir = tempDir();
    const v: VolumeFile = { format: 1, nodes: 6, pageCount: 16, segmentBytes: 1 << 20, epoch: 1, history: [], frameBytesMax: 300 * KiB };
    writeVolume(dir, v);
    writeVolume(dir, { ...v, epoch: 2, frameBytesMax: 100 * KiB }); // a later open with smaller limits
    expect(readVolume(dir)!.frameBytesMax).toBe(300 * KiB);
    // An older volume.json (no field) may hold frames up to a segment: the first rewrite keeps that bound.
    fs.writeFileSync(path.join(dir, 'volume.json'), JSON.stringify({ ...v, frameBytesMax: undefined }));
    writeVolume(dir, { ...v, epoch: 3, frameBytesMax: 100 * KiB });
    expect(readVolume(dir)!.frameBytesMax).toBe(1 << 20);
  });
});
