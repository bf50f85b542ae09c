// The writer's read path: read points, the page cache, and choosing a node.
//
// A read at read point R returns the newest version with LSN <= R. Current reads use R = VDL,
// after waiting for any write of the key still in flight (key tracking: a read never returns
// what a crash could lose, and reads its own writes). Snapshot reads use the snapshot's R; every
// version they can see is durable by construction (R <= VDL), so they never wait.
// Read points in use are registered: their minimum (PGMRPL) is published to the group-commit
// thread, which piggybacks it on frames; nodes keep every version a registered read needs.
// Node choice: among live, unpaused nodes whose SCL >= R and whose published epoch is this writer's,
// the lowest latency (EWMA of observed reads), with every 32nd read sent round-robin so a node's
// estimate recovers after a slow spell; an error or timeout penalises the node and the read moves on
// to the next one (counted). The epoch matters: a node at an older one missed a fence and may hold a
// fenced writer's frames at LSNs this writer reuses; one at a newer one follows a newer writer.
import { performance } from 'node:perf_hooks';
import { assert } from '../assert.js';
import { errors } from '../errors.js';
import type { Config } from '../config.js';
import { pageIdOf } from '../log/record.js';
import { decodeScanChunk, type ScanEntry } from '../node/scan-chunk.js';
import { ctl } from '../shared/control.js';
import type { Cluster, WriterLink } from './cluster.js';
import type { CommitPipeline } from './commits.js';
import { copyBytes, keyId } from './keys.js';
import type { CacheLease } from './page-cache.js';

const EWMA_WEIGHT = 0.2;
const EXPLORE_EVERY = 32;

interface NodeAnswer {
  found: boolean;
  lsn: number;
  value: Uint8Array | null;
}

export class Reader {
  readonly stats = { nodeReads: 0, retries: 0, waitedForDurable: 0, perNode: [] as number[] };
  private readonly config: Config;
  private readonly cluster: Cluster;
  private readonly commits: CommitPipeline;
  private readonly cache: CacheLease;
  private readonly waitDurable: (lsn: number) => Promise<void>;
  private readonly isClosed: () => boolean;
  private readonly readPoints = new Map<number, number>();
  private readonly latencyMicros: Float64Array;
  private readCount = 0;

  constructor(config: Config, cluster: Cluster, private readonly link: WriterLink, commits: CommitPipeline, cache: CacheLease,
    waitDurable: (lsn: number) => Promise<void>, isClosed: () => boolean) {
    this.config = config;
    this.cluster = cluster;
    this.commits = commits;
    this.cache = cache;
    this.waitDurable = waitDurable;
    this.isClosed = isClosed;
    this.latencyMicros = new Float64Array(config.nodes);
    this.stats.perNode = new Array<number>(config.nodes).fill(0);
  }

  /** A current read (R = VDL). The cache-hit path allocates one copy and one promise. */
  get(k: Uint8Array): Promise<Uint8Array | undefined> {
    const id = keyId(k);
    const pending = this.commits.pendingLsn(id);
    if (pending > this.commits.vdl) return this.getAfterDurable(k, id, pending);
    const pageId = pageIdOf(k, this.config.pageCount);
    const hit = this.cache.lookup(pageId, id, this.commits.vdl);
    if (hit !== undefined) return Promise.resolve(hit.value ?? undefined); // the cache returns a copy
    return this.miss(k, id, pageId, this.commits.vdl, true);
  }

  private async getAfterDurable(k: Uint8Array, id: string, lsn: number): Promise<Uint8Array | undefined> {
    this.stats.waitedForDurable++;
    await this.waitDurable(lsn);
    if (this.isClosed()) throw errors.closed();
    return this.get(k);
  }

  /** A read at a snapshot's read point (already registered by the snapshot). */
  getAt(k: Uint8Array, readPoint: number): Promise<Uint8Array | undefined> {
    const id = keyId(k);
    const pageId = pageIdOf(k, this.config.pageCount);
    const hit = this.cache.lookup(pageId, id, readPoint);
    if (hit !== undefined) return Promise.resolve(hit.value ?? undefined); // the cache returns a copy
    return this.miss(k, id, pageId, readPoint, false);
  }

  private async miss(k: Uint8Array, id: string, pageId: number, readPoint: number, fill: boolean): Promise<Uint8Array | undefined> {
    const stamp = this.cache.writeStamp(pageId);
    this.hold(readPoint);
    let a: NodeAnswer;
    try {
      a = await this.readFromNodes(k, readPoint);
    } finally {
      this.release(readPoint);
    }
    // Only current reads fill: their answer is the key's newest version (no write in flight
    // before the read, and the stamp catches any since). A snapshot's answer may be older.
    if (fill) this.cache.fill(pageId, id, a.found ? a.lsn : 0, a.found ? a.value : null, stamp);
    return a.found && a.value !== null ? (fill ? copyBytes(a.value) : a.value) : undefined;
  }

  private readFromNodes(k: Uint8Array, readPoint: number): Promise<NodeAnswer> {
    return this.fromNodes(readPoint, (i) => this.cluster.read(i, k, readPoint, this.config.readTimeoutMs));
  }

  /**
   * One chunk of page `pageId` at a snapshot's read point (key-scan.ts), from the first node that
   * answers it; the read point is held meanwhile (as a miss holds it). The page cache is not
   * consulted: it holds some keys of a page, the nodes hold all of them.
   */
  async scanPage(pageId: number, readPoint: number, prefix: Uint8Array, after: Uint8Array | null, bytesMax: number):
    Promise<{ entries: ScanEntry[]; after: Uint8Array | null }> {
    if (this.isClosed()) throw errors.closed();
    this.hold(readPoint);
    try {
      const r = await this.fromNodes(readPoint, (i) => this.cluster.scanPage(i, { pageId, readPoint, prefix, after, bytesMax }, this.config.readTimeoutMs));
      assert(r.chunk !== null, 'a scan answer without its chunk');
      return { entries: decodeScanChunk(r.chunk), after: r.after };
    } finally {
      this.release(readPoint);
    }
  }

  get pageCount(): number {
    return this.config.pageCount;
  }

  /**
   * Asks eligible nodes in turn (choose) until one answers 'ok': an error, a timeout, or a node
   * that is behind, failed or found a value corrupt moves the request on to the next node. The one
   * retry policy of every read (gets and scan chunks).
   */
  private async fromNodes<T extends { status: string }>(readPoint: number, ask: (node: number) => Promise<T>): Promise<T> {
    const tried = new Array<boolean>(this.config.nodes).fill(false);
    let lastError: unknown = null;
    for (let attempt = 0; attempt < this.config.nodes; attempt++) {
      const i = this.choose(readPoint, tried);
      if (i < 0) break;
      tried[i] = true;
      this.stats.nodeReads++;
      this.stats.perNode[i]!++;
      const t0 = performance.now();
      try {
        const r = await ask(i);
        const us = (performance.now() - t0) * 1000;
        this.latencyMicros[i] = this.latencyMicros[i] === 0 ? us : (1 - EWMA_WEIGHT) * this.latencyMicros[i]! + EWMA_WEIGHT * us;
        if (r.status === 'ok') return r;
      } catch (e) {
        lastError = e;
        this.latencyMicros[i] = Math.max(this.latencyMicros[i]! * 2, this.config.readTimeoutMs * 1000);
      }
      this.stats.retries++;
    }
    if (this.isClosed()) throw errors.closed();
    throw errors.readUnavailable(`no node with SCL >= read point ${readPoint} answered` +
      (lastError === null ? '' : ` (last error: ${(lastError as Error).message})`));
  }

  /** The eligible node with the lowest latency estimate (every 32nd read: the next in turn). */
  private choose(readPoint: number, tried: boolean[]): number {
    const n = this.config.nodes;
    const explore = ++this.readCount % EXPLORE_EVERY === 0;
    const start = this.readCount % n;
    let best = -1;
    for (let t = 0; t < n; t++) {
      const i = (start + t) % n;
      if (tried[i] || !this.cluster.isUp(i) || this.cluster.paused[i] || this.cluster.scl(i) < readPoint || this.cluster.nodeEpoch(i) !== this.link.epoch) continue;
      if (explore) return i;
      if (best < 0 || this.latencyMicros[i]! < this.latencyMicros[best]!) best = i;
    }
    return best;
  }

  latencies(): number[] {
    return Array.from(this.latencyMicros);
  }

  /** Registers a read point in use (it holds PGMRPL down). */
  hold(readPoint: number): void {
    this.readPoints.set(readPoint, (this.readPoints.get(readPoint) ?? 0) + 1);
    this.publishReadPointMin();
  }

  release(readPoint: number): void {
    const n = (this.readPoints.get(readPoint) ?? 0) - 1;
    if (n <= 0) this.readPoints.delete(readPoint);
    else this.readPoints.set(readPoint, n);
    this.publishReadPointMin();
  }

  /** PGMRPL: the lowest read point in use, or VDL when none is. */
  publishReadPointMin(): void {
    let min = this.commits.vdl;
    for (const rp of this.readPoints.keys()) if (rp < min) min = rp;
    this.link.control.store64(ctl.readPointMin, min);
  }
}
