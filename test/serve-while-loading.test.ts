// Goal: after kill -9 under load the volume serves at once: nodes open with their log tails not
// indexed (a read indexes what it needs first, from hints where a sealed segment has one; the rest
// is indexed in the background), every get fired right after the open returns the last
// acknowledged value, and the first put after the open costs no long stall (a node's backlog is
// indexed a few frames per append, not all at once). The node-level tests (hints.test.ts,
// indexing.test.ts) and the simulator check reads during that window deterministically.
// Method: the recovery benchmark's writer child (src/cli/fill.ts) overwrites a key space until N MB
// are acknowledged and is SIGKILLed; this process opens the volume and fires every get at once.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openVolume } from '../src/index.js';
import { fillKey, fillValue } from '../src/cli/fill.js';
import { workerUrl } from '../src/shared/paths.js';
import { smallOptions, tempDir } from './helpers.js';

const KEYS = 512;
const VALUE_BYTES = 4096;

async function fillAndKill(dir: string, mb: number, options: object): Promise<number> {
  const child = fork(fileURLToPath(workerUrl('cli/fill.js')), [dir, String(mb), String(KEYS), String(VALUE_BYTES), JSON.stringify(options)], { stdio: 'inherit' });
  const filled = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { filled: number }) => resolve(m.filled));
    child.once('exit', (code) => reject(new Error(`fill child exited with ${code}`)));
  });
  child.removeAllListeners('exit');
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
  return filled;
}

describe('serving while nodes load', () => {
  it('answers gets fired right after a kill -9 and reopen with every acknowledged value', async () => {
    const dir = tempDir();
    const { dir: _, ...options } = smallOptions(dir);
    const writes = await fillAndKill(dir, 12, options);
    const volume = await openVolume({ ...options, dir });
    try {
      const db = await volume.attachWriter();
      // Every key's last write is among the last KEYS writes, all acknowledged before the kill.
      const got = await Promise.all(Array.from({ length: KEYS }, (_, k) => db.get(fillKey(k, KEYS))));
      for (let k = 0; k < KEYS; k++) {
        const last = writes - 1 - ((writes - 1 - k) % KEYS);
        expect(Buffer.compare(got[k]!, fillValue(last, VALUE_BYTES)), `key ${k}`).toBe(0);
      }
      const stats = db.stats().nodes;
      expect(stats.some((s) => s.segmentHintsLoaded > 0)).toBe(true); // sealed segments came back from their hints
      const t = performance.now();
      await db.put('after', 'open');
      expect(performance.now() - t).toBeLessThan(2_000); // no whole-backlog stall (generous: CI machines are shared)
      expect(Buffer.from((await db.get('after'))!).toString()).toBe('open');
    } finally {
      await volume.close();
    }
  }, 60_000);
});
