// MemoryDB's rule on Auroral: a command's effects go to the log as one MTR and its reply waits
// until that MTR is durable. Keys with a write in flight are tracked: a read of one waits for the
// newest write of it (commits become durable in LSN order, so the newest covers the older ones);
// reads of other keys do not wait. A write that fails (QUORUM_UNAVAILABLE, FENCED, ...) leaves the
// memory ahead of the log: onFailure is called once, and the server reloads from the log.
import type { BatchOp } from '../index.js';
import type { BatchPort, MtrLimits } from './mtr.js';
import type { Effects } from './persist.js';
import { writeJournaled } from './journal.js';

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
  /** journaled: commands too big for one MTR, written through the journal (journal.ts). */
  readonly stats = { commits: 0, records: 0, failed: 0, journaled: 0 };

  constructor(
    private readonly db: BatchPort,
    private readonly limits: MtrLimits,
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
      // Too big for one MTR even alone: through the journal, after what is open (journal.ts).
      this.flush();
      return this.track(fx.keys, this.journaled(fx.ops), true).p;
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
    this.send(b.ops).then(b.resolve, b.reject);
  }

  /**
   * While a journaled command runs, until its commit record's deletion is durable, later MTRs
   * wait here (journal.ts says why); null when nothing is journaling. Rejected if the journal
   * failed first: what waited fails too (the server then reloads from the log).
   */
  private barrier: Promise<void> | null = null;
  private txSeq = 0;

  private journaled(ops: BatchOp[]): Promise<void> {
    this.stats.journaled++;
    const txid = ++this.txSeq;
    const prev = this.barrier;
    const start = (): Promise<void> => writeJournaled(this.db, ops, this.limits, txid);
    const p = prev === null ? start() : prev.then(start);
    const released = p.finally(() => {
      if (this.barrier === released) this.barrier = null;
    });
    released.catch(() => {}); // observed through what waits on it
    this.barrier = released;
    return p;
  }

  /**
   * What the newest tracked write's gate is: it settles once every write tracked so far has, and
   * fails if any failed. "The newest write covers the older ones" holds for MTRs the engine
   * encoded (VDL is contiguous) but not for one it withdrew (timed out waiting for LSNs, never
   * written, while later ones were): a read gated on the later write alone would serve the
   * withdrawn write's value.
   */
  private tail: Promise<void> | null = null;

  /** Registers a write in flight: its keys point at it until it settles; a failure is reported. */
  private track(keys: Set<string>, p: Promise<void>, setKeys: boolean): InFlight {
    const covered = this.tail === null ? p : this.tail.then(() => p);
    covered.catch(() => {}); // the gate's users see the failure; the write's own is reported below
    this.tail = covered;
    const f: InFlight = { seq: ++this.seq, p: covered };
    this.pending++;
    this.stats.commits++;
    if (setKeys) for (const k of keys) this.perKey.set(k, f);
    this.latest = f;
    // Its keys stop being tracked when its gate settles, not its own MTR: a read must not skip
    // the gate while an earlier write may still fail.
    const untrack = (): void => {
      for (const k of keys) if (this.perKey.get(k) === f) this.perKey.delete(k);
      if (this.latest === f) this.latest = null;
      if (this.tail === covered) this.tail = null;
    };
    covered.then(untrack, untrack);
    p.then(() => void this.pending--, (e: unknown) => {
      this.pending--;
      this.stats.failed++;
      this.onFailure(e);
    });
    return f;
  }

  /** One MTR (a turn's effects, within the limits), behind a journaled command if one runs. */
  private send(ops: BatchOp[]): Promise<void> {
    const b = this.barrier;
    if (b === null) return this.db.batch(ops).then(() => undefined);
    return b.then(() => this.db.batch(ops)).then(() => undefined);
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

  /** Forgets every tracked key (after a reload from the log, which finished any journal). */
  reset(): void {
    this.perKey.clear();
    this.latest = null;
    this.barrier = null;
    this.tail = null;
  }
}
