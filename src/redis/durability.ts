// MemoryDB's rule on Auroral: a command's effects go to the log as one MTR and its reply waits
// until that MTR is durable. Keys with a write in flight are tracked: a read of one waits for the
// newest write of it (commits become durable in LSN order, so the newest covers the older ones);
// reads of other keys do not wait. A write that fails (QUORUM_UNAVAILABLE, FENCED, ...) leaves the
// memory ahead of the log: onFailure is called once, and the server reloads from the log.
import type { BatchOp, Database } from '../index.js';
import type { Effects } from './persist.js';

interface InFlight {
  seq: number;
  p: Promise<void>;
}

export class DurabilityTracker {
  private seq = 0;
  private readonly perKey = new Map<string, InFlight>();
  private latest: InFlight | null = null;
  /** Writes in flight (commits not yet settled). */
  pending = 0;
  readonly stats = { commits: 0, records: 0, failed: 0 };
  /** Called with every batch sent (load.ts's fallback remembers the keys written). */
  observe: ((ops: readonly BatchOp[]) => void) | null = null;

  constructor(
    private readonly db: Database,
    private readonly limits: { recordsMax: number; bytesMax: number },
    private readonly onFailure: (e: unknown) => void,
  ) {}

  /** Logs `fx` (one MTR when it fits the engine's limits) and tracks its keys until durable. */
  commit(fx: Effects): Promise<void> {
    const seq = ++this.seq;
    this.observe?.(fx.ops);
    const p = this.send(fx.ops, fx.bytes);
    const f: InFlight = { seq, p };
    this.pending++;
    this.stats.commits++;
    this.stats.records += fx.ops.length;
    for (const k of fx.keys) this.perKey.set(k, f);
    this.latest = f;
    const done = (): void => {
      this.pending--;
      for (const k of fx.keys) if (this.perKey.get(k) === f) this.perKey.delete(k);
      if (this.latest === f) this.latest = null;
    };
    p.then(done, (e: unknown) => {
      done();
      this.stats.failed++;
      this.onFailure(e);
    });
    return p;
  }

  /**
   * One db.batch, or several in a row when the effects exceed one MTR's limits (a FLUSHALL, a DEL
   * of a huge collection): then a crash may keep a prefix of them (see docs).
   */
  private send(ops: BatchOp[], bytes: number): Promise<void> {
    if (ops.length <= this.limits.recordsMax && bytes <= this.limits.bytesMax) return this.db.batch(ops).then(() => undefined);
    const parts: Promise<number>[] = [];
    let from = 0;
    let size = 0;
    for (let i = 0; i < ops.length; i++) {
      const o = ops[i]!;
      const b = o.key.length + (o.type === 'put' ? o.value.length : 0) + 48;
      if (i > from && (i - from >= this.limits.recordsMax || size + b > this.limits.bytesMax)) {
        parts.push(this.db.batch(ops.slice(from, i)));
        from = i;
        size = 0;
      }
      size += b;
    }
    parts.push(this.db.batch(ops.slice(from)));
    return Promise.all(parts).then(() => undefined);
  }

  /** What a read of these keys must wait for, or null (nothing of theirs in flight). */
  gate(keys: Iterable<string>): Promise<void> | null {
    let best: InFlight | null = null;
    for (const k of keys) {
      const f = this.perKey.get(k);
      if (f !== undefined && (best === null || f.seq > best.seq)) best = f;
    }
    return best?.p ?? null;
  }

  /** What a read of every key must wait for. */
  gateAll(): Promise<void> | null {
    return this.latest?.p ?? null;
  }

  /** Forgets every tracked key (after a reload from the log). */
  reset(): void {
    this.perKey.clear();
    this.latest = null;
  }
}
