// A node's epoch file (src/node/epoch-store.ts): two slots in one preallocated file, one write and
// one fdatasync per save. Goal: a crash at any point of a save leaves the old or the new state,
// never epoch 0 and never a mix; a damaged file fails loudly; volumes with the older epoch.json
// keep their state; and a save costs one data sync, not a rename and two fsyncs.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FaultFs } from '../src/fs/fault-fs.js';
import { Random } from '../src/shared/random.js';
import { EPOCH_FILE, EPOCH_SLOT_BYTES, FsEpochStore, LEGACY_EPOCH_FILE, type EpochState } from '../src/node/epoch-store.js';
import { writeFileAtomic } from '../src/shared/fsync-dir.js';

const state = (epoch: number, records = 1): EpochState =>
  ({ epoch, history: Array.from({ length: records }, (_, i) => ({ epoch: epoch - records + i + 1, vdl: 1000 * (epoch - records + i + 1) })), recovered: epoch - 1 });

function volume(): FaultFs {
  const io = new FaultFs();
  io.mkdirSync('/v/node-0', { recursive: true });
  io.fsyncSync(io.openSync('/', 'r'));
  io.fsyncSync(io.openSync('/v', 'r'));
  io.fsyncSync(io.openSync('/v/node-0', 'r'));
  return io;
}

describe('FsEpochStore', () => {
  it('round-trips every save, alternating slots, from a fresh store instance too', () => {
    const io = volume();
    const store = new FsEpochStore('/v/node-0', io);
    expect(store.load()).toEqual({ epoch: 0, history: [], recovered: 0 });
    for (let e = 1; e <= 7; e++) {
      store.save(state(e, e));
      expect(new FsEpochStore('/v/node-0', io).load()).toEqual(state(e, e));
    }
    expect(io.readFileSync(path.join('/v/node-0', EPOCH_FILE)).length).toBe(2 * EPOCH_SLOT_BYTES);
    // The largest state the history cap allows fits a slot.
    const big: EpochState = { epoch: Number.MAX_SAFE_INTEGER, history: Array.from({ length: 4096 }, () => ({ epoch: Number.MAX_SAFE_INTEGER, vdl: Number.MAX_SAFE_INTEGER })), recovered: Number.MAX_SAFE_INTEGER };
    store.save(big);
    expect(new FsEpochStore('/v/node-0', io).load()).toEqual(big);
  });

  it('costs one data sync per save after the first (no temp file, rename or directory sync)', () => {
    const io = volume();
    const store = new FsEpochStore('/v/node-0', io);
    store.load();
    store.save(state(1));
    const ops: string[] = [];
    io.onOp = (op, p) => ops.push(`${op} ${path.basename(p)}`);
    const before = { ...io.stats };
    store.save(state(2));
    expect(io.stats.fileSyncs - before.fileSyncs).toBe(1);
    expect(io.stats.dirSyncs - before.dirSyncs).toBe(0);
    expect(ops).toEqual([`write ${EPOCH_FILE}`, `sync ${EPOCH_FILE}`]);
    // A store that loaded the file first makes what it read durable: one more write and sync, once.
    const reopened = new FsEpochStore('/v/node-0', io);
    expect(reopened.load()).toEqual(state(2));
    ops.length = 0;
    reopened.save(state(3));
    reopened.save(state(4));
    expect(ops).toEqual([`write ${EPOCH_FILE}`, `sync ${EPOCH_FILE}`, `write ${EPOCH_FILE}`, `sync ${EPOCH_FILE}`, `write ${EPOCH_FILE}`, `sync ${EPOCH_FILE}`]);
    expect(new FsEpochStore('/v/node-0', io).load()).toEqual(state(4));
  });

  it('a power cut during a save leaves the old or the new state, over many seeds', () => {
    const seen = new Set<number>();
    for (let seed = 1; seed <= 60; seed++) {
      const io = volume();
      const store = new FsEpochStore('/v/node-0', io);
      store.save(state(5, 3));
      store.save(state(6, 4)); // both slots written and synced
      // The next save's write reaches the page cache, then the power goes before its sync.
      io.onOp = (op) => {
        if (op === 'sync') throw Object.assign(new Error('power cut before the sync'), { code: 'ECUT' });
      };
      expect(() => store.save(state(7, 40))).toThrow('power cut');
      io.onOp = null;
      io.powerCut(new Random(seed));
      const got = new FsEpochStore('/v/node-0', io).load();
      expect([6, 7]).toContain(got.epoch);
      expect(got).toEqual(got.epoch === 6 ? state(6, 4) : state(7, 40));
      seen.add(got.epoch);
    }
    expect(seen).toEqual(new Set([6, 7])); // both outcomes happen: the test can tell them apart
  });

  // A load can see a slot that is only in the page cache: its save's fdatasync failed (EIO: Linux
  // marks the pages clean without writing them) or the process died before the sync returned. The
  // next save must not overwrite the other slot, the only durable one, before that state is made
  // durable: a power cut during it would leave a torn slot and the state from before both.
  for (const how of ['EIO on the sync', 'kill -9 before the sync'] as const) {
    it(`a state that may not be durable is never the only copy left (${how}, then a power cut)`, () => {
      const outcomes = new Set<number>();
      for (let seed = 1; seed <= 60; seed++) {
        for (const cutAtSync of [1, 2]) {
          const io = volume();
          const file = path.join('/v/node-0', EPOCH_FILE);
          let store = new FsEpochStore('/v/node-0', io);
          for (let e = 1; e <= 3; e++) store.save(state(e, 40)); // 40 records: a slot spans several sectors
          if (how === 'EIO on the sync') {
            io.failSync(file);
            expect(() => store.save(state(4, 40))).toThrow(expect.objectContaining({ code: 'EIO' }));
          } else {
            io.onOp = (op) => {
              if (op === 'sync') throw Object.assign(new Error('killed before the sync'), { code: 'EKILL' });
            };
            expect(() => store.save(state(4, 40))).toThrow('killed');
            io.onOp = null;
          }
          io.processCrash();
          store = new FsEpochStore('/v/node-0', io);
          expect(store.load().epoch).toBe(4); // what the page cache holds
          let syncs = 0;
          io.onOp = (op) => {
            if (op === 'sync' && ++syncs === cutAtSync) throw Object.assign(new Error('power cut'), { code: 'ECUT' });
          };
          try {
            store.save(state(5, 40));
          } catch (e) {
            expect((e as Error).message).toBe('power cut');
          }
          io.onOp = null;
          io.powerCut(new Random(seed));
          const got = new FsEpochStore('/v/node-0', io).load();
          expect(got.epoch).toBeGreaterThanOrEqual(3); // epoch 3 was acknowledged: never forgotten
          expect(got).toEqual(state(got.epoch, 40));
          outcomes.add(got.epoch);
        }
      }
      expect(outcomes.has(3)).toBe(true);
    });
  }

  it('a file with neither slot intact fails loudly, never reads as epoch 0', () => {
    const io = volume();
    const store = new FsEpochStore('/v/node-0', io);
    store.save(state(3));
    store.save(state(4));
    io.flipBit(path.join('/v/node-0', EPOCH_FILE), 40);
    expect(new FsEpochStore('/v/node-0', io).load()).toEqual(state(3)); // slot 0 (seq 2) damaged: slot 1 is older but intact
    io.flipBit(path.join('/v/node-0', EPOCH_FILE), EPOCH_SLOT_BYTES + 40);
    expect(() => new FsEpochStore('/v/node-0', io).load()).toThrow(expect.objectContaining({ code: 'CORRUPT_RECORD' }));
  });

  it('reads epoch.json of older volumes and supersedes it at the first save', () => {
    const io = volume();
    writeFileAtomic(path.join('/v/node-0', LEGACY_EPOCH_FILE), JSON.stringify({ epoch: 9, history: [{ epoch: 9, vdl: 77 }] }), io);
    const store = new FsEpochStore('/v/node-0', io);
    expect(store.load()).toEqual({ epoch: 9, history: [{ epoch: 9, vdl: 77 }], recovered: 0 });
    store.save(state(10));
    expect(io.existsSync(path.join('/v/node-0', LEGACY_EPOCH_FILE))).toBe(false);
    io.powerCut(new Random(3)); // the slot file was created durably; epoch.json's removal may be lost
    expect(new FsEpochStore('/v/node-0', io).load()).toEqual(state(10));
  });
});
