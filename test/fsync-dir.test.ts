// Goal: every directory Auroral creates is durable: its name is synced in its parent (the volume
// directory, each node's directory, its log and blocks directories). Without that a power cut can
// lose a whole directory whose files were all synced.
// Method: (1) the helper with an injected directory sync: it syncs the parent of each directory it
// created and nothing when the directory exists; (2) the callers, with the helper's module mocked
// to record every directory synced while the real code runs on a temp directory. The node threads
// run from dist/ (not mocked), so (2) builds the node-side stores directly and opens a volume only
// to see the main thread create the volume directory.
import * as path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { FaultFs } from '../src/fs/fault-fs.js';
import { nodeFs } from '../src/fs/node-fs.js';
import type { FsPort } from '../src/fs/port.js';
import { Random } from '../src/shared/random.js';
import { tempDir, smallOptions } from './helpers.js';

const synced: string[] = [];
vi.mock('../src/shared/fsync-dir.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/shared/fsync-dir.js')>();
  return {
    ...real,
    mkdirDurable: (dir: string, io?: FsPort) => real.mkdirDurable(dir, io, (d) => {
      synced.push(d);
      real.fsyncDir(d, io);
    }),
  };
});

const { mkdirDurable, fsyncDir } = await vi.importActual<typeof import('../src/shared/fsync-dir.js')>('../src/shared/fsync-dir.js');
const { FsHotLog } = await import('../src/node/hotlog.js');
const { FsBlockStorage } = await import('../src/node/blocks.js');
const { FsEpochStore } = await import('../src/node/epoch-store.js');
const { open } = await import('../src/index.js');

describe('durable directories', () => {
  it('syncs the parent of every directory it creates, and nothing when the directory exists', () => {
    const root = tempDir();
    const calls: string[] = [];
    const sync = (d: string) => {
      calls.push(d);
      fsyncDir(d);
    };
    mkdirDurable(path.join(root, 'a', 'b', 'c'), nodeFs, sync);
    expect(calls.sort()).toEqual([root, path.join(root, 'a'), path.join(root, 'a', 'b')].sort());
    calls.length = 0;
    mkdirDurable(path.join(root, 'a', 'b', 'c'), nodeFs, sync);
    expect(calls).toEqual([]);
    mkdirDurable(path.join(root, 'a', 'd'), nodeFs, sync);
    expect(calls).toEqual([path.join(root, 'a')]);
  });

  it('creates the node, log and blocks directories durably, and the volume directory at open', async () => {
    const root = tempDir();
    const nodeDir = path.join(root, 'vol', 'node-0');
    synced.length = 0;
    new FsHotLog(path.join(nodeDir, 'log'), 64 * 1024, 'fdatasync').close();
    new FsBlockStorage(path.join(root, 'vol', 'node-1')).close();
    new FsEpochStore(path.join(root, 'vol', 'node-2')).save({ epoch: 1, history: [] });
    // The parent of each new directory: the volume dir holds node-i, node-0 holds log, node-1 holds blocks.
    expect(synced).toEqual(expect.arrayContaining([root, path.join(root, 'vol'), nodeDir, path.join(root, 'vol', 'node-1')]));
    synced.length = 0;
    const db = await open(smallOptions(path.join(root, 'fresh')));
    await db.close();
    expect(synced).toContain(root); // the new volume directory's name, in its parent
  });

  it('keeps every directory and file the node stores made durable across a power cut (FaultFs)', () => {
    // The real stores over the fault-injecting file system: a name not synced in its parent would
    // vanish at the cut, taking its synced files with it.
    for (let seed = 1; seed <= 5; seed++) {
      const io = new FaultFs();
      const log = new FsHotLog('/vol/node-0/log', 64 * 1024, 'fdatasync', false, null, io);
      log.createSegment(0);
      log.write(0, 0, [new Uint8Array(100).fill(7)]);
      log.sync(0);
      const blocks = new FsBlockStorage('/vol/node-1', io);
      blocks.writeMeta({ format: 1, coalesceLsn: 5, blockSeq: -1 });
      new FsEpochStore('/vol/node-2', io).save({ epoch: 3, history: [], recovered: 0 });
      io.powerCut(new Random(seed));
      expect(io.readFileSync('/vol/node-0/log/0000000000000000.log').subarray(0, 100).every((b) => b === 7)).toBe(true);
      expect(new FsBlockStorage('/vol/node-1', io).readMeta().coalesceLsn).toBe(5);
      expect(new FsEpochStore('/vol/node-2', io).load().epoch).toBe(3);
    }
  });
});
