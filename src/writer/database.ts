// The writer: the application's handle on a volume. It allocates LSNs, encodes redo records
// straight into the log ring, and resolves each commit once VDL covers it, strictly in LSN order.
// Reads go to one node whose SCL covers the read point; a key with a write in flight is read only
// after that write is durable (key tracking), so a read never returns what a crash could lose.
import { performance } from 'node:perf_hooks';
import { fail } from '../assert.js';
import type { Config } from '../config.js';
import { errors, type AuroralError } from '../errors.js';
import { encodeRecord, Op, pageIdOf, recordBytes } from '../log/record.js';
import { RingProducer } from '../ring/ring.js';
import { ctl, sleepersOf } from '../shared/control.js';
import type { Cluster, WriterLink } from './cluster.js';
import { CommitPipeline } from './commits.js';
import { scanPrefix, type ScanEntry, type ScanOptions } from './key-scan.js';
import { borrowBytes, copyBytes, keyId, ownBytes } from './keys.js';
import { Transaction, type TxOp } from './transaction.js';
import { WriterLifecycle, WriterState } from './lifecycle.js';
import type { CacheLease } from './page-cache.js';
import { Reader } from './reader.js';
import { Snapshot } from './snapshot.js';
import { collectStats, type DatabaseStats } from './stats.js';
import { StageMetrics } from '../metrics/stages.js';
import { isSampled } from '../metrics/trace.js';
import { monoMicros } from '../shared/mono-clock.js';

export type Key = string | Uint8Array;
export type Value = string | Uint8Array;
/** One operation of db.batch() (the level / lmdb-js convention). */
export type BatchOp = { type: 'put'; key: Key; value: Value } | { type: 'del'; key: Key };

/** An MTR waiting for LSNs (LAL) or log-ring space; retried in FIFO order. */
interface Blocked {
  ops: TxOp[];
  mtrBytes: number;
  keys: string | string[];
  deadlineMs: number;
  /** When commit() was called (monoMicros; 0 with stage metrics off). */
  calledAt: number;
  resolve: (lsn: number) => void;
  reject: (e: AuroralError) => void;
}

export interface Faults {
  /**
   * Node i stops taking frames and answering reads (its ring fills; the writer goes on). It takes
   * effect at the node's next loop turn (its doorbell is rung): frames it was already taking are
   * still appended and acknowledged.
   */
  pauseNode(i: number): void;
  resumeNode(i: number): void;
  /**
   * Flips one bit in a file of node i on disk (default: inside the first record of its oldest
   * hot-log segment). Returns what was hit. Scrub must find and repair it; reads must refuse it.
   */
  corruptByte(i: number, file?: string, offset?: number): { file: string; offset: number };
  /** Frames on their way to node i are lost with this probability (0..1); gossip must fill the holes. */
  dropFrames(i: number, probability: number): void;
  /** Node i keeps writing but silently drops read requests (the writer is not told). */
  muteNode(i: number, muted?: boolean): void;
  /** Each fdatasync of node i takes `micros` longer (0: off). */
  slowFsync(i: number, micros: number): void;
  /** Node i's k-th fdatasync from now fails with EIO: the node fails itself; restartNode rebuilds it from a peer. */
  failFsync(i: number, k?: number): void;
  /** Node i's disk is full (ENOSPC on write and segment creation) until called with false. */
  diskFull(i: number, full?: boolean): void;
  /** Node i's next append is torn (half of it reaches the file) and the node dies before syncing. */
  tearNextWrite(i: number): void;
  /** Kills node i's thread at once (nothing flushed). */
  crashNode(i: number): Promise<void>;
  /** Restarts node i from its hot log; it catches up from the group-commit thread's retention. */
  restartNode(i: number): Promise<void>;
  /**
   * Kills this writer at once: its group-commit thread is terminated without cutting or sending
   * what is pending, and everything in flight rejects with WRITER_KILLED. The storage nodes keep
   * running: attach a new writer with volume.attachWriter() (writer-restart recovery).
   */
  killWriter(): Promise<void>;
}

function checkInt(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw errors.invalidArgument(name, `must be an integer from ${min} to ${max}, got ${String(v)}`);
  return v;
}

export class Database {
  readonly config: Config;
  readonly epoch: number;
  readonly faults: Faults;
  private readonly cluster: Cluster;
  private readonly link: WriterLink;
  private readonly onClose: (db: Database) => Promise<void>;
  private readonly ring: RingProducer;
  private readonly ringView: DataView;
  private readonly commits: CommitPipeline;
  private readonly blocked: Blocked[] = [];
  private blockedHead = 0;
  private readonly cache: CacheLease;
  private readonly reader: Reader;
  private pumping = false;
  /** The one lifecycle state (lifecycle.ts has the allowed transitions). */
  private readonly life = new WriterLifecycle();
  /** The stop in progress or done (close() or kill()): what close() returns once asked again. */
  private stopping: Promise<void> | null = null;
  /** FENCED or KILLED: the error every later operation fails with (also once closed). */
  private failure: AuroralError | null = null;
  private readonly opened = performance.now();
  private readonly metrics: StageMetrics;

  /** @internal use open() or Volume.attachWriter() */
  constructor(config: Config, cluster: Cluster, link: WriterLink, epoch: number, vdl: number, lsnNext: number, cache: CacheLease,
    onClose: (db: Database) => Promise<void>) {
    this.config = config;
    this.cluster = cluster;
    this.link = link;
    this.onClose = onClose;
    this.epoch = epoch;
    this.ring = new RingProducer(link.logRing);
    this.ringView = new DataView(this.ring.bytes.buffer, this.ring.bytes.byteOffset, this.ring.bytes.byteLength);
    this.commits = new CommitPipeline(vdl, lsnNext, config.lsnAllocationLimit, config.commitTimeoutMs);
    this.cache = cache;
    this.reader = new Reader(config, cluster, link, this.commits, this.cache, (lsn) => this.waitDurable(lsn), () => !this.life.accepting);
    this.reader.publishReadPointMin();
    this.metrics = new StageMetrics(cluster.trace, config.metrics.stages, config.metrics.sampleLsns, link.logRing, link.rings);
    if (config.metrics.stages) this.commits.onSampledAck = (lsn, at) => this.metrics.onAcknowledged(lsn, at, monoMicros());
    link.onFatal = (e) => {
      if (this.life.state === WriterState.OPEN) this.life.to(WriterState.FAILED); // closing: the close goes on
      this.commits.rejectAll(errors.nodeFailed(-1, `group-commit thread died: ${e.message}`));
    };
    this.faults = cluster.guardFaults(link, {
      pauseNode: (i) => cluster.pause(this.nodeIndex(i)),
      resumeNode: (i) => cluster.resume(this.nodeIndex(i)),
      muteNode: (i, muted = true) => cluster.mute(this.nodeIndex(i), muted),
      corruptByte: (i, file, offset) => cluster.corruptByte(this.nodeIndex(i), file, offset),
      dropFrames: (i, probability) => {
        if (typeof probability !== 'number' || !(probability >= 0 && probability <= 1)) {
          throw errors.invalidArgument('probability', `must be a number from 0 to 1, got ${String(probability)}`);
        }
        cluster.dropFrames(this.nodeIndex(i), probability);
      },
      crashNode: (i) => cluster.crash(this.nodeIndex(i)),
      restartNode: (i) => cluster.restart(this.nodeIndex(i), this.epoch),
      killWriter: () => this.kill(),
      slowFsync: (i, micros) => cluster.setDiskFault(this.nodeIndex(i), 'slowSyncMicros', checkInt('micros', micros, 0, 10_000_000)),
      failFsync: (i, k = 1) => cluster.setDiskFault(this.nodeIndex(i), 'failSyncIn', checkInt('k', k, 1, 1_000_000)),
      diskFull: (i, full = true) => cluster.setDiskFault(this.nodeIndex(i), 'diskFull', full ? 1 : 0),
      tearNextWrite: (i) => cluster.setDiskFault(this.nodeIndex(i), 'tearNext', 1),
    });
  }

  private nodeIndex(i: unknown): number {
    if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= this.config.nodes) {
      throw errors.invalidArgument('node', `must be an integer from 0 to ${this.config.nodes - 1}, got ${String(i)}`);
    }
    return i;
  }

  get vdl(): number {
    return this.commits.vdl;
  }

  // ---- writes -----------------------------------------------------------------------------

  put(key: Key, value: Value): Promise<number> {
    return this.write(Op.PUT, key, value);
  }

  delete(key: Key): Promise<number> {
    return this.write(Op.DELETE, key, null);
  }

  private write(kind: Op, key: Key, value: Value | null): Promise<number> {
    if (!this.life.accepting) return Promise.reject(this.deadError());
    let op: TxOp;
    try {
      // Borrowed, not copied: encoded into the ring before this call returns, unless it has to
      // wait for LSNs or ring space, and then commit() takes its own copy.
      op = this.op(kind, key, value, false);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.commit([op], op.id);
  }

  /**
   * Commits `ops` as one MTR, the level / lmdb-js batch convention: all of it becomes durable and
   * visible at once, or none of it, and a key written twice keeps its last operation. Resolves
   * with the batch's commit LSN once durable (an empty batch: at once, with VDL). Validated whole
   * before anything is encoded: one bad operation rejects the batch (INVALID_ARGUMENT naming it).
   */
  batch(ops: readonly BatchOp[]): Promise<number> {
    if (!this.life.accepting) return Promise.reject(this.deadError());
    if (!Array.isArray(ops)) return Promise.reject(errors.invalidArgument('ops', "must be an array of { type: 'put' | 'del', key, value }"));
    const byKey = new Map<string, TxOp>();
    try {
      // Borrowed, as write()'s: commit() below encodes them before this call returns, or copies
      // what must wait for LSNs or ring space.
      ops.forEach((o: BatchOp, i) => {
        if (o === null || typeof o !== 'object') throw errors.invalidArgument(`ops[${i}]`, "must be { type: 'put' | 'del', key, value }");
        let t: TxOp;
        if (o.type === 'put') {
          if (o.value === undefined || o.value === null) throw errors.invalidArgument(`ops[${i}].value`, "is required for a 'put' (use type 'del' to delete)");
          t = this.op(Op.PUT, o.key, o.value, false);
        } else if (o.type === 'del') {
          t = this.op(Op.DELETE, o.key, null, false);
        } else {
          throw errors.invalidArgument(`ops[${i}].type`, `must be 'put' or 'del', got ${JSON.stringify((o as { type?: unknown }).type)}`);
        }
        byKey.set(t.id, t); // first-write order, last operation (as a transaction keeps them)
      });
    } catch (e) {
      return Promise.reject(e);
    }
    if (byKey.size === 0) return Promise.resolve(this.commits.vdl);
    const list = [...byKey.values()];
    return this.commit(list, list.map((o) => o.id));
  }

  /**
   * @internal validates one operation and computes its page and size. `own`: private copies of the
   * caller's bytes (keys.ts), for an operation kept past the call (a transaction's); false only
   * for one commit() takes at once (it copies what it has to keep).
   */
  op(kind: Op, key: Key, value: Value | null, own = true): TxOp {
    const k = own ? ownBytes('key', key) : borrowBytes('key', key);
    if (k.length === 0) throw errors.invalidArgument('key', 'must not be empty');
    if (k.length > this.config.keyBytesMax) throw errors.keyTooLarge(k.length, this.config.keyBytesMax);
    const v = value === null ? null : own ? ownBytes('value', value) : borrowBytes('value', value);
    if (v !== null && v.length > this.config.valueBytesMax) throw errors.valueTooLarge(v.length, this.config.valueBytesMax);
    return { op: kind, key: k, value: v, id: keyId(k), pageId: pageIdOf(k, this.config.pageCount), bytes: recordBytes(k.length, v?.length ?? 0) };
  }

  /** @internal encodes `ops` as one MTR and resolves with its CPL once durable. */
  commit(ops: TxOp[], keys: string | string[]): Promise<number> {
    // An MTR takes all its LSNs at once and never more than the LAL past VDL: a bigger one could
    // never be encoded, and would hold every later commit behind it (FIFO) until it timed out.
    if (ops.length > this.config.lsnAllocationLimit) return Promise.reject(errors.transactionTooManyRecords(ops.length, this.config.lsnAllocationLimit));
    let mtrBytes = 0;
    for (const o of ops) mtrBytes += o.bytes;
    if (mtrBytes > this.config.mtrBytesMax) return Promise.reject(errors.transactionTooLarge(mtrBytes, this.config.mtrBytesMax));
    return new Promise<number>((resolve, reject) => {
      const calledAt = this.metrics.enabled ? monoMicros() : 0;
      // FIFO: LSN order must follow call order, so nobody overtakes a blocked commit. The common
      // case encodes at once and allocates nothing more than the promise and its queue entry.
      if (this.blocked.length > this.blockedHead || !this.encode(ops, mtrBytes, keys, calledAt, resolve, reject)) {
        // Kept until encoded: the caller may reuse its buffers as soon as this call returns.
        for (const o of ops) {
          o.key = copyBytes(o.key);
          if (o.value !== null) o.value = copyBytes(o.value);
        }
        this.blocked.push({ ops, mtrBytes, keys, deadlineMs: performance.now() + this.config.commitTimeoutMs, calledAt, resolve, reject });
      }
      this.ensurePumping();
    });
  }

  private tryEncode(b: Blocked): boolean {
    return this.encode(b.ops, b.mtrBytes, b.keys, b.calledAt, b.resolve, b.reject);
  }

  private encode(ops: TxOp[], mtrBytes: number, keys: string | string[], calledAt: number,
    resolve: (lsn: number) => void, reject: (e: AuroralError) => void): boolean {
    if (this.link.fatal !== null) { // the thread is gone (FAILED, or died while CLOSING)
      reject(errors.nodeFailed(-1, `group-commit thread died: ${this.link.fatal.message}`));
      return true;
    }
    const count = ops.length;
    if (!this.commits.canAllocate(count)) return false;
    let offset = this.ring.tryReserve(mtrBytes, count);
    if (offset < 0) {
      // Ask the group-commit thread to ring us when it frees space, then look once more (it may
      // have freed space between our check and the flag).
      Atomics.store(this.link.control.i32, ctl.writerWantsSpace, 1);
      offset = this.ring.tryReserve(mtrBytes, count);
      if (offset < 0) return false;
    }
    if (Atomics.load(this.link.control.i32, ctl.writerWantsSpace) !== 0) Atomics.store(this.link.control.i32, ctl.writerWantsSpace, 0);
    const lsnFirst = this.commits.allocate(count);
    let at = offset;
    for (let i = 0; i < count; i++) {
      const o = ops[i]!;
      at += encodeRecord(this.ring.bytes, this.ringView, at, o.op, i === count - 1, lsnFirst + i, o.pageId, o.key, o.value);
      // The writer applies its own redo to its cache: the entry is now the key's newest version.
      this.cache.applyWrite(o.pageId, o.id, lsnFirst + i, o.value);
    }
    if (at - offset !== mtrBytes) fail(`MTR size mismatch: ${at - offset} encoded, ${mtrBytes} reserved`);
    this.ring.publish(); // payload first, then the position (Atomics.store inside)
    this.ringGcSoon();
    let sampledAt = -1;
    if (this.metrics.enabled && isSampled(lsnFirst, lsnFirst + count - 1, this.metrics.sampleLsns)) {
      sampledAt = calledAt;
      this.metrics.onEncoded(this.ring.usedBytes);
    }
    this.commits.add(lsnFirst + count - 1, keys, performance.now(), resolve, reject, sampledAt);
    return true;
  }

  /**
   * Rings the group-commit doorbell once per burst of commits rather than once per commit: a
   * ring while that thread sleeps is a futex syscall, and a burst (e.g. every continuation of one
   * VDL advance) is drained by one wake-up anyway. The microtask runs before any I/O or timer.
   */
  private ringGcSoon(): void {
    if (this.gcRingScheduled) return;
    this.gcRingScheduled = true;
    queueMicrotask(this.ringGcNow);
  }

  private gcRingScheduled = false;
  private readonly ringGcNow = (): void => {
    this.gcRingScheduled = false;
    // Asleep with its window full, the thread wakes on the next ack (a frame in flight is not yet
    // durable, and the node whose SCL completes its quorum rings it) or its 50 ms watchdog, and
    // drains the ring then. Our records wait for that ack: while the window is full, neither
    // groupCommit.waitMicrosMax nor a size limit cuts them earlier (they used to, into a frame
    // queued behind the window; measured no slower: docs/results.md, 2026-12-03 afternoon).
    if (Atomics.load(this.link.control.i32, ctl.gcWindowFull) !== 0) return;
    this.link.control.ring(ctl.gcDoorbell);
  };

  // ---- the writer's wake-up loop ----------------------------------------------------------

  private ensurePumping(): void {
    if (this.pumping) return;
    this.pumping = true;
    void this.pump();
  }

  private hasWork(): boolean {
    return this.commits.pending > 0 || this.blocked.length > this.blockedHead || this.commits.waiting > 0;
  }

  /**
   * Sleeps on the writer doorbell with Atomics.waitAsync while anything waits for durability.
   * (waitAsync holds no ref on the event loop; the ref'd worker threads keep the process alive.)
   */
  private async pump(): Promise<void> {
    const i32 = this.link.control.i32;
    try {
      while (this.hasWork()) {
        const seen = Atomics.load(i32, ctl.writerDoorbell);
        const next = this.onWake();
        if (!this.hasWork()) break;
        // Counted as a sleeper while it waits, so the group-commit thread notifies (Control.ring).
        const sleepers = sleepersOf(ctl.writerDoorbell);
        Atomics.add(i32, sleepers, 1);
        const r = Atomics.waitAsync(i32, ctl.writerDoorbell, seen, Math.max(1, Math.min(next ?? 100, 100)));
        try {
          if (r.async) await r.value;
        } finally {
          Atomics.sub(i32, sleepers, 1);
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Returns ms until the next deadline, or null. */
  private onWake(): number | null {
    const fencedBy = Atomics.load(this.link.control.i32, ctl.fencedBy);
    if (fencedBy !== 0 && this.life.is(WriterState.OPEN, WriterState.CLOSING, WriterState.FAILED)) {
      // A newer writer owns the volume: nothing of ours in flight can be acknowledged any more.
      this.life.to(WriterState.FENCED);
      this.failAll(errors.fenced(this.epoch, fencedBy));
      return null;
    }
    if (this.commits.pending > 0) {
      const full = this.cluster.diskFullNodes();
      if (full > this.config.nodes - this.config.writeQuorum) this.commits.rejectAll(errors.diskFull(this.commits.vdl + 1, full));
    }
    const vdl = this.link.control.load64(ctl.vdl);
    if (vdl > this.commits.vdl) {
      this.commits.advance(vdl);
      this.reader.publishReadPointMin();
    }
    while (this.blockedHead < this.blocked.length && this.tryEncode(this.blocked[this.blockedHead]!)) this.blockedHead++;
    const now = performance.now();
    // Blocked MTRs time out too (LAL reached while the quorum is gone).
    while (this.blockedHead < this.blocked.length && this.blocked[this.blockedHead]!.deadlineMs <= now) {
      const b = this.blocked[this.blockedHead++]!;
      b.reject(errors.quorumUnavailable(this.commits.lsnNext, this.config.commitTimeoutMs, this.commits.vdl));
    }
    if (this.blockedHead > 0 && this.blockedHead === this.blocked.length) {
      this.blocked.length = 0;
      this.blockedHead = 0;
    }
    const a = this.commits.expire(now);
    const head = this.blocked[this.blockedHead];
    const b = head === undefined ? null : head.deadlineMs - now;
    return a === null ? b : b === null ? a : Math.min(a, b);
  }

  // ---- reads ------------------------------------------------------------------------------

  /** The latest durable value of `key` (waits for a write of it still in flight). */
  get(key: Key): Promise<Uint8Array | undefined> {
    if (!this.life.accepting) return Promise.reject(this.deadError());
    let k: Uint8Array;
    try {
      k = ownBytes('key', key); // a read may wait for a write in flight, then use the key
      if (k.length === 0) throw errors.invalidArgument('key', 'must not be empty');
      if (k.length > this.config.keyBytesMax) throw errors.keyTooLarge(k.length, this.config.keyBytesMax);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.reader.get(k);
  }

  /** Pauses or resumes coalescing on every node (to measure its cost; the hot log grows meanwhile). */
  setCoalescing(enabled: boolean): void {
    Atomics.store(this.cluster.control.i32, ctl.coalescePaused, enabled ? 0 : 1);
    for (let i = 0; i < this.config.nodes; i++) this.cluster.control.ring(ctl.nodeDoorbell(i));
  }

  /** A read-only view at the current VDL, consistent while writes go on. Call release(). */
  snapshot(): Snapshot {
    if (!this.life.accepting) throw this.deadError();
    return new Snapshot(this.reader, this.commits.vdl, this.config.keyBytesMax);
  }

  /**
   * Every live key with its value as of one snapshot (snapshot.scan), taken at the VDL when the
   * iteration starts and released when it ends, whether it completes, fails or is left early
   * (`break`). Bad options throw at the call. See writer/key-scan.ts.
   */
  scan(options?: ScanOptions): AsyncGenerator<ScanEntry, void, undefined> {
    if (!this.life.accepting) throw this.deadError();
    const prefix = scanPrefix(options, this.config.keyBytesMax);
    return this.scanSnapshot(prefix);
  }

  // The snapshot is taken at the first next(), not at the call: a scan never iterated holds nothing.
  private async *scanSnapshot(prefix: Uint8Array): AsyncGenerator<ScanEntry, void, undefined> {
    const snap = this.snapshot();
    try {
      yield* snap.scan({ prefix });
    } finally {
      snap.release();
    }
  }

  private waitDurable(lsn: number): Promise<void> {
    const p = this.commits.waitDurable(lsn);
    if (p === null) return Promise.resolve();
    this.ensurePumping();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(errors.quorumUnavailable(lsn, this.config.commitTimeoutMs, this.commits.vdl)), this.config.commitTimeoutMs);
      timer.unref();
      void p.then(() => {
        clearTimeout(timer);
        // Stopped meanwhile: the reader would only find the writer closed.
        if (!this.life.accepting) reject(errors.closed());
        else resolve();
      });
    });
  }

  // ---- transactions -----------------------------------------------------------------------

  /**
   * Runs `fn` and commits everything it wrote as one MTR: all of it becomes durable and visible
   * at once, or none of it. Reads inside see the transaction's own writes, else durable data.
   * Resolves with fn's result once the MTR is durable. Isolation: no conflict detection.
   */
  async transaction<T>(fn: (tx: Transaction) => Promise<T> | T): Promise<T> {
    if (!this.life.accepting) throw this.deadError();
    if (typeof fn !== 'function') throw errors.invalidArgument('fn', 'must be a function');
    const tx = new Transaction(this);
    let result: T;
    try {
      result = await fn(tx);
    } finally {
      tx.end();
    }
    const ops = tx.ops();
    if (ops.length === 0) return result;
    if (!this.life.accepting) throw this.deadError();
    await this.commit(ops, ops.map((o) => o.id));
    return result;
  }

  // ---- stats and lifecycle ----------------------------------------------------------------

  stats(): DatabaseStats {
    return collectStats(this.config, this.cluster, this.link, {
      epoch: this.epoch, vdl: this.commits.vdl, lsnNext: this.commits.lsnNext, acknowledged: this.commits.acknowledged,
      timedOut: this.commits.timedOut, pending: this.commits.pending + (this.blocked.length - this.blockedHead),
      reader: this.reader, cache: this.cache, uptimeMs: performance.now() - this.opened, ringBytesUsed: this.ring.usedBytes,
      stages: this.metrics.snapshot(),
    });
  }

  /**
   * Starts a new window for the per-stage metrics (db.stats().stages): histograms and sample
   * counts restart from zero. Counters elsewhere in stats() are cumulative since open.
   */
  resetStageMetrics(): void {
    this.metrics.reset();
  }

  /**
   * Waits for every commit in flight to settle (durable or timed out: commits are bounded by
   * commitTimeoutMs), then stops all threads. Reads still waiting for a write to become durable
   * are not waited for (that write may never be): they reject with CLOSED.
   */
  close(): Promise<void> {
    if (this.stopping !== null) return this.stopping;
    // A FENCED writer stays FENCED (its operations keep failing with FENCED) while its threads stop.
    if (this.life.is(WriterState.OPEN, WriterState.FAILED)) this.life.to(WriterState.CLOSING);
    this.stopping = (async () => {
      // Wait for commits in flight, unless the thread that would make them durable is gone.
      while ((this.commits.pending > 0 || this.blocked.length > this.blockedHead) && this.link.fatal === null) {
        this.ensurePumping();
        await new Promise((r) => setTimeout(r, 1));
      }
      await this.onClose(this);
      if (this.volume !== null) await this.volume.close();
      this.commits.rejectAll(errors.closed());
      this.life.to(WriterState.CLOSED);
    })();
    return this.stopping;
  }

  /** The writer's lifecycle state (see writer/lifecycle.ts). */
  get state(): WriterState {
    return this.life.state;
  }

  /** @internal the link of this writer's threads. */
  get writerLink(): WriterLink {
    return this.link;
  }

  private volume: { close(): Promise<void> } | null = null;

  /** @internal open(): closing this writer closes its volume. */
  ownVolume(v: { close(): Promise<void> }): void {
    this.volume = v;
  }

  /** FENCED or KILLED: fails everything in flight and, from now on, every operation with `e`. */
  private failAll(e: AuroralError): void {
    this.failure ??= e;
    this.commits.rejectAll(e);
    while (this.blockedHead < this.blocked.length) this.blocked[this.blockedHead++]!.reject(e);
    this.blocked.length = 0;
    this.blockedHead = 0;
  }

  /** The fault hook killWriter(): see Faults. */
  private async kill(): Promise<void> {
    if (this.stopping !== null) return this.stopping;
    this.life.to(WriterState.KILLED);
    this.stopping = (async () => {
      this.failAll(errors.writerKilled());
      await this.cluster.stopGc(this.link, true);
    })();
    return this.stopping;
  }

  /** The error an operation on a writer that can no longer write fails with. */
  private deadError(): AuroralError {
    return this.failure ?? errors.closed();
  }
}
