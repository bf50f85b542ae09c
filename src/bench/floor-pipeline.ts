// The floor pipeline: Auroral's fixed design with none of its engine, for the floor rows of `npm run bench:write` and `bench:redis`.
// The writer (this thread) copies each put into a SharedArrayBuffer ring and rings the
// group-commit thread, which publishes everything put so far as one frame to six node threads;
// each writes it to its own preallocated file and fdatasyncs; once four have, the put resolves
// (Atomics.waitAsync). It is durable in the same sense as the engine's puts (4 of 6 fdatasync'd,
// in order) but has no LSNs, framing, checksums, recovery, indexes, page cache or reads: its
// throughput is a ceiling for any engine built of these threads and hops on this machine, and
// its CPU per put a floor. Not an API: a benchmark baseline, like baselines.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { PutTarget } from '../cli/workload.js';
import { workerUrl } from '../shared/paths.js';
import { ownTid } from '../metrics/thread-cpu.js';
import {
  C_ACKED, C_DURABLE, C_GC_BELL, C_GC_SLEEPERS, C_HEAD, C_PUBLISHED, C_STOP,
  FLOOR_CONTROL_CELLS, FLOOR_FILE_BYTES, FLOOR_SLOT_BYTES, FLOOR_SLOTS, ring, type FloorWorkerData,
} from './floor-layout.js';

export interface FloorOptions {
  nodes?: number;
  quorum?: number;
  fsync?: 'fdatasync' | 'none';
  /** Frames in flight at most (default 1; `auroral serve` runs the engine with 4). */
  framesInFlight?: number;
  /** Tests: per node, ms it waits before each write (slow nodes). */
  delayMs?: number[];
}

/** Record counts are Int32 cells: a pipeline takes at most this many puts (hours at any rate here). */
const MAX_RECORDS = 2 ** 31 - 1 - FLOOR_SLOTS;

export class FloorPipeline implements PutTarget {
  private readonly ctl: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  private readonly resolvers: (() => void)[] = new Array(FLOOR_SLOTS);
  /** Puts waiting for a free slot (only when the slowest node is FLOOR_SLOTS records behind). */
  private readonly waiting: { key: Uint8Array; value: Uint8Array; resolve: () => void }[] = [];
  private head = 0;
  private resolved = 0;
  private armed = false;
  private ringQueued = false;
  private closed = false;

  private constructor(
    private readonly workers: Worker[],
    /** kernel tid → thread name, for CPU per thread. */
    readonly threads: Map<number, string>,
    control: SharedArrayBuffer,
    ringSab: SharedArrayBuffer,
    private readonly nodes: number,
    private readonly framesInFlight: number,
  ) {
    this.ctl = new Int32Array(control);
    this.bytes = new Uint8Array(ringSab);
    this.view = new DataView(ringSab);
  }

  static async start(dir: string, opts: FloorOptions = {}): Promise<FloorPipeline> {
    const nodes = opts.nodes ?? 6;
    const quorum = opts.quorum ?? 4;
    if (!Number.isInteger(nodes) || nodes < 1 || nodes > 8) throw new RangeError(`floor pipeline: nodes must be 1..8, got ${nodes}`);
    if (!Number.isInteger(quorum) || quorum < 1 || quorum > nodes) throw new RangeError(`floor pipeline: quorum must be 1..nodes, got ${quorum}`);
    const framesInFlight = opts.framesInFlight ?? 1;
    if (!Number.isInteger(framesInFlight) || framesInFlight < 1 || framesInFlight > 64) throw new RangeError(`floor pipeline: framesInFlight must be 1..64, got ${framesInFlight}`);
    const control = new SharedArrayBuffer(FLOOR_CONTROL_CELLS * 4);
    const ringSab = new SharedArrayBuffer(FLOOR_SLOTS * FLOOR_SLOT_BYTES);
    const url = workerUrl('bench/floor-worker.js');
    const threads = new Map<number, string>([[ownTid(), 'writer']]);
    const workers: Worker[] = [];
    const started: Promise<void>[] = [];
    const spawn = (name: string, wd: FloorWorkerData): void => {
      const w = new Worker(url, { workerData: wd });
      workers.push(w);
      started.push(new Promise((resolve, reject) => {
        w.once('message', (m: { tid: number }) => {
          threads.set(m.tid, name);
          resolve();
        });
        w.once('error', reject);
      }));
    };
    const base = { control, ring: ringSab, nodes, quorum, fsync: opts.fsync ?? 'fdatasync', framesInFlight, index: 0, file: '', delayMs: 0 } as const;
    for (let i = 0; i < nodes; i++) {
      const file = path.join(dir, `floor-node-${i}.log`);
      // Preallocated and synced, so a write overwrites allocated blocks and fdatasync has no
      // metadata to flush (the engine's hot-log segments are made the same way).
      const fd = fs.openSync(file, 'w');
      fs.writeSync(fd, new Uint8Array(FLOOR_FILE_BYTES));
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      spawn(`node-${i}`, { ...base, role: 'node', index: i, file, delayMs: opts.delayMs?.[i] ?? 0 });
    }
    spawn('group-commit', { ...base, role: 'group-commit' });
    const p = new FloorPipeline(workers, threads, control, ringSab, nodes, framesInFlight);
    try {
      await Promise.all(started);
    } catch (e) {
      await p.close();
      throw e;
    }
    return p;
  }

  put(key: Uint8Array, value: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new Error('floor pipeline: closed'));
    if (4 + key.length + value.length > FLOOR_SLOT_BYTES) return Promise.reject(new RangeError(`floor pipeline: key + value over ${FLOOR_SLOT_BYTES - 4} bytes`));
    return new Promise((resolve) => {
      if (this.waiting.length > 0 || !this.tryPut(key, value, resolve)) this.waiting.push({ key, value, resolve });
      this.arm();
    });
  }

  private tryPut(key: Uint8Array, value: Uint8Array, resolve: () => void): boolean {
    if (this.head >= MAX_RECORDS) throw new RangeError('floor pipeline: record count exhausted');
    // A slot is free once every node has written it (not only a quorum: a slow node still reads it).
    let slowest = this.head;
    for (let i = 0; i < this.nodes; i++) slowest = Math.min(slowest, Atomics.load(this.ctl, C_DURABLE + i));
    if (this.head - slowest >= FLOOR_SLOTS) return false;
    const slot = this.head % FLOOR_SLOTS;
    const off = slot * FLOOR_SLOT_BYTES;
    this.view.setUint32(off, key.length + value.length, true);
    this.bytes.set(key, off + 4);
    this.bytes.set(value, off + 4 + key.length);
    this.resolvers[slot] = resolve;
    this.head++;
    Atomics.store(this.ctl, C_HEAD, this.head);
    // One ring per burst of puts, as the engine's writer does (ringGcSoon): a ring while the
    // group-commit thread sleeps is a futex syscall, and it only needs the newest head.
    if (!this.ringQueued) {
      this.ringQueued = true;
      queueMicrotask(() => {
        this.ringQueued = false;
        // With one frame in flight, the group-commit thread loads the head right after it acks a
        // frame: a ring is needed only while none is in flight (the engine's writer skips it the
        // same way while the window is full: ctl.gcWindowFull).
        if (this.framesInFlight === 1 && Atomics.load(this.ctl, C_PUBLISHED) !== Atomics.load(this.ctl, C_ACKED)) return;
        ring(this.ctl, C_GC_BELL, C_GC_SLEEPERS);
      });
    }
    return true;
  }

  /** Each node's durable end (records written and fdatasync'd, in order), as it published it. */
  durableEnds(): number[] {
    return Array.from({ length: this.nodes }, (_, i) => Atomics.load(this.ctl, C_DURABLE + i));
  }

  /** Keeps one Atomics.waitAsync on the acked count pending while any put is unresolved. */
  private arm(): void {
    if (this.armed || (this.resolved === this.head && this.waiting.length === 0)) return;
    this.armed = true;
    const acked = Atomics.load(this.ctl, C_ACKED);
    const w = acked > this.resolved ? null : Atomics.waitAsync(this.ctl, C_ACKED, acked, 1000);
    if (w !== null && w.async) void w.value.then(() => this.onAck());
    else queueMicrotask(() => this.onAck());
  }

  private onAck(): void {
    this.armed = false;
    const acked = Atomics.load(this.ctl, C_ACKED);
    while (this.resolved < acked) {
      const slot = this.resolved % FLOOR_SLOTS;
      const r = this.resolvers[slot]!;
      this.resolvers[slot] = undefined!;
      this.resolved++;
      r();
    }
    while (this.waiting.length > 0) {
      const w = this.waiting[0]!;
      if (!this.tryPut(w.key, w.value, w.resolve)) break;
      this.waiting.shift();
    }
    if (!this.closed) this.arm();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.ctl, C_STOP, 1);
    for (const c of [C_GC_BELL, C_PUBLISHED, C_ACKED]) {
      Atomics.add(this.ctl, c, c === C_ACKED ? 0 : 1);
      Atomics.notify(this.ctl, c);
    }
    await Promise.all(this.workers.map((w) => new Promise<void>((resolve) => {
      if (w.threadId === -1) resolve();
      else {
        w.once('exit', () => resolve());
        void w.terminate();
      }
    })));
  }
}

/** What a node file holds for record `n`: its key and value bytes as the writer copied them, or null. */
export function readFloorRecord(file: string, n: number): Uint8Array | null {
  const fd = fs.openSync(file, 'r');
  try {
    const b = new Uint8Array(FLOOR_SLOT_BYTES);
    fs.readSync(fd, b, 0, FLOOR_SLOT_BYTES, (n % FLOOR_SLOTS) * FLOOR_SLOT_BYTES);
    const len = new DataView(b.buffer).getUint32(0, true);
    if (len === 0 || len > FLOOR_SLOT_BYTES - 4) return null;
    return b.subarray(4, 4 + len);
  } finally {
    fs.closeSync(fd);
  }
}
