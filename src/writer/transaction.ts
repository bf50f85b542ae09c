// A transaction buffers its writes and commits them as one MTR (see Database.transaction).
import { errors } from '../errors.js';
import { Op } from '../log/record.js';
import type { Database, Key, Value } from './database.js';
import { keyId, ownBytes } from './keys.js';

/** One validated operation of an MTR. */
export interface TxOp {
  op: Op;
  key: Uint8Array;
  value: Uint8Array | null;
  /** keyId(key) */
  id: string;
  pageId: number;
  /** Encoded record size. */
  bytes: number;
}

export class Transaction {
  private readonly db: Database;
  /** Last write per key, in first-write order (a key appears once in the MTR). */
  private readonly writes = new Map<string, TxOp>();
  private ended = false;

  /** @internal */
  constructor(db: Database) {
    this.db = db;
  }

  private live(): void {
    if (this.ended) throw errors.transactionAborted('the transaction callback has already returned');
  }

  put(key: Key, value: Value): void {
    this.live();
    const o = this.db.op(Op.PUT, key, value);
    this.writes.set(o.id, o);
  }

  delete(key: Key): void {
    this.live();
    const o = this.db.op(Op.DELETE, key, null);
    this.writes.set(o.id, o);
  }

  async get(key: Key): Promise<Uint8Array | undefined> {
    this.live();
    const k = ownBytes('key', key);
    const own = this.writes.get(keyId(k));
    if (own !== undefined) return own.op === Op.PUT ? own.value! : undefined;
    return this.db.get(k);
  }

  /** @internal */
  end(): void {
    this.ended = true;
  }

  /** @internal */
  ops(): TxOp[] {
    return [...this.writes.values()];
  }
}
