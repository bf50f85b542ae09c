// write-only: shaped like sysbench's oltp_write_only. One transaction = an index update and a
// non-index update of two random rows, then a delete of a third row and the insert of it again
// (sysbench deletes and re-inserts the same id), each row in a random table of `tables`, rows
// numbered below `keys`. All four statements commit as one MTR.
import type { Database } from '../writer/database.js';
import { Random } from '../shared/random.js';
import { padded, type Workload, type WorkloadParams } from './types.js';

export class WriteOnlyWorkload implements Workload {
  readonly name = 'write-only';
  readonly unit = 'tx';
  private readonly random: Random;
  private seq = 0;

  constructor(private readonly p: WorkloadParams) {
    this.random = new Random(p.seed);
  }

  describe(): string {
    return `sysbench-like write-only transactions (2 updates, 1 delete, 1 insert) over ${this.p.tables} tables x ${this.p.keys.toLocaleString('en-US')} rows, ${this.p.valueBytes}-byte rows, ${this.p.inflight} in flight`;
  }

  async prepare(): Promise<void> {}

  private row(): string {
    return `sbtest${1 + this.random.int(this.p.tables)}:${1 + this.random.int(this.p.keys)}`;
  }

  op(db: Database): Promise<unknown> {
    const n = this.seq++;
    const a = this.row(), b = this.row(), c = this.row();
    const rowBytes = this.p.valueBytes;
    return db.transaction((tx) => {
      tx.put(a, padded(`k=${n}`, rowBytes)); // UPDATE sbtest SET k=k+1 WHERE id=?
      tx.put(b, padded(`c=${n}`, rowBytes)); // UPDATE sbtest SET c=? WHERE id=?
      tx.delete(c); // DELETE FROM sbtest WHERE id=?
      tx.put(c, padded(`ins=${n}`, rowBytes)); // INSERT INTO sbtest (id, k, c, pad) VALUES (...)
    });
  }
}
