// `npm run fuzz:redis [-- N]`: the protocol fuzzer at length: N (default 100,000) mutated inputs
// (5% over sockets, the rest socketless) against an in-process `auroral serve`, a witness client
// checked throughout, and memory compared with what a restart reads from the log.
import * as fs from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { dumpKeyspace, fuzzInputs, fuzzServer } from '../test/redis-fuzz-core.js';
import { scratchDir, startServer } from '../test/redis-helpers.js';

const n = Number(process.argv[2] ?? 100_000);
const dir = scratchDir();
const r = await startServer(dir);
let ok = false;
try {
  const t0 = Date.now();
  const res = await fuzzServer(r.srv, fuzzInputs(n, Number(process.env.SEED ?? 7)), Math.floor(n / 20));
  console.log(`${res.sent} inputs in ${((Date.now() - t0) / 1000).toFixed(1)} s; witness: ${res.witnessOps} round trips, ${res.witnessErrors.length} errors`);
  for (const e of res.witnessErrors.slice(0, 5)) console.log(`  ${e}`);
  const before = dumpKeyspace(r.srv.keyspace);
  await r.close();
  const again = await startServer(dir);
  const after = dumpKeyspace(again.srv.keyspace);
  await again.close();
  const same = isDeepStrictEqual(before, after);
  console.log(`memory vs log after restart: ${same ? 'identical' : 'DIFFERENT'} (${before.size} keys)`);
  ok = same && res.witnessErrors.length === 0;
} finally {
  await r.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
process.exitCode = ok ? 0 : 1;
