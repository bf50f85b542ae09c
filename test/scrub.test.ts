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

  it('repairs a damaged page image from a peer and serves only good bytes meanwhile', async () => {
    const db = await open(smallOptions(tempDir(), {
      cacheBytesMax: 0, scrubIntervalMs: 50, segmentBytes: 256 * 1024, groupCommit: { batchBytesMax: 32 * 1024 },
      mtrBytesMax: 32 * 1024, valueBytesMax: 8 * 1024, pageCount: 64,
    }));
    try {
      for (let round = 0; round < 30; round++) await Promise.all(Array.from({ length: 200 }, (_, i) => db.put(`key-${i}`, `${round}:${'x'.repeat(200)}`)));
      expect(await waitFor(() => db.stats().nodes[3]!.coalesceCycles > 0, 10_000)).toBe(true);
      const fs = await import('node:fs');
      db.setCoalescing(false); // let a running cycle finish, then damage the one block file
      expect(await waitFor(() => fs.readdirSync(`${db.config.dir}/node-3/blocks`).filter((n) => n.endsWith('.blk')).length === 1, 10_000)).toBe(true);
      const blockFile = fs.readdirSync(`${db.config.dir}/node-3/blocks`).find((n) => n.endsWith('.blk'))!;
      const cyclesBefore = db.stats().nodes[3]!.coalesceCycles;
      db.faults.corruptByte(3, `blocks/${blockFile}`, 40 + 16 + 9 + 5); // inside the first image
      db.setCoalescing(true);
      const got = await Promise.all(Array.from({ length: 200 }, (_, i) => db.get(`key-${i}`)));
      expect(got.every((v) => text(v) === `29:${'x'.repeat(200)}`)).toBe(true);
      const n3 = () => db.stats().nodes[3]!;
      // Detected, rewritten (a cycle after the damage), and then node 3 alone serves every value right.
      expect(await waitFor(() => n3().scrubBlockErrors >= 1 && n3().blockRepairs >= 1 && n3().coalesceCycles > cyclesBefore, 10_000)).toBe(true);
      for (const i of [0, 1, 2, 4, 5]) db.faults.muteNode(i);
      const only3 = await Promise.all(Array.from({ length: 200 }, (_, i) => db.get(`key-${i}`)));
      expect(only3.every((v) => text(v) === `29:${'x'.repeat(200)}`)).toBe(true);
      const errors = n3().scrubBlockErrors;
      const passes = n3().scrubPasses;
      expect(await waitFor(() => n3().scrubPasses >= passes + 2, 10_000)).toBe(true);
      expect(n3().scrubBlockErrors).toBe(errors);
    } finally {
      await db.close();
    }
  });

  it('replaces a damaged value in a page image with the exact version from a peer', async () => {
    const fs = await import('node:fs');
    const db = await open(smallOptions(tempDir(), {
      cacheBytesMax: 0, scrubIntervalMs: 50, segmentBytes: 256 * 1024, groupCommit: { batchBytesMax: 32 * 1024 },
      mtrBytesMax: 32 * 1024, valueBytesMax: 8 * 1024, pageCount: 64,
    }));
    try {
      for (let round = 0; round < 30; round++) await Promise.all(Array.from({ length: 200 }, (_, i) => db.put(`key-${i}`, `${round}:${'x'.repeat(200)}`)));
      const n3 = () => db.stats().nodes[3]!;
      // Drive cycles with unrelated writes until node 3's images hold the final versions (a value
      // only matters if a version still points at it).
      const vdl = db.vdl;
      for (let b = 0; b < 200 && n3().coalesceLsn < vdl; b++) {
        await Promise.all(Array.from({ length: 200 }, (_, i) => db.put(`filler-${b}-${i}`, 'f'.repeat(200))));
      }
      expect(n3().coalesceLsn).toBeGreaterThanOrEqual(vdl);
      db.setCoalescing(false); // keep this block file in place while we damage it...
      const dir = `${db.config.dir}/node-3/blocks`;
      // ...once a cycle that was already running has finished (it deletes the file it replaces).
      expect(await waitFor(() => fs.readdirSync(dir).filter((n) => n.endsWith('.blk')).length === 1, 10_000)).toBe(true);
      const file = fs.readdirSync(dir).find((n) => n.endsWith('.blk'))!;
      const head = Buffer.alloc(48);
      const fd = fs.openSync(`${dir}/${file}`, 'r');
      fs.readSync(fd, head, 0, 48, 0);
      fs.closeSync(fd);
      const keyBytes = head.readUInt16LE(40); // first entry of the first image
      const cyclesBefore = n3().coalesceCycles;
      db.faults.corruptByte(3, `blocks/${file}`, 40 + 16 + keyBytes + 7); // inside its value
      db.setCoalescing(true);
      // Reads never see the damage; node 3 refuses the value and fetches that exact version.
      const got = await Promise.all(Array.from({ length: 200 }, (_, i) => db.get(`key-${i}`)));
      expect(got.every((v) => text(v) === `29:${'x'.repeat(200)}`)).toBe(true);
      // The rewrite used the exact version fetched from a peer, and completed.
      expect(await waitFor(() => n3().blockValuesReplaced >= 1 && n3().coalesceCycles > cyclesBefore, 10_000)).toBe(true);
      expect(n3().blockRepairs).toBeGreaterThanOrEqual(1);
      for (const i of [0, 1, 2, 4, 5]) db.faults.muteNode(i);
      const only3 = await Promise.all(Array.from({ length: 200 }, (_, i) => db.get(`key-${i}`)));
      expect(only3.every((v) => text(v) === `29:${'x'.repeat(200)}`)).toBe(true);
    } finally {
      await db.close();
    }
  });
});
