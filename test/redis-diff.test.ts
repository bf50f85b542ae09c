// Differential test: the same seeded random command sequences to `auroral serve` and to a real
// redis-server (Debian's package), every reply compared. Skips, saying so, without redis-server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffSeed, redisServerPath, startRedis } from './redis-diff-core.js';
import * as fs from 'node:fs';
import { scratchDir, startServer, type Running } from './redis-helpers.js';

const have = redisServerPath() !== null;
if (!have) console.warn('test/redis-diff.test.ts: SKIPPED — redis-server is not installed (apt-get install redis-server; .ci/run does it as root)');

describe.skipIf(!have)('differential vs redis-server', () => {
  let ref: Awaited<ReturnType<typeof startRedis>>;
  let ours: Running;
  beforeAll(async () => {
    [ref, ours] = await Promise.all([startRedis(), startServer(scratchDir())]);
  });
  afterAll(async () => {
    await Promise.all([ref?.stop(), ours?.close()]);
    if (ours !== undefined) fs.rmSync(ours.dir, { recursive: true, force: true });
  });

  it('replies match on 8 seeded sequences of 500 commands', async () => {
    const all = [];
    for (let seed = 1; seed <= 8; seed++) all.push(...await diffSeed(ref.port, ours.port, seed, 500));
    expect(all.slice(0, 10)).toEqual([]);
  });
});
