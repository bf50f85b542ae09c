// MemoryDB's rule on Auroral: a command's effects go to the log as one MTR and its reply waits
// until that MTR is durable. Keys with a write in flight are tracked: a read of one waits for the
// newest write of it (commits become durable in LSN order, so the newest covers the older ones);
// reads of other keys do not wait. A write that fails (QUORUM_UNAVAILABLE, FENCED, ...) leaves the
// memory ahead of the log: onFailure is called once, and the server reloads from the log.
import type { BatchOp, Database } from '../index.js';
import { recordBytes } from '../log/record.js';
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

  constructor(
    private readonly db: Database,
    private readonly limits: { recordsMax: number; bytesMax: number },
    private readonly onFailure: (e: unknown) => void,
  ) {}

  /**
   * Effects gathered since the last flush: every command run in one turn of the event loop (all
   * the requests that arrived together, from every client) goes to the log as one MTR, as redis
   * fsyncs its AOF once per turn. Each command's effects stay whole inside it, so a command is
   * still all-or-nothing; the replies of all of them wait for the one MTR.
   */
  private open: { ops: BatchOp[]; bytes: number; keys: Set<string>; f: InFlight; resolve: () => void; reject: (e: unknown) => void } | null = null;

  /** Logs `fx` (with the rest of this turn's effects) and tracks its keys until durable. */
  commit(fx: Effects): Promise<void> {
    this.stats.records += fx.ops.length;
    const o = this.open;
    if (o !== null && (o.ops.length + fx.ops.length > this.limits.recordsMax || o.bytes + fx.bytes > this.limits.bytesMax)) this.flush();
    if (fx.ops.length > this.limits.recordsMax || fx.bytes > this.limits.bytesMax) {
      // Too big for one MTR even alone: its own batches, in order after what is open.
      return this.track(fx.keys, this.send(fx.ops, fx.bytes), true).p;
    }
    if (this.open === null) {
      let resolve!: () => void;
      let reject!: (e: unknown) => void;
      const p = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
      const keys = new Set<string>();
      this.open = { ops: [], bytes: 0, keys, f: this.track(keys, p, false), resolve, reject };
      setImmediate(() => this.flush());
    }
    const b = this.open!;
    for (const op of fx.ops) b.ops.push(op);
    b.bytes += fx.bytes;
    for (const k of fx.keys) {
      b.keys.add(k);
      this.perKey.set(k, b.f);
    }
    return b.f.p;
  }

  /** Sends the open batch now (its setImmediate, a limit reached, or an oversized command). */
  flush(): void {
    const b = this.open;
    if (b === null) return;
    this.open = null;
    this.send(b.ops, b.bytes).then(b.resolve, b.reject);
  }

  /** Registers a write in flight: its keys point at it until it settles; a failure is reported. */
  private track(keys: Set<string>, p: Promise<void>, setKeys: boolean): InFlight {
    const f: InFlight = { seq: ++this.seq, p };
    this.pending++;
    this.stats.commits++;
    if (setKeys) for (const k of keys) this.perKey.set(k, f);
    this.latest = f;
    const done = (): void => {
      this.pending--;
      for (const k of keys) if (this.perKey.get(k) === f) this.perKey.delete(k);
      if (this.latest === f) this.latest = null;
    };
    p.then(done, (e: unknown) => {
      done();
      this.stats.failed++;
      this.onFailure(e);
    });
    return f;
  }

  /**
   * One db.batch, or several in a row when the effects exceed one MTR's limits (a FLUSHALL, a DEL
   * of a huge collection): then a crash may keep a prefix of them (see docs).
   */
  private send(ops: BatchOp[], bytes: number): Promise<void> {
    if (ops.length <= this.limits.recordsMax && bytes <= this.limits.bytesMax) return this.db.batch(ops).then(() => undefined);
    return Promise.all(splitMtrs(ops, this.limits).map((part) => this.db.batch(part))).then(() => undefined);
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

/** The MTR limits the server keeps to (a margin under the engine's: its record sizes round up). */
export function mtrLimits(db: Database): MtrLimits {
  return { recordsMax: Math.min(db.config.lsnAllocationLimit, 16_384), bytesMax: Math.floor(db.config.mtrBytesMax * 0.9) };
}

export interface MtrLimits { recordsMax: number; bytesMax: number }

/** `ops` in order, cut into runs that each fit one MTR (the engine's record size: recordBytes). */
export function splitMtrs(ops: readonly BatchOp[], limits: MtrLimits): BatchOp[][] {
  const parts: BatchOp[][] = [];
  let from = 0;
  let size = 0;
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i]!;
    const b = recordBytes(o.key.length, o.type === 'put' ? o.value.length : 0);
    if (i > from && (i - from >= limits.recordsMax || size + b > limits.bytesMax)) {
      parts.push(ops.slice(from, i));
      from = i;
      size = 0;
    }
    size += b;
  }
  if (from < ops.length) parts.push(ops.slice(from));
  return parts;
}
