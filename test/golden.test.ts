// Goal: a volume written by an earlier build in the current on-disk format (test/fixtures/golden-v2,
// made by test/fixtures/make-golden.ts: page images from one coalescing cycle per node plus a
// hot-log tail with deletes, a transaction and a binary key) still opens with the current code,
// reads back exactly, and takes new writes. A change to the frame, record, image or volume.json
// encoding that forgets the format version fails here.
// Method: copy the fixture into a temp dir, check it with `auroral inspect`'s checker, open it with
// the options it was written with, read every expected key (cache off: from the nodes), write
// one key, reopen and read everything again.
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { open, type Database, type OpenOptions } from '../src/index.js';
import { inspectVolume } from '../src/cli/inspect.js';
import { FRAME_VERSION } from '../src/log/frame.js';
import { VOLUME_FORMAT } from '../src/recovery/volume.js';
import { EPOCH_FILE, LEGACY_EPOCH_FILE } from '../src/node/epoch-store.js';
import { tempDir } from './helpers.js';

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'golden-v2');

interface Expected {
  frameVersion: number;
  options: Omit<OpenOptions, 'dir'>;
  keys: Record<string, string | null>;
  binaryKeysHex: Record<string, string>;
}

const expected = JSON.parse(fs.readFileSync(path.join(fixture, 'expected.json'), 'utf8')) as Expected;

async function checkAll(db: Database): Promise<void> {
  for (const [k, v] of Object.entries(expected.keys)) {
    const got = await db.get(k);
    expect(got === undefined ? null : Buffer.from(got).toString('utf8'), k).toBe(v);
  }
  for (const [k, v] of Object.entries(expected.binaryKeysHex)) {
    const got = await db.get(Buffer.from(k, 'hex'));
    expect(got === undefined ? null : Buffer.from(got).toString('hex'), k).toBe(v);
  }
}

describe('golden on-disk fixture', () => {
  it('opens a volume written by an earlier build in frame format 2 and reads every key back', async () => {
    expect(expected.frameVersion).toBe(2);
    expect(FRAME_VERSION).toBe(expected.frameVersion); // a new version needs a new fixture beside this one
    const dir = path.join(tempDir(), 'vol');
    fs.cpSync(fixture, dir, { recursive: true, filter: (p) => path.basename(p) !== 'expected.json' });

    // What inspect checks: every frame's and image's CRC, each node's chain, the page images.
    const report = inspectVolume(dir);
    expect(report.damaged).toBe(false);
    expect(report.nodes).toBe(6);
    for (const n of report.perNode) {
      expect(n.scan).toBe('clean');
      expect(n.blocks?.ok).toBe(true);
      expect(n.blocks!.images).toBeGreaterThan(0);
      expect(n.scl).toBeGreaterThan(n.blocks!.coalesceLsn); // images AND a log tail above them
    }
    const sclWritten = report.quorumScl;

    const opts: OpenOptions = { ...expected.options, dir, cacheBytesMax: 0 };
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'volume.json'), 'utf8')).format).toBe(1);
    const db = await open(opts);
    let vdl: number;
    try {
      // Upgraded: volume.json says format 2 (a build that reads only format 1 refuses the volume
      // rather than read the nodes' epoch.slots as absent, epoch 0), and the nodes' epoch.json
      // files were superseded by epoch.slots at the open's fence.
      expect(JSON.parse(fs.readFileSync(path.join(dir, 'volume.json'), 'utf8')).format).toBe(VOLUME_FORMAT);
      for (let i = 0; i < 6; i++) {
        expect(fs.existsSync(path.join(dir, `node-${i}`, EPOCH_FILE))).toBe(true);
        expect(fs.existsSync(path.join(dir, `node-${i}`, LEGACY_EPOCH_FILE))).toBe(false);
      }
      expect(db.vdl).toBe(sclWritten); // a clean close: nothing to cut
      await checkAll(db);
      vdl = await db.put('written-by-current-code', 'hello');
      expect(vdl).toBeGreaterThan(sclWritten);
    } finally {
      await db.close();
    }
    const again = await open(opts);
    try {
      expect(again.vdl).toBeGreaterThanOrEqual(vdl);
      expect(Buffer.from((await again.get('written-by-current-code'))!).toString()).toBe('hello');
      await checkAll(again);
    } finally {
      await again.close();
    }
    expect(inspectVolume(dir).damaged).toBe(false);
  });
});
