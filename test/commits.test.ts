// Goal: the writer's commit pipeline (src/writer/commits.ts) resolves in LSN order, keeps a key
// "pending" (reads of it wait) exactly while a write of it may still become durable, and holds no
// more than the LSN allocation limit (LAL) of anything, also when commits time out.
// Method: drive CommitPipeline directly (it is sans-I/O: time is a parameter); a fast-check model
// run over random allocate / add / expire / advance sequences checks the bounds.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CommitPipeline } from '../src/writer/commits.js';
import type { AuroralError } from '../src/errors.js';

interface Outcome { lsn?: number; error?: AuroralError }

/** Allocates `keys.length` LSNs and registers one commit holding them; returns its outcome box. */
function commit(p: CommitPipeline, keys: string[], nowMs: number): Outcome & { cpl: number } {
  const first = p.allocate(keys.length);
  const cpl = first + keys.length - 1;
  const out: Outcome & { cpl: number } = { cpl };
  p.add(cpl, keys.length === 1 ? keys[0]! : keys, nowMs, (lsn) => { out.lsn = lsn; }, (e) => { out.error = e; });
  return out;
}

describe('commit pipeline', () => {
  it('releases the pending keys of timed-out commits once VDL covers them, and reads wait until then', async () => {
    const p = new CommitPipeline(0, 1, 16, 100);
    const a = commit(p, ['a'], 0);
    const bc = commit(p, ['b', 'c'], 0);
    expect(p.expire(200)).toBeNull();
    expect(a.error?.code).toBe('QUORUM_UNAVAILABLE');
    expect(bc.error?.code).toBe('QUORUM_UNAVAILABLE');
    expect(p.pending).toBe(0);
    // Outcome unknown: the records may still become durable, so reads of their keys still wait.
    expect(p.pendingLsn('a')).toBe(1);
    expect(p.pendingLsn('c')).toBe(3);
    let durable = false;
    void p.waitDurable(p.pendingLsn('c'))!.then(() => { durable = true; });
    p.advance(1);
    expect(p.pendingLsn('a')).toBe(0);
    expect(p.pendingLsn('b')).toBe(3);
    p.advance(3);
    await Promise.resolve();
    expect(durable).toBe(true);
    expect([p.pendingLsn('a'), p.pendingLsn('b'), p.pendingLsn('c')]).toEqual([0, 0, 0]);
    expect(p.pendingKeyCount).toBe(0);
    expect(p.acknowledged).toBe(0); // timed out stays timed out: never acknowledged late
    expect(p.timedOut).toBe(2);
  });

  it('keeps a key pending for a newer write when an older timed-out write of it is released', () => {
    const p = new CommitPipeline(0, 1, 16, 100);
    commit(p, ['k'], 0);
    p.expire(200);
    const newer = commit(p, ['k'], 300);
    p.advance(1);
    expect(p.pendingLsn('k')).toBe(2);
    p.advance(2);
    expect(newer.lsn).toBe(2);
    expect(p.pendingLsn('k')).toBe(0);
  });

  it('keeps the keys of commits rejected with an unknown outcome (disk full) pending until durable', () => {
    const p = new CommitPipeline(0, 1, 16, 100);
    const c = commit(p, ['k'], 0);
    p.rejectAll({ code: 'DISK_FULL' } as AuroralError); // as the writer does when too many disks are full
    expect(c.error?.code).toBe('DISK_FULL');
    expect(p.pendingLsn('k')).toBe(1);
    p.advance(1);
    expect(p.pendingLsn('k')).toBe(0);
    expect(p.pendingKeyCount).toBe(0);
  });

  it('allocates after a recovery whose LSN jump is larger than the LAL', () => {
    // Recovery continues LSNs above every LSN any node saw (lsnNext can be far above VDL); those
    // LSNs are never this writer's, so they must not count against its LAL.
    const p = new CommitPipeline(100, 1000, 16, 100);
    expect(p.canAllocate(16)).toBe(true);
    const c = commit(p, Array.from({ length: 16 }, (_, i) => `k${i}`), 0);
    expect(c.cpl).toBe(1015);
    expect(p.canAllocate(1)).toBe(false); // 16 outstanding: the LAL holds
    p.advance(1015);
    expect(c.lsn).toBe(1015);
    expect(p.canAllocate(16)).toBe(true);
  });

  it('holds at most LAL commits and pending keys under any mix of commits, timeouts and VDL moves', () => {
    const LAL = 16;
    const step = fc.oneof(
      fc.record({ kind: fc.constant('commit' as const), records: fc.integer({ min: 1, max: 5 }), key: fc.integer({ min: 0, max: 1000 }) }),
      fc.record({ kind: fc.constant('expire' as const) }),
      fc.record({ kind: fc.constant('advance' as const), by: fc.integer({ min: 0, max: 8 }) }),
    );
    fc.assert(fc.property(fc.array(step, { maxLength: 300 }), fc.integer({ min: 0, max: 1000 }), (steps, jump) => {
      const p = new CommitPipeline(50, 51 + jump, LAL, 10);
      let now = 0;
      let nextKey = 0;
      const outcomes: (Outcome & { cpl: number })[] = [];
      for (const s of steps) {
        now++;
        if (s.kind === 'commit') {
          if (!p.canAllocate(s.records)) continue;
          // Distinct keys (a leak shows as growth) plus one shared key (overwrites).
          const keys = Array.from({ length: s.records }, (_, i) => (i === 0 && s.key % 3 === 0 ? 'shared' : `k${nextKey++}`));
          outcomes.push(commit(p, [...new Set(keys)], now));
        } else if (s.kind === 'expire') {
          p.expire(now + 20);
        } else {
          // VDL moves to an MTR end (frames never split one): leave the newest `by` commits out.
          const target = outcomes[outcomes.length - 1 - s.by];
          if (target !== undefined) p.advance(target.cpl);
        }
        expect(p.pending + p.unknownCount).toBeLessThanOrEqual(LAL);
        expect(p.pendingKeyCount).toBeLessThanOrEqual(LAL);
        for (const o of outcomes) if (o.lsn === undefined && o.error === undefined) expect(o.cpl).toBeGreaterThan(p.vdl);
      }
      p.advance(p.lsnNext - 1);
      expect(p.pending).toBe(0);
      expect(p.unknownCount).toBe(0);
      expect(p.pendingKeyCount).toBe(0);
      // Every commit settled exactly once: acknowledged in LSN order, or timed out.
      expect(outcomes.every((o) => (o.lsn === undefined) !== (o.error === undefined))).toBe(true);
      const acked = outcomes.filter((o) => o.lsn !== undefined);
      expect(acked.map((o) => o.lsn)).toEqual(acked.map((o) => o.cpl));
    }), { numRuns: 300 });
  });
});
