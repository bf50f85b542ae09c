// Goal: the writer reads only from nodes that are in its own epoch. A node at an older epoch missed
// a fence (it may hold a fenced writer's frames at LSNs the current writer reuses); one at a newer
// epoch follows a newer writer. Either may answer with bytes that are not this writer's volume.
// Method: the Reader over a fake cluster whose nodes publish chosen epochs and SCLs; every read
// the fake receives is recorded.
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config.js';
import { Reader } from '../src/writer/reader.js';
import { isAuroralError } from '../src/index.js';

const WRITER_EPOCH = 2;

function fakeReader(nodes: { epoch: number; scl: number }[]) {
  const asked: number[] = [];
  const cluster = {
    isUp: () => true,
    paused: nodes.map(() => false),
    scl: (i: number) => nodes[i]!.scl,
    nodeEpoch: (i: number) => nodes[i]!.epoch,
    read: (i: number) => {
      asked.push(i);
      return Promise.resolve({ type: 'read-result', id: 0, status: 'ok', found: true, value: new TextEncoder().encode(`from node ${i}`), lsn: 1 });
    },
  };
  const control = { store64: () => {} };
  const link = { control, epoch: WRITER_EPOCH, store64: control.store64 };
  const commits = { vdl: 50, pendingLsn: () => 0 };
  const cache = { lookup: () => undefined, writeStamp: () => 0, fill: () => {} };
  const config = resolveConfig({ dir: '/nonexistent', nodes: nodes.length });
  // The fakes stand in for the classes the Reader takes; it only calls what they provide.
  const reader = new Reader(config, cluster as never, link as never, commits as never, cache as never, () => Promise.resolve(), () => false);
  return { reader, asked };
}

describe('reader node choice', () => {
  it('never reads from a node whose published epoch is not the writer\'s', async () => {
    // Only nodes 0 (older epoch) and 1 (newer epoch) have SCL >= the read point 50.
    const { reader, asked } = fakeReader([
      { epoch: 1, scl: 100 }, { epoch: 3, scl: 100 }, { epoch: WRITER_EPOCH, scl: 10 },
      { epoch: WRITER_EPOCH, scl: 10 }, { epoch: WRITER_EPOCH, scl: 10 }, { epoch: WRITER_EPOCH, scl: 10 },
    ]);
    const r = await reader.get(new TextEncoder().encode('k')).then((v) => v, (e: unknown) => e);
    expect(isAuroralError(r, 'READ_UNAVAILABLE')).toBe(true);
    expect(asked).toEqual([]);
  });

  it('reads from a node at the writer\'s epoch', async () => {
    const { reader, asked } = fakeReader([
      { epoch: 1, scl: 100 }, { epoch: WRITER_EPOCH, scl: 100 }, { epoch: WRITER_EPOCH, scl: 10 },
      { epoch: WRITER_EPOCH, scl: 10 }, { epoch: WRITER_EPOCH, scl: 10 }, { epoch: WRITER_EPOCH, scl: 10 },
    ]);
    const v = await reader.get(new TextEncoder().encode('k'));
    expect(new TextDecoder().decode(v)).toBe('from node 1');
    expect(asked).toEqual([1]);
  });
});
