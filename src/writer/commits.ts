// The writer's commit pipeline on the main thread: LSN allocation with the LAL back-pressure, the
// commit queue (resolved strictly in LSN order once VDL covers each LSN), the key tracker (keys
// with a write not yet durable, so reads can wait for it), and commit timeouts.
import { FixedDeque, Heap } from 'mnemonist';
import { assert } from '../assert.js';
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
  private readonly queue: FixedDeque<Commit>;
  /** Key id -> highest LSN written to it that is not yet durable. */
  private readonly pendingKeys = new Map<string, number>();
  private readonly waiters = new Heap<DurableWaiter>((a, b) => a.lsn - b.lsn);
  private readonly lal: number;
  private readonly timeoutMs: number;

  constructor(vdl: number, lsnNext: number, lal: number, timeoutMs: number) {
    assert(lsnNext > vdl, 'next LSN must be above VDL');
    this.vdl = vdl;
    this.lsnNext = lsnNext;
    this.lal = lal;
    this.timeoutMs = timeoutMs;
    // Every commit holds >= 1 LSN and at most LAL LSNs are outstanding past VDL... plus the LSN
    // jump after recovery, which lies below the first commit and never occupies a slot.
    this.queue = new FixedDeque<Commit>(Array, lal + 1);
  }

  get pending(): number {
    return this.queue.size;
  }

  get waiting(): number {
    return this.waiters.size;
  }

  /** True if `count` more LSNs may be allocated without passing the LAL. */
  canAllocate(count: number): boolean {
    return this.lsnNext + count - 1 - this.vdl <= this.lal && this.queue.size < this.queue.capacity;
  }

  allocate(count: number): number {
    assert(this.canAllocate(count), 'LSN allocation past the LAL');
    const first = this.lsnNext;
    this.lsnNext += count;
    return first;
  }

  /** Registers a commit whose MTR ends at `lsn` (its CPL); `keys` become pending until durable. */
  add(lsn: number, keys: string | string[], nowMs: number, resolve: (lsn: number) => void, reject: (e: AuroralError) => void, sampledAt = -1): void {
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

  /** VDL moved: resolve every commit at or below it, in LSN order. */
  advance(vdl: number): void {
    if (vdl <= this.vdl) return;
    this.vdl = vdl;
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

  /**
   * Rejects commits past their deadline with QUORUM_UNAVAILABLE (outcome unknown: the record is
   * in the log and may still become durable, so its keys stay pending). Returns ms to the next
   * deadline, or null.
   */
  expire(nowMs: number): number | null {
    for (;;) {
      const head = this.queue.peekFirst();
      if (head === undefined) return null;
      if (head.deadlineMs > nowMs) return head.deadlineMs - nowMs;
      this.queue.shift();
      this.timedOut++;
      head.reject(errors.quorumUnavailable(head.lsn, this.timeoutMs, this.vdl));
    }
  }

  /** At close: reject everything still waiting. */
  rejectAll(e: AuroralError): void {
    while (this.queue.size > 0) this.queue.shift()!.reject(e);
    while (this.waiters.size > 0) this.waiters.pop()!.resolve();
  }
}
