// Goal: a flipped bit on one node's disk is never served, is found by scrub, and is repaired
// from a peer.
// Method: real volume, writer cache off (reads go to nodes); flip a bit inside a value in node
// 3's oldest segment; read everything many times (never a wrong byte); wait for scrub; then read
// with node 3 as the only node answering.
import { describe, expect, it } from 'vitest';
import { open } from '../src/index.js';
import { smallOptions, tempDir, text, waitFor } from './helpers.js';

describe('scrub', () => {
  it('never serves a flipped bit, finds it, and repairs it from a peer', async () => {
    const db = await open(smallOptions(tempDir(), { cacheBytesMax: 0, scrubIntervalMs: 50, readTimeoutMs: 200 }));
    try {
      // The first put is alone in the first frame: record at 64, key (4 bytes) at 96, value at 100.
      await db.put('k000', 'v'.repeat(64));
      await Promise.all(Array.from({ length: 199 }, (_, i) => db.put(`k${String(i + 1).padStart(3, '0')}`, 'v'.repeat(64))));
      const hit = db.faults.corruptByte(3, undefined, 100 + 10);
      expect(hit.file).toMatch(/log/);
      // Every read is right, whichever node serves it; node 3 refuses the damaged value.
      for (let r = 0; r < 20; r++) expect(text(await db.get('k000'))).toBe('v'.repeat(64));
      const n3 = () => db.stats().nodes[3]!;
      expect(await waitFor(() => n3().scrubRepairs >= 1, 10_000)).toBe(true);
      expect(n3().scrubErrors).toBeGreaterThanOrEqual(1);
      // Repaired: with every other node muted, node 3 alone serves the right bytes.
      for (const i of [0, 1, 2, 4, 5]) db.faults.muteNode(i);
      expect(text(await db.get('k000'))).toBe('v'.repeat(64));
      expect(text(await db.get('k150'))).toBe('v'.repeat(64));
    } finally {
      await db.close();
    }
  });

  it('reports a damaged page image and still serves only good bytes', async () => {
    const db = await open(smallOptions(tempDir(), {
      cacheBytesMax: 0, scrubIntervalMs: 50, segmentBytes: 256 * 1024, groupCommit: { batchBytesMax: 32 * 1024 },
      mtrBytesMax: 32 * 1024, valueBytesMax: 8 * 1024, pageCount: 64,
    }));
    try {
      for (let round = 0; round < 30; round++) await Promise.all(Array.from({ length: 200 }, (_, i) => db.put(`key-${i}`, `${round}:${'x'.repeat(200)}`)));
      expect(await waitFor(() => db.stats().nodes[3]!.coalesceCycles > 0, 10_000)).toBe(true);
      const blockFile = (await import('node:fs')).readdirSync(`${db.config.dir}/node-3/blocks`)[0]!;
      db.faults.corruptByte(3, `blocks/${blockFile}`, 40 + 16 + 9 + 5); // inside the first value of the first image
      expect(await waitFor(() => db.stats().nodes[3]!.scrubBlockErrors >= 1, 10_000)).toBe(true);
      const got = await Promise.all(Array.from({ length: 200 }, (_, i) => db.get(`key-${i}`)));
      expect(got.every((v) => text(v) === `29:${'x'.repeat(200)}`)).toBe(true);
    } finally {
      await db.close();
    }
  });
});
