// A workload: what one unit of work is (a put, a transaction, a read) and how its data is laid
// out. The bench driver runs `inflight` lanes, each calling op() in a closed loop.
import type { Database } from '../writer/database.js';

export interface WorkloadParams {
  /** Units of work in flight (closed-loop lanes). */
  inflight: number;
  /** Bytes per value (put, read-mostly) or per row (write-only, tpcb-like). */
  valueBytes: number;
  /** Keys in the key space (put, read-mostly) or rows per table (write-only). */
  keys: number;
  /** write-only: tables the statements spread over. */
  tables: number;
  /** tpcb-like: pgbench's scale factor (branches; 10 tellers and 100,000 accounts each). */
  scale: number;
  /** read-mostly: percentage of operations that are reads. */
  readPercent: number;
  /** Seed of the workload's random choices (the same seed makes the same key sequence). */
  seed: number;
}

export interface Workload {
  readonly name: string;
  /** What one op() is, for tables: "put", "tx", "op". */
  readonly unit: string;
  /** One line saying what runs. */
  describe(): string;
  /** Loads initial data (not timed). */
  prepare(db: Database): Promise<void>;
  /** One unit of work; resolves once it is durable (or read). */
  op(db: Database): Promise<unknown>;
  /** After the run: a consistency check of what was written, or null if the workload has none. */
  verify?(db: Database): Promise<string>;
}

/** A value of `bytes` bytes: `head` then filler (rows carry their payload like pgbench's filler). */
export function padded(head: string, bytes: number): string {
  return head.length >= bytes ? head : head + ' '.repeat(bytes - head.length);
}

/** Loads `count` keys in transactions of `perTx`, `inflight` at a time (bulk load, not timed). */
export async function bulkLoad(db: Database, count: number, key: (i: number) => string, value: (i: number) => string, perTx = 256, inflight = 16): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const from = next;
      next = Math.min(count, next + perTx);
      const to = next;
      await db.transaction((tx) => {
        for (let i = from; i < to; i++) tx.put(key(i), value(i));
      });
    }
  };
  await Promise.all(Array.from({ length: inflight }, lane));
}
