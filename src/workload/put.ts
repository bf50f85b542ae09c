// put: single-key durable puts of `valueBytes` bytes over a key space of `keys` keys, chosen
// uniformly at random (so most puts overwrite). The write path and nothing else.
import type { Database } from '../writer/database.js';
import { Random } from '../shared/random.js';
import type { Workload, WorkloadParams } from './types.js';

export class PutWorkload implements Workload {
  readonly name = 'put';
  readonly unit = 'put';
  private readonly random: Random;
  private readonly value: Uint8Array;

  constructor(private readonly p: WorkloadParams) {
    this.random = new Random(p.seed);
    this.value = new Uint8Array(p.valueBytes).fill(0x61);
  }

  describe(): string {
    return `durable single-key puts, ${this.p.valueBytes}-byte values over ${this.p.keys.toLocaleString('en-US')} keys, ${this.p.inflight} in flight`;
  }

  async prepare(): Promise<void> {}

  op(db: Database): Promise<unknown> {
    return db.put(`key-${this.random.int(this.p.keys)}`, this.value);
  }
}
