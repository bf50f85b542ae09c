// read-mostly: `readPercent`% gets, the rest puts, over `keys` preloaded keys chosen uniformly.
// Gets of keys with a write in flight wait for it (reads never return what a crash could lose);
// the rest are served from the writer's page cache or one node.
import type { Database } from '../writer/database.js';
import { Random } from '../shared/random.js';
import { bulkLoad, type Workload, type WorkloadParams } from './types.js';

export class ReadMostlyWorkload implements Workload {
  readonly name = 'read-mostly';
  readonly unit = 'op';
  private readonly random: Random;
  private readonly value: Uint8Array;

  constructor(private readonly p: WorkloadParams) {
    this.random = new Random(p.seed);
    this.value = new Uint8Array(p.valueBytes).fill(0x62);
  }

  describe(): string {
    return `${this.p.readPercent}% gets / ${100 - this.p.readPercent}% puts over ${this.p.keys.toLocaleString('en-US')} preloaded keys, ${this.p.valueBytes}-byte values, ${this.p.inflight} in flight`;
  }

  async prepare(db: Database): Promise<void> {
    await bulkLoad(db, this.p.keys, (i) => `key-${i}`, () => 'b'.repeat(this.p.valueBytes));
  }

  op(db: Database): Promise<unknown> {
    const key = `key-${this.random.int(this.p.keys)}`;
    return this.random.int(100) < this.p.readPercent ? db.get(key) : db.put(key, this.value);
  }
}
