// The writer's commit pipeline on the main thread: LSN allocation with the LAL back-pressure, the
// commit queue (resolved strictly in LSN order once VDL covers each LSN), the key tracker (keys
// with a write not yet durable, so reads can wait for it), and commit timeouts.
//
// Bounds. Every commit this writer registers ends at a distinct CPL in (lsnBase, lsnNext - 1]
// where lsnBase = max(VDL, the LSN this writer started above), and canAllocate keeps
// lsnNext - 1 - lsnBase <= LAL. A commit leaves the pipeline only once VDL covers it, whether it
// was acknowledged or rejected with an unknown outcome (timed out, disk full: its record is in
// the log and may still become durable, so its keys stay pending and reads of them wait). So the
// queue plus the unknown-outcome commits hold at most LAL commits, and pendingKeys at most LAL
// keys (a commit has no more keys than records).
import { Heap } from 'mnemonist';
import { GrowingDeque } from '../shared/growing-deque.js';
import { assert, fail } from '../assert.js';
import { errors, type AuroralError } from '../errors.js';

interface Commit {
  lsn: number;
  keys: string | string[];
  deadlineMs: number;
  /** When commit() was called (monoMicros) if this commit is sampled for stage metrics, else -1. */
  sampledAt: number;
  resolve: (lsn: number) => void;
  reject: (e: AuroralError) => void;
}

interface DurableWaiter {
  lsn: number;
  resolve: () => void;
}

export class CommitPipeline {
  vdl: number;
  lsnNext: number;
  acknowledged = 0;
  timedOut = 0;
  /** Called for each sampled commit just before its promise resolves (stage metrics). */
  onSampledAck: ((lsn: number, sampledAt: number) => void) | null = null;
  /** Commits waiting for VDL, in LSN order. */
  private readonly queue: GrowingDeque<Commit>;
  /**
   * Commits already rejected with an unknown outcome, in LSN order (they leave the queue's head
   * in order): their keys stay pending until VDL covers them, then they are dropped.
   */
  private readonly unknown: GrowingDeque<Commit>;
  /** Key id -> highest LSN written to it that is not yet durable. */
  private readonly pendingKeys = new Map<string, number>();
  private readonly waiters = new Heap<DurableWaiter>((a, b) => a.lsn - b.lsn);
  private readonly lal: number;
  private readonly timeoutMs: number;
  /**
   * LSNs at or below this were never this writer's: recovery continues above every LSN any node
   * saw, which may be far above VDL, and VDL jumps over the gap with the first frame (backlinks).
   */
  private readonly lsnBase: number;

  constructor(vdl: number, lsnNext: number, lal: number, timeoutMs: number) {
    assert(lsnNext > vdl, 'next LSN must be above VDL');
    assert(Number.isInteger(lal) && lal >= 1, 'LAL must be a positive integer');
    this.vdl = vdl;
    this.lsnNext = lsnNext;
    this.lsnBase = lsnNext - 1;
    this.lal = lal;
    this.timeoutMs = timeoutMs;
    // Every commit holds >= 1 LSN and at most LAL LSNs are outstanding past lsnBase (see the
    // header): LAL commits at most, in the two deques together; one slot spare.
    this.queue = new GrowingDeque<Commit>(lal + 1);
    this.unknown = new GrowingDeque<Commit>(lal + 1);
  }

  /** Commits waiting to be acknowledged or to time out. */
  get pending(): number {
    return this.queue.size;
  }

  /** Commits rejected with an unknown outcome whose LSN VDL has not reached yet. */
  get unknownCount(): number {
    return this.unknown.size;
  }

  /** Keys with a write not yet durable (reads of them wait). */
  get pendingKeyCount(): number {
    return this.pendingKeys.size;
  }

  get waiting(): number {
    return this.waiters.size;
  }

  /** True if `count` more LSNs may be allocated without passing the LAL. */
  canAllocate(count: number): boolean {
    // A bigger MTR could never be allocated; Database.commit refuses it (TRANSACTION_TOO_LARGE).
    if (!(count >= 1 && count <= this.lal)) fail(`an MTR of ${count} records exceeds the LAL (${this.lal})`);
    return this.lsnNext + count - 1 - Math.max(this.vdl, this.lsnBase) <= this.lal;
  }

  allocate(count: number): number {
    assert(this.canAllocate(count), 'LSN allocation past the LAL');
    const first = this.lsnNext;
    this.lsnNext += count;
    return first;
  }

  /** Registers a commit whose MTR ends at `lsn` (its CPL); `keys` become pending until durable. */
  add(lsn: number, keys: string | string[], nowMs: number, resolve: (lsn: number) => void, reject: (e: AuroralError) => void, sampledAt = -1): void {
    if (!(lsn > this.vdl && lsn < this.lsnNext)) fail(`commit LSN ${lsn} must be allocated and above VDL ${this.vdl}`);
    assert(this.queue.size + this.unknown.size < this.lal, 'more commits in flight than the LAL allows');
    if (typeof keys === 'string') this.pendingKeys.set(keys, lsn);
    else for (const k of keys) this.pendingKeys.set(k, lsn);
    this.queue.push({ lsn, keys, deadlineMs: nowMs + this.timeoutMs, sampledAt, resolve, reject });
  }

  /** LSN a read of `key` must wait for, or 0 if the key has no write in flight. */
  pendingLsn(key: string): number {
    return this.pendingKeys.get(key) ?? 0;
  }

  waitDurable(lsn: number): Promise<void> | null {
    if (lsn <= this.vdl) return null;
    return new Promise((resolve) => this.waiters.push({ lsn, resolve }));
  }

  /** VDL moved: resolve every commit at or below it, in LSN order; forget unknown ones it covers. */
  advance(vdl: number): void {
    if (vdl <= this.vdl) return;
    this.vdl = vdl;
    // Unknown-outcome commits all lie below the queue's (they left its head): release them first.
    for (;;) {
      const head = this.unknown.peekFirst();
      if (head === undefined || head.lsn > vdl) break;
      this.unknown.shift();
      this.release(head);
    }
    for (;;) {
      const head = this.queue.peekFirst();
      if (head === undefined || head.lsn > vdl) break;
      this.queue.shift();
      this.release(head);
      this.acknowledged++;
      if (head.sampledAt >= 0) this.onSampledAck?.(head.lsn, head.sampledAt);
      head.resolve(head.lsn);
    }
    for (;;) {
      const w = this.waiters.peek();
      if (w === undefined || w.lsn > vdl) break;
      this.waiters.pop();
      w.resolve();
    }
  }

  private release(c: Commit): void {
    if (typeof c.keys === 'string') {
      if (this.pendingKeys.get(c.keys) === c.lsn) this.pendingKeys.delete(c.keys);
    } else {
      for (const k of c.keys) if (this.pendingKeys.get(k) === c.lsn) this.pendingKeys.delete(k);
    }
  }

  /** The queue's head leaves with an unknown outcome: rejected now, its keys pending until VDL covers it. */
  private rejectHead(e: AuroralError): void {
    const head = this.queue.shift()!;
    const last = this.unknown.peekLast();
    assert(last === undefined || last.lsn < head.lsn, 'unknown-outcome commits must stay in LSN order');
    this.unknown.push(head);
    head.reject(e);
  }

  /**
   * Rejects commits past their deadline with QUORUM_UNAVAILABLE (outcome unknown: the record is
   * in the log and may still become durable, so its keys stay pending until VDL covers it).
   * Returns ms to the next deadline, or null.
   */
  expire(nowMs: number): number | null {
    for (;;) {
      const head = this.queue.peekFirst();
      if (head === undefined) return null;
      if (head.deadlineMs > nowMs) return head.deadlineMs - nowMs;
      this.timedOut++;
      this.rejectHead(errors.quorumUnavailable(head.lsn, this.timeoutMs, this.vdl));
    }
  }

  /**
   * Rejects every commit waiting (disk full, close, fenced, killed): their outcome is unknown too,
   * so their keys stay pending as for a timeout. Read waiters are woken to look again.
   */
  rejectAll(e: AuroralError): void {
    while (this.queue.size > 0) this.rejectHead(e);
    while (this.waiters.size > 0) this.waiters.pop()!.resolve();
  }
}
