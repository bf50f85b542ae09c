// Goal: per-stage metrics break sampled commits down into stages that add up to their latency,
// come from real frames (every node's fdatasyncs counted), and cost nothing when turned off.
import { afterEach, describe, expect, it } from 'vitest';
import { open, stageNames, type Database } from '../src/index.js';
import { isSampled } from '../src/metrics/trace.js';
import { smallOptions, tempDir, waitFor } from './helpers.js';

let db: Database | null = null;
afterEach(async () => {
  await db?.close();
  db = null;
});

async function load(d: Database, puts: number, inflight: number): Promise<void> {
  let n = 0;
  const lane = async (): Promise<void> => {
    while (n < puts) await d.put(`key-${n++}`, 'v'.repeat(64));
  };
  await Promise.all(Array.from({ length: inflight }, lane));
}

describe('stage metrics', () => {
  it('samples by LSN: an MTR is sampled if its range holds a multiple of sampleLsns', () => {
    expect([isSampled(1, 7, 8), isSampled(8, 8, 8), isSampled(9, 15, 8), isSampled(15, 17, 8), isSampled(1, 1, 1)]).toEqual([false, true, false, true, true]);
  });

  it('breaks sampled commits into seven stages that sum to their latency', async () => {
    const d = await open(smallOptions(tempDir(), { metrics: { sampleLsns: 4 } }));
    db = d;
    await load(db, 200, 8);
    // Take the two baselines while the nodes are quiet: a node counts a sync in its histogram just
    // before its ack and in its stats block just after, so a baseline taken mid-sync would differ by one.
    const syncsNow = (): string => d.stats().nodes.map((n) => n.syncs).join();
    let last = '';
    await waitFor(() => {
      const now = syncsNow();
      const quiet = now === last;
      last = now;
      return quiet;
    });
    db.resetStageMetrics();
    const syncsBefore = db.stats().nodes.map((n) => n.syncs);
    await load(db, 2000, 16);
    const s = db.stats();
    const st = s.stages;
    expect(st.enabled).toBe(true);
    // 2000 single-record puts, 1 in 4 LSNs sampled; none lost (the trace slots are far from reuse).
    expect(st.samples).toBeGreaterThanOrEqual(490);
    expect(st.samplesLost).toBe(0);
    for (const name of stageNames) expect(st.micros[name].count).toBe(st.samples);
    // Each stage is clamped at 1 µs and rounded: the sum of the means is the mean latency within that.
    const sum = stageNames.reduce((a, n) => a + st.micros[n].mean, 0);
    expect(Math.abs(sum - st.totalMicros.mean)).toBeLessThan(stageNames.length + 0.02 * st.totalMicros.mean);
    expect(st.micros.fdatasync.p50).toBeGreaterThan(0);
    expect(st.firstDurableByNode.reduce((a, b) => a + b, 0)).toBe(st.samples);
    // Every fdatasync of each node since the reset is in its histogram. A node publishes its
    // counters just after its ack (the histogram just before), so wait for them to agree.
    const agree = (): boolean => {
      const now = d.stats();
      return now.nodes.every((n, i) => now.stages.fsyncPerNode[i]!.count === n.syncs - syncsBefore[i]!);
    };
    expect(await waitFor(agree)).toBe(true);
    expect(st.rings.log.count).toBe(st.samples);
    expect(st.rings.nodes).toHaveLength(6);
  });

  it('records nothing when turned off', async () => {
    db = await open(smallOptions(tempDir(), { metrics: { stages: false } }));
    await load(db, 500, 8);
    const st = db.stats().stages;
    expect([st.enabled, st.samples, st.totalMicros.count, st.fsyncPerNode[0]!.count]).toEqual([false, 0, 0, 0]);
  });
});
