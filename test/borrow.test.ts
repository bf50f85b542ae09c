// Goal: a put may borrow the caller's bytes only while it encodes them at once; a put that has to
// wait (LSNs, ring space) keeps its own copy, so a caller reusing its buffer right after the call
// never changes what is written.
import { describe, expect, it } from 'vitest';
import { withDb } from './helpers.js';

describe('puts and the caller buffers', () => {
  it('a put blocked behind the LAL writes the bytes given at the call, not what the buffer holds later', async () => {
    await withDb(async (db) => {
      db.faults.pauseNode(0);
      db.faults.pauseNode(1);
      db.faults.pauseNode(2); // no write quorum: LSNs run out at the LAL and later puts wait (blocked)
      const key = new Uint8Array([107, 48]); // "k0"
      const value = new Uint8Array([1, 2, 3]);
      const pending: Promise<number>[] = [];
      for (let i = 0; i < 40; i++) {
        key[1] = 48 + (i % 10);
        value[0] = i;
        pending.push(db.put(key, value));
        key[1] = 0x7a; // the caller reuses its buffers at once
        value[0] = 255;
      }
      db.faults.resumeNode(0);
      db.faults.resumeNode(1);
      db.faults.resumeNode(2);
      await Promise.all(pending);
      for (let d = 0; d < 10; d++) {
        const got = await db.get(`k${d}`);
        expect(got && [...got]).toEqual([30 + d, 2, 3]); // the last put of each key, as given
      }
      expect(await db.get('kz')).toBeUndefined();
    }, { lsnAllocationLimit: 16 });
  });
});
