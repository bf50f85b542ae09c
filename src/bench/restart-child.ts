// Child process of the recovery benchmark: one process restart of a crashed volume. It opens the
// volume, attaches a writer, gets the last acknowledged key, checks its value, reports over IPC,
// and waits for the parent's SIGKILL, which leaves the volume crashed again for the next restart
// (so one fill can be timed several times, warm and with the page cache dropped).
//   argv: <dir> <key> <value index> <valueBytes>
//   reports { openMs } (openVolume → first get answered) or { error }
import { performance } from 'node:perf_hooks';
import { openVolume } from '../writer/volume.js';
import { fillValue } from '../cli/fill.js';

async function main(): Promise<void> {
  const [dir, key, indexText, valueText] = process.argv.slice(2);
  if (dir === undefined || key === undefined || indexText === undefined || valueText === undefined || process.send === undefined) {
    throw new Error('restart-child: usage: <dir> <key> <value index> <valueBytes>, started with an IPC channel');
  }
  const t0 = performance.now();
  const volume = await openVolume({ dir });
  const db = await volume.attachWriter();
  const got = await db.get(key);
  const openMs = performance.now() - t0;
  const want = fillValue(Number(indexText), Number(valueText));
  if (got === undefined || Buffer.compare(got, want) !== 0) process.send({ error: `${key} does not hold its last acknowledged value` });
  else process.send({ openMs });
  setInterval(() => {}, 1 << 30); // wait for SIGKILL
}

main().catch((e: unknown) => {
  process.send?.({ error: (e as Error).stack ?? String(e) });
  setInterval(() => {}, 1 << 30);
});
