// Goal: sweep specs parse into typed values, the grid is every combination in order, and a bad
// path or value is refused before anything runs.
import { describe, expect, it } from 'vitest';
import { buildGrid, parseKnob, pointLabel, setPath } from '../src/bench/sweep.js';
import { defaultParams } from '../src/workload/index.js';

describe('sweeps', () => {
  it('parses numbers, booleans and strings', () => {
    expect(parseKnob('--sweep', 'groupCommit.waitMicrosMax=0,200').values).toEqual([0, 200]);
    expect(parseKnob('--sweep', 'metrics.stages=true,false').values).toEqual([true, false]);
    expect(parseKnob('--sweep', 'fsync=fdatasync,none').values).toEqual(['fdatasync', 'none']);
    expect(() => parseKnob('--sweep', 'dir=/tmp')).toThrow(/set by the bench driver/);
    expect(() => parseKnob('--sweep', 'a..b=1')).toThrow(/not a dotted option path/);
  });

  it('spans the grid, first sweep outermost, with fixed knobs on every point', () => {
    const grid = buildGrid(defaultParams, [parseKnob('--set', 'fsync=none')],
      [parseKnob('--sweep', 'groupCommit.mode=adaptive,timed'), parseKnob('--sweep', 'inflight=1,16,256')]);
    expect(grid.map(pointLabel)).toEqual([
      'groupCommit.mode=adaptive inflight=1', 'groupCommit.mode=adaptive inflight=16', 'groupCommit.mode=adaptive inflight=256',
      'groupCommit.mode=timed inflight=1', 'groupCommit.mode=timed inflight=16', 'groupCommit.mode=timed inflight=256',
    ]);
    expect(grid[4]!.params.inflight).toBe(16);
    expect(grid[4]!.options).toEqual({ fsync: 'none', groupCommit: { mode: 'timed' } });
    expect(defaultParams.inflight).toBe(64); // the base was copied, not changed
  });

  it('refuses unknown options, bad values, duplicates and huge grids', () => {
    expect(() => buildGrid(defaultParams, [], [parseKnob('--sweep', 'groupCommit.bogus=1')])).toThrow(/INVALID_OPTION: option 'groupCommit\.bogus'/);
    expect(() => buildGrid(defaultParams, [], [parseKnob('--sweep', 'fsync=sometimes')])).toThrow(/option 'fsync' must be one of/);
    expect(() => buildGrid(defaultParams, [], [parseKnob('--sweep', 'readPercent=50,101')])).toThrow(/at most 100/);
    expect(() => buildGrid(defaultParams, [parseKnob('--set', 'inflight=2')], [parseKnob('--sweep', 'inflight=1,3')])).toThrow(/given twice/);
    const big = Array.from({ length: 64 }, (_, i) => i + 1).join(',');
    expect(() => buildGrid(defaultParams, [], [parseKnob('--sweep', `inflight=${big}`), parseKnob('--sweep', `keys=${big}`)])).toThrow(/at most 256/);
  });

  it('sets nested paths without touching siblings', () => {
    const o: Record<string, unknown> = { groupCommit: { mode: 'timed' } };
    setPath(o, 'groupCommit.waitMicrosMax', 5);
    expect(o).toEqual({ groupCommit: { mode: 'timed', waitMicrosMax: 5 } });
    expect(() => setPath({ fsync: 'none' }, 'fsync.x', 1)).toThrow(/not an object option/);
  });
});
