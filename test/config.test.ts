// Goal: every invalid option is rejected with INVALID_OPTION and a message naming it.
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config.js';

describe('config', () => {
  const bad: [string, object][] = [
    ['dir', {}],
    ['nodes', { nodes: 0 }],
    ['writeQuorum', { writeQuorum: 3 }],
    ['readQuorum', { readQuorum: 2 }],
    ['groupCommit.mode', { groupCommit: { mode: 'eager' } }],
    ['groupCommit.waitMicrosMax', { groupCommit: { waitMicrosMax: -1 } }],
    ['groupCommit.batchSize', { groupCommit: { batchSize: 3 } }],
    ['fsync', { fsync: 'maybe' }],
    ['logRingBytes', { logRingBytes: 100_000 }],
    ['nodeRingBytes', { nodeRingBytes: 1 << 16 }],
    ['commitTimeoutMs', { commitTimeoutMs: 1.5 }],
    ['keyBytesMax', { keyBytesMax: 70_000 }],
    ['segmentBytes', { segmentBytes: 1 << 16 }],
    ['colour', { colour: 'blue' }],
    ['metrics.stages', { metrics: { stages: 'yes' } }],
    ['metrics.sampleLsns', { metrics: { sampleLsns: 0 } }],
    ['metrics.sampleEvery', { metrics: { sampleEvery: 4 } }],
  ];
  for (const [name, opts] of bad) {
    it(`rejects a bad '${name}' naming the option`, () => {
      const o = name === 'dir' ? opts : { dir: '/tmp/x', ...opts };
      expect(() => resolveConfig(o as never)).toThrow(new RegExp(`INVALID_OPTION: option '${name.replace('.', '\\.')}'`));
    });
  }

  it('rejects a cacheBytesMax the page cache cannot index (2 GiB, 3 GiB), naming the option', () => {
    for (const cacheBytesMax of [2 ** 31, 3 * 2 ** 30]) {
      expect(() => resolveConfig({ dir: '/tmp/x', cacheBytesMax })).toThrow(/INVALID_OPTION: option 'cacheBytesMax'/);
    }
    expect(resolveConfig({ dir: '/tmp/x', cacheBytesMax: 2 ** 30 }).cacheBytesMax).toBe(2 ** 30);
  });

  it('fills defaults: 6 nodes, quorums 4/3', () => {
    const c = resolveConfig({ dir: '/tmp/x' });
    expect([c.nodes, c.writeQuorum, c.readQuorum, c.groupCommit.mode, c.fsync]).toEqual([6, 4, 3, 'adaptive', 'fdatasync']);
  });
});
