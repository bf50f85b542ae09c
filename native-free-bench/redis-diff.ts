// `npm run diff:redis [-- SEEDS]`: the differential test at length: SEEDS (default 500) seeded
// sequences of 500 random commands to `auroral serve` and to redis-server, every reply compared;
// prints each kind of mismatch once. Needs redis-server (apt-get install redis-server).
import * as fs from 'node:fs';
import { diffSeed, redisServerPath, startRedis } from '../test/redis-diff-core.js';
import { scratchDir, startServer } from '../test/redis-helpers.js';

if (redisServerPath() === null) {
  console.error('redis-diff: redis-server is not installed (apt-get install redis-server)');
  process.exit(2);
}
const seeds = Number(process.argv[2] ?? 500);
const [ref, ours] = await Promise.all([startRedis(), startServer(scratchDir())]);
const kinds = new Map<string, number>();
let total = 0;
try {
  for (let seed = 1; seed <= seeds; seed++) {
    for (const m of await diffSeed(ref.port, ours.port, seed, 500)) {
      total++;
      const key = `${m.cmd.split(' ')[0]} ${m.auroral.slice(0, 30)} vs ${m.redis.slice(0, 30)}`;
      if (!kinds.has(key)) console.log(JSON.stringify(m));
      kinds.set(key, (kinds.get(key) ?? 0) + 1);
    }
  }
} finally {
  await ref.stop();
  await ours.close();
  fs.rmSync(ours.dir, { recursive: true, force: true });
}
console.log(`${seeds} seeds x 500 commands: ${total} mismatches (${kinds.size} kinds)`);
process.exitCode = total === 0 ? 0 : 1;
