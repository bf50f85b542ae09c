// The file-system port: one conformance suite run against node:fs and the fault-injecting FaultFs
// (so the storage code sees the same behaviour from both), then FaultFs's crash semantics: what a
// power cut keeps and loses, and why an fsync must never be retried.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FaultFs } from '../src/fs/fault-fs.js';
import { nodeFs } from '../src/fs/node-fs.js';
import type { FsPort } from '../src/fs/port.js';
import { Random } from '../src/shared/random.js';
import { tempDir } from './helpers.js';

const bytes = (s: string): Uint8Array => Buffer.from(s);
const text = (b: Uint8Array): string => Buffer.from(b).toString();

function conformance(name: string, make: () => { fs: FsPort; root: string }): void {
  describe(`fs port conformance: ${name}`, () => {
    it('reads back positional writes, with holes as zeros', () => {
      const { fs, root } = make();
      const f = path.join(root, 'a.log');
      const fd = fs.openSync(f, 'w+');
      expect(fs.writeSync(fd, bytes('hello'), 0, 5, 0)).toBe(5);
      expect(fs.writevSync(fd, [bytes('ab'), bytes('cd')], 10)).toBe(4);
      const out = new Uint8Array(20);
      expect(fs.readSync(fd, out, 0, 20, 0)).toBe(14);
      expect(text(out.subarray(0, 5))).toBe('hello');
      expect([...out.subarray(5, 10)]).toEqual([0, 0, 0, 0, 0]);
      expect(text(out.subarray(10, 14))).toBe('abcd');
      expect(fs.readSync(fd, out, 0, 4, 14)).toBe(0);
      fs.fdatasyncSync(fd);
      fs.closeSync(fd);
      expect(fs.statSync(f).size).toBe(14);
      expect(text(fs.readFileSync(f)).slice(10)).toBe('abcd');
    });

    it('lists, renames over, truncates and removes', () => {
      const { fs, root } = make();
      fs.mkdirSync(path.join(root, 'd', 'e'), { recursive: true });
      fs.mkdirSync(path.join(root, 'd'), { recursive: true }); // exists: fine with recursive
      const a = path.join(root, 'd', 'a');
      const b = path.join(root, 'd', 'b');
      for (const [p, s] of [[a, 'new'], [b, 'old-content']] as const) {
        const fd = fs.openSync(p, 'w');
        fs.writeSync(fd, bytes(s), 0, s.length, 0);
        fs.closeSync(fd);
      }
      expect(fs.readdirSync(path.join(root, 'd')).sort()).toEqual(['a', 'b', 'e']);
      fs.renameSync(a, b);
      expect(fs.existsSync(a)).toBe(false);
      expect(text(fs.readFileSync(b))).toBe('new');
      const fd = fs.openSync(b, 'r+');
      fs.ftruncateSync(fd, 1);
      fs.closeSync(fd);
      expect(text(fs.readFileSync(b))).toBe('n');
      expect(fs.statSync(path.join(root, 'd', 'e')).isDirectory()).toBe(true);
      fs.rmSync(path.join(root, 'd'), { recursive: true, force: true });
      expect(fs.existsSync(path.join(root, 'd'))).toBe(false);
      fs.rmSync(path.join(root, 'missing'), { force: true });
    });

    it('fails with the errno codes the storage code switches on', () => {
      const { fs, root } = make();
      const code = (f: () => unknown): string | undefined => {
        try {
          f();
          return undefined;
        } catch (e) {
          return (e as NodeJS.ErrnoException).code;
        }
      };
      expect(code(() => fs.openSync(path.join(root, 'nope'), 'r'))).toBe('ENOENT');
      expect(code(() => fs.readdirSync(path.join(root, 'nope')))).toBe('ENOENT');
      expect(code(() => fs.statSync(path.join(root, 'nope')))).toBe('ENOENT');
      const f = path.join(root, 'x');
      fs.closeSync(fs.openSync(f, 'w'));
      expect(code(() => fs.openSync(f, 'wx'))).toBe('EEXIST');
      expect(code(() => fs.mkdirSync(path.join(root, 'p', 'q')))).toBe('ENOENT');
      const dfd = fs.openSync(root, 'r');
      fs.fsyncSync(dfd); // a directory opens read-only and fsyncs
      fs.closeSync(dfd);
    });
  });
}

conformance('node:fs', () => ({ fs: nodeFs, root: tempDir('auroral-fsport-') }));
conformance('FaultFs', () => {
  const fs = new FaultFs();
  fs.mkdirSync('/vol', { recursive: true });
  return { fs, root: '/vol' };
});

describe('FaultFs crash semantics', () => {
  function durableDir(fs: FaultFs, dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    const parts = dir.split('/').filter(Boolean);
    for (let i = 0; i <= parts.length; i++) {
      const fd = fs.openSync('/' + parts.slice(0, i).join('/'), 'r');
      fs.fsyncSync(fd);
      fs.closeSync(fd);
    }
  }

  /** Writes a file and, with `sync`, makes its data and its name durable. */
  function writeFile(fs: FaultFs, p: string, content: Uint8Array, sync: boolean): void {
    const fd = fs.openSync(p, 'w');
    fs.writeSync(fd, content, 0, content.length, 0);
    if (sync) fs.fdatasyncSync(fd);
    fs.closeSync(fd);
    if (sync) {
      const dfd = fs.openSync(path.dirname(p), 'r');
      fs.fsyncSync(dfd);
      fs.closeSync(dfd);
    }
  }

  it('keeps synced data and names; loses or tears unsynced sectors at a power cut', () => {
    // Method: a synced 8-sector file is overwritten without a sync; over many seeds the cut must
    // give back only old or new bytes per 512-byte sector, sometimes a mix (torn), never anything else.
    const kinds = new Set<string>();
    for (let seed = 1; seed <= 40; seed++) {
      const fs = new FaultFs();
      durableDir(fs, '/v');
      writeFile(fs, '/v/f', new Uint8Array(4096).fill(1), true);
      const fd = fs.openSync('/v/f', 'r+');
      fs.writeSync(fd, new Uint8Array(4096).fill(2), 0, 4096, 0);
      fs.powerCut(new Random(seed));
      const after = fs.readFileSync('/v/f');
      expect(after.length).toBe(4096);
      const sectors = Array.from({ length: 8 }, (_, s) => {
        const sec = after.subarray(s * 512, s * 512 + 512);
        expect(sec.every((b) => b === sec[0])).toBe(true);
        expect([1, 2]).toContain(sec[0]);
        return sec[0];
      });
      kinds.add(sectors.every((b) => b === 1) ? 'old' : sectors.every((b) => b === 2) ? 'new' : 'torn');
      expect(() => fs.closeSync(fd)).toThrow(/EBADF/); // descriptors do not survive
    }
    expect(kinds).toEqual(new Set(['old', 'new', 'torn']));
  });

  it('loses a synced file whose name was never made durable (no directory fsync)', () => {
    const fs = new FaultFs();
    durableDir(fs, '/v');
    const fd = fs.openSync('/v/synced-but-unnamed', 'w');
    fs.writeSync(fd, bytes('data'), 0, 4, 0);
    fs.fdatasyncSync(fd);
    fs.powerCut(new Random(1));
    expect(fs.existsSync('/v/synced-but-unnamed')).toBe(false);
  });

  it('undoes a rename that was not followed by a directory fsync', () => {
    const fs = new FaultFs();
    durableDir(fs, '/v');
    writeFile(fs, '/v/meta', bytes('old'), true);
    writeFile(fs, '/v/meta.tmp', bytes('new'), true);
    fs.renameSync('/v/meta.tmp', '/v/meta');
    fs.powerCut(new Random(2));
    expect(text(fs.readFileSync('/v/meta'))).toBe('old');
    // The same with the directory fsync: the rename holds.
    fs.renameSync('/v/meta.tmp', '/v/meta');
    const fd = fs.openSync('/v', 'r');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.powerCut(new Random(3));
    expect(text(fs.readFileSync('/v/meta'))).toBe('new');
  });

  it('a retried fsync after EIO "succeeds" and the data is still lost (never retry)', () => {
    const fs = new FaultFs();
    durableDir(fs, '/v');
    writeFile(fs, '/v/log', new Uint8Array(512).fill(1), true);
    const fd = fs.openSync('/v/log', 'r+');
    fs.writeSync(fd, new Uint8Array(512).fill(9), 0, 512, 0);
    fs.failSync('/v/log');
    expect(() => fs.fdatasyncSync(fd)).toThrow(/EIO/);
    fs.fdatasyncSync(fd); // the retry returns without error...
    // ...but nothing was written: every cut gives back the old bytes.
    for (let seed = 1; seed <= 10; seed++) {
      fs.powerCut(new Random(seed));
      expect(fs.readFileSync('/v/log')[0]).toBe(1);
    }
    expect(fs.syncsOf('/v/log')).toBe(3);
  });

  it('refuses writes past its capacity with ENOSPC and damages sectors at rest', () => {
    const fs = new FaultFs();
    durableDir(fs, '/v');
    fs.capacityBytes = 1000;
    writeFile(fs, '/v/f', new Uint8Array(0), true);
    const fd = fs.openSync('/v/f', 'r+');
    fs.writeSync(fd, new Uint8Array(900).fill(7), 0, 900, 0);
    expect(() => fs.writeSync(fd, new Uint8Array(200), 0, 200, 900)).toThrow(/ENOSPC/);
    fs.writeSync(fd, new Uint8Array(100).fill(8), 0, 100, 0); // overwriting in place needs no space
    fs.fdatasyncSync(fd);
    fs.zero('/v/f', 512, 512);
    fs.flipBit('/v/f', 0, 3);
    fs.powerCut(new Random(5));
    const after = fs.readFileSync('/v/f');
    expect(after[0]).toBe(8 ^ 8);
    expect(after.subarray(512, 900).every((b) => b === 0)).toBe(true);
    expect(after[511]).toBe(7);
  });
});
