// tpcb-like: pgbench's default transaction. One atomic transaction: update an account's balance,
// read it back, update a teller's and a branch's balance, insert a history row. Scale s means s
// branches, 10 s tellers and 100,000 s accounts, as in pgbench; rows start absent (balance 0, as
// pgbench initialises them) and pgbench's row sizes are kept (100-byte rows, 50-byte history).
//
// The engine detects no conflicts (transactions are atomic, not isolated), so, like PostgreSQL's
// row locks, the workload locks the three rows it updates (account, teller, branch, always in that
// order: no deadlock) until its commit is durable. As in pgbench, a small scale therefore
// serialises transactions on the branch rows: throughput is about scale / commit latency.
import type { Database } from '../writer/database.js';
import { Random } from '../shared/random.js';
import { padded, type Workload, type WorkloadParams } from './types.js';

const ROW_BYTES = 100;
const HISTORY_BYTES = 50;

/** FIFO row locks held from a transaction's first update until its commit is durable. */
class RowLocks {
  private readonly queues = new Map<string, (() => void)[]>();

  async lock(key: string): Promise<void> {
    const q = this.queues.get(key);
    if (q === undefined) {
      this.queues.set(key, []);
      return;
    }
    await new Promise<void>((resolve) => q.push(resolve));
  }

  unlock(key: string): void {
    const next = this.queues.get(key)!.shift();
    if (next === undefined) this.queues.delete(key);
    else next();
  }
}

const balanceOf = (v: Uint8Array | undefined): number => (v === undefined ? 0 : Number.parseInt(Buffer.from(v).toString('latin1'), 10));

export class TpcbLikeWorkload implements Workload {
  readonly name = 'tpcb-like';
  readonly unit = 'tx';
  private readonly random: Random;
  private readonly locks = new RowLocks();
  private historySeq = 0;
  /** What the committed transactions add up to (checked against the rows by verify()). */
  private deltaSum = 0;
  private committed = 0;
  private readonly touched = new Set<number>();

  constructor(private readonly p: WorkloadParams) {
    this.random = new Random(p.seed);
  }

  describe(): string {
    const s = this.p.scale;
    return `pgbench tpcb-like transactions, scale ${s} (${s} branches, ${10 * s} tellers, ${(100_000 * s).toLocaleString('en-US')} accounts), ${this.p.inflight} in flight`;
  }

  async prepare(): Promise<void> {}

  async op(db: Database): Promise<unknown> {
    const s = this.p.scale;
    const aid = 1 + this.random.int(100_000 * s);
    const tid = 1 + this.random.int(10 * s);
    const bid = 1 + this.random.int(s);
    const delta = this.random.int(10_001) - 5000;
    const a = `pgbench_accounts:${aid}`, t = `pgbench_tellers:${tid}`, b = `pgbench_branches:${bid}`;
    const h = `pgbench_history:${this.historySeq++}`;
    await this.locks.lock(a);
    await this.locks.lock(t);
    await this.locks.lock(b);
    try {
      await db.transaction(async (tx) => {
        tx.put(a, padded(String(balanceOf(await tx.get(a)) + delta), ROW_BYTES)); // UPDATE pgbench_accounts
        balanceOf(await tx.get(a)); // SELECT abalance FROM pgbench_accounts
        tx.put(t, padded(String(balanceOf(await tx.get(t)) + delta), ROW_BYTES)); // UPDATE pgbench_tellers
        tx.put(b, padded(String(balanceOf(await tx.get(b)) + delta), ROW_BYTES)); // UPDATE pgbench_branches
        tx.put(h, padded(`${tid} ${bid} ${aid} ${delta}`, HISTORY_BYTES)); // INSERT INTO pgbench_history
      });
      this.deltaSum += delta;
      this.committed++;
      this.touched.add(aid);
    } finally {
      this.locks.unlock(b);
      this.locks.unlock(t);
      this.locks.unlock(a);
    }
    return undefined;
  }

  /** Branch, teller and account balances each add up to the deltas of the committed transactions. */
  async verify(db: Database): Promise<string> {
    const sum = async (keys: string[]): Promise<number> => {
      let total = 0;
      for (const k of keys) total += balanceOf(await db.get(k));
      return total;
    };
    const s = this.p.scale;
    const branches = await sum(Array.from({ length: s }, (_, i) => `pgbench_branches:${i + 1}`));
    const tellers = await sum(Array.from({ length: 10 * s }, (_, i) => `pgbench_tellers:${i + 1}`));
    const accounts = await sum([...this.touched].map((aid) => `pgbench_accounts:${aid}`));
    const ok = branches === this.deltaSum && tellers === this.deltaSum && accounts === this.deltaSum;
    const what = `${this.committed} transactions: sum of deltas ${this.deltaSum}, branches ${branches}, tellers ${tellers}, accounts ${accounts}`;
    if (!ok) throw new Error(`tpcb-like: balances do not add up: ${what}`);
    return `balances consistent (${what})`;
  }
}
