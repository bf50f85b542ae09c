// The volume: six storage-node threads that outlive any one writer. open() is openVolume() plus
// attachWriter(); a test or an operator can kill a writer (db.faults.killWriter()) and attach a new
// one while the nodes keep running (writer-restart recovery, no log replay, warm page cache).
//
// Recovery, as one sequence for both paths (docs/recovery.md), decided in recovery/sequence.ts
// (openSequence, attachSequence: the simulator runs the same generators); this file carries the
// steps out on the node threads (threadSteps):
//   1. learn each node's chain end: at open the nodes scan their logs (in parallel); on a live
//      volume they already know it;
//   2. fence: every reachable node durably raises its epoch and from then on refuses the old
//      writer's frames; at least V - Vw + 1 = 3 must be fenced (then no old write quorum is left);
//   3. plan: VDL = the longest chain among them (every acknowledged write is on at least one of any
//      three nodes); VOLUME_CORRUPT if a frame proves an acknowledged LSN above it;
//   4. record (epoch, VDL) durably in volume.json and on the nodes (the truncation history);
//   5. bring nodes to VDL: truncate above it, copy what they miss from the source node (at open)
//      or gossip (live), and open for writes once a write quorum holds VDL.
// A live attach fails closed: a running node that cannot be fenced, or that refuses to adopt (its
// chain is longer than the kept VDL), is stopped (excluded) rather than left running at the old
// epoch; too few adopting nodes fail the attach with RECOVERY_FAILED. Attaches and node restarts
// run one at a time (Cluster.exclusive), and each attach claims its epoch before its first await.
// The volume is locked (volume-lock.ts) from before recovery until close, or until a failed open.
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { frameBytesMax, resolveConfig, type Config, type OpenOptions } from '../config.js';
import { assert } from '../assert.js';
import { errors, isAuroralError } from '../errors.js';
import type { RecoveryPlan } from '../recovery/plan.js';
import { attachSequence, openSequence, runAsync, settle, type RecoveryStep } from '../recovery/sequence.js';
import { checkVolume, readVolume, upgradeVolume, writeVolume, VOLUME_FORMAT, type VolumeFile } from '../recovery/volume.js';
import { mkdirDurable } from '../shared/fsync-dir.js';
import { ctl } from '../shared/control.js';
import { Cluster, SPARE_NODE_DELAY_MS, type WriterLink } from './cluster.js';
import { Database } from './database.js';
import { CacheLease, PageCache } from './page-cache.js';
import { VolumeLock } from './volume-lock.js';

export class Volume {
  readonly config: Config;
  /** The writers' page cache, in a SharedArrayBuffer: it outlives a writer, so a re-attached writer starts warm. */
  readonly cache: PageCache;
  private readonly cluster: Cluster;
  private readonly lock: VolumeLock;
  /** The recovery done at open, for the first writer (its nodes are already at its epoch). */
  private pendingOpen: { plan: RecoveryPlan; epoch: number } | null;
  private readonly writers = new Set<Database>();
  private closing: Promise<void> | null = null;
  /**
   * The last attach: timing (for the recovery benchmark, milliseconds), the VDL it kept, the nodes
   * fenced, and the running nodes it stopped because they could not be fenced or refused to adopt.
   */
  lastAttach = { fenceMs: 0, catchUpMs: 0, totalMs: 0, vdl: 0, nodesFenced: 0, nodesExcluded: 0 };
  /**
   * Where the open's time went, milliseconds since openVolume() was called at the end of each
   * phase: lock, scanned (every node's thread started and its chain end found), fenced, recorded,
   * recovered; and, for the slowest node, nodeModulesLoaded (since the call: thread started, modules loaded),
   * nodeScanMsMax and nodeRecoverMsMax (durations). For benchmarks and docs/recovery.md.
   */
  openPhases: Record<string, number> = {};

  /** @internal use openVolume() */
  constructor(config: Config, cluster: Cluster, lock: VolumeLock, epoch: number, plan: RecoveryPlan, openPhases: Record<string, number> = {}) {
    this.openPhases = openPhases;
    this.config = config;
    this.cluster = cluster;
    this.lock = lock;
    this.pendingOpen = { plan, epoch };
    this.cache = new PageCache(config.cacheBytesMax, config.pageCount);
  }

  /** The storage nodes (fault hooks and stats go through a writer: db.faults, db.stats()). */
  get nodes(): number {
    return this.config.nodes;
  }

  /** @internal writer links held (each is 128 MiB of rings with the default sizes). */
  get writerLinkCount(): number {
    return this.cluster.linkCount;
  }

  /** @internal reads waiting for a node's answer. */
  get readsPending(): number {
    return this.cluster.readsPending;
  }

  /**
   * Attaches a writer. The first attach after openVolume() uses the recovery done at open; any
   * later one fences the running nodes at a new epoch (a previous writer, dead or alive, can never
   * be acknowledged again: it gets FENCED), keeps VDL = the longest fenced chain, and opens once a
   * write quorum holds it. Pages cached above that VDL (a killed writer's unacknowledged writes)
   * are dropped; the rest of the cache is kept. Concurrent attaches run one after the other, each
   * at its own epoch (the earlier one is fenced by the later one).
   */
  attachWriter(): Promise<Database> {
    if (this.closing !== null) return Promise.reject(errors.closed());
    return this.cluster.exclusive(() => this.attach());
  }

  private async attach(): Promise<Database> {
    if (this.closing !== null) throw errors.closed();
    const t0 = performance.now();
    let link: WriterLink;
    let epoch: number;
    let plan: RecoveryPlan;
    if (this.pendingOpen !== null) {
      ({ plan, epoch } = this.pendingOpen);
      this.pendingOpen = null;
      assert(this.cluster.current !== null && this.cluster.current.epoch === epoch, 'the link of the open is current');
      link = this.cluster.current;
      this.lastAttach.nodesExcluded = 0;
    } else {
      ({ link, epoch, plan } = await this.fenceAndPlan(t0));
    }
    link.control.store64(ctl.vdl, plan.vdl);
    this.cluster.startGc(link, { epoch, lsnPrev: plan.vdl, batchSeqNext: plan.batchSeqNext });
    this.cache.dropAbove(plan.vdl);
    const db = new Database(this.config, this.cluster, link, epoch, plan.vdl, plan.lsnNext, new CacheLease(this.cache.sab === null ? this.cache : new PageCache(0, 0, this.cache.sab), epoch), (d) => this.detach(d));
    this.writers.add(db);
    this.lastAttach.totalMs = performance.now() - t0;
    this.lastAttach.vdl = plan.vdl;
    return db;
  }

  private async fenceAndPlan(t0: number): Promise<{ link: WriterLink; epoch: number; plan: RecoveryPlan }> {
    const c = this.config;
    const cluster = this.cluster;
    const epoch = cluster.claimEpoch(); // before any await: no other attach can take it
    const link = cluster.newWriterLink(epoch);
    cluster.current = link; // from its fence on, a node takes this writer's frames
    this.lastAttach.nodesExcluded = 0;
    try {
      const run = threadSteps(c, cluster, link, false);
      const r = await runAsync(attachSequence(c, epoch, cluster.history), async (s) => {
        if (s.kind === 'fence') {
          const fenced = (await run(s)) as { ok: boolean }[];
          this.lastAttach.fenceMs = performance.now() - t0;
          this.lastAttach.nodesFenced = fenced.filter((f) => f.ok).length;
          return fenced;
        }
        if (s.kind === 'exclude') {
          const stopped = (await run(s)) as number;
          this.lastAttach.nodesExcluded += stopped;
          return stopped;
        }
        if (s.kind !== 'await-holders') return run(s);
        const t1 = performance.now();
        const holders = await run(s);
        this.lastAttach.catchUpMs = performance.now() - t1;
        return holders;
      });
      return { link, epoch, plan: r.plan };
    } catch (e) {
      cluster.retire(link); // no writer: a node restarted now waits for the next attach's fence
      throw e;
    }
  }

  private async detach(db: Database): Promise<void> {
    this.writers.delete(db);
    await this.cluster.stopGc(db.writerLink, false);
  }

  /**
   * Closes every attached writer (waiting for their commits), stops the storage nodes and releases
   * the volume lock. An attach under way finishes first (and its writer is closed with the rest).
   */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closing = (async () => {
      try {
        await this.cluster.idle();
        await Promise.allSettled([...this.writers].map((w) => w.close()));
        await this.cluster.close();
      } finally {
        this.lock.release();
      }
    })();
    return this.closing;
  }
}

function volumeFile(c: Config, epoch: number, history: VolumeFile['history']): VolumeFile {
  // frameBytesMax: writeVolume keeps the largest any open allowed (the limit belongs to the files).
  return { format: VOLUME_FORMAT, nodes: c.nodes, pageCount: c.pageCount, segmentBytes: c.segmentBytes, epoch, history, frameBytesMax: frameBytesMax(c) };
}

/**
 * Locks the volume at options.dir (VOLUME_LOCKED if it is open elsewhere), starts its storage nodes
 * and recovers it (scan, fence, plan, truncate). Any failure stops the nodes and releases the lock.
 */
export async function openVolume(options: OpenOptions): Promise<Volume> {
  const t0 = performance.now();
  const config = resolveConfig(options);
  mkdirDurable(config.dir); // the volume directory (and any parent it needed), synced in its parent
  const lock = await VolumeLock.acquire(config.dir);
  const phases: Record<string, number> = { lock: performance.now() - t0 };
  let cluster: Cluster | null = null;
  try {
    let existing = readVolume(config.dir);
    if (existing !== null) {
      checkVolume(existing, config);
      existing = upgradeVolume(config.dir, existing); // before a node's fence writes its new epoch file
    }
    cluster = new Cluster(config);
    return await recover(config, cluster, existing, lock, (name, ms) => { phases[name] = ms ?? performance.now() - t0; }, performance.timeOrigin + t0, phases);
  } catch (e) {
    try {
      await cluster?.close();
    } finally {
      lock.release();
    }
    if (isAuroralError(e)) throw e;
    throw errors.recoveryFailed(`open of ${path.resolve(config.dir)} failed: ${(e as Error).message}`);
  }
}

async function recover(config: Config, cluster: Cluster, existing: VolumeFile | null, lock: VolumeLock,
  mark: (phase: string, ms?: number) => void, t0Wall: number, phases: Record<string, number>): Promise<Volume> {
  cluster.history = existing?.history ?? [];
  // Every node scans its hot log (in parallel, each on its own thread); then the one open sequence.
  const scanning = Promise.all(Array.from({ length: config.nodes }, (_, i) => settle(cluster.startNode(i))));
  const link = cluster.current;
  assert(link !== null, 'the link of the open');
  cluster.prestartGc(link); // meanwhile: the first writer's thread, told where to start at attach
  const scans = await scanning;
  mark('scanned');
  // Per node (the slowest): its thread running with its modules loaded, its scan's own time.
  const timing = scans.flatMap((r) => (r.ok ? [r.value.timing] : []));
  if (timing.length > 0) {
    mark('nodeModulesLoaded', Math.max(...timing.map((t) => t.loadedAt)) - t0Wall);
    mark('nodeScanMsMax', Math.max(...timing.map((t) => t.scannedAt - t.loadedAt)));
  }
  const run = threadSteps(config, cluster, link, true);
  const r = await runAsync(openSequence(config, scans, existing?.epoch ?? 0, cluster.history), async (s) => {
    if (s.kind === 'fence') link.epoch = cluster.epoch = s.epoch;
    const out = await run(s);
    mark(s.kind === 'recover' ? 'recovered' : s.kind === 'fence' ? 'fenced' : s.kind === 'record' ? 'recorded' : s.kind);
    if (s.kind === 'recover') {
      const ms = (out as { ok: boolean; value?: unknown }[]).flatMap((o) => (o.ok && typeof o.value === 'number' ? [o.value] : []));
      if (ms.length > 0) mark('nodeRecoverMsMax', Math.max(...ms));
    }
    return out;
  });
  cluster.scheduleSpareNode(SPARE_NODE_DELAY_MS, true); // for the first node restart, once the volume is quiet
  return new Volume(config, cluster, lock, r.epoch, r.plan, phases);
}

/**
 * Carries out the steps of the open and attach sequences (recovery/sequence.ts) on the node
 * threads: per-node steps in parallel; 'record' writes volume.json (fsync'ed, renamed) before any
 * node is told; 'await-holders' watches the nodes' lines in the control block until a quorum holds
 * VDL or commitTimeoutMs passes (those behind fetch from the source by gossip).
 */
function threadSteps(c: Config, cluster: Cluster, link: WriterLink, atOpen: boolean): (s: RecoveryStep) => Promise<unknown> {
  return async (s) => {
    switch (s.kind) {
      case 'fence':
        return Promise.all(s.nodes.map((i) => settle(cluster.fence(i, s.epoch, link, atOpen))));
      case 'record':
        cluster.history = s.history;
        writeVolume(c.dir, volumeFile(c, s.epoch, s.history));
        return undefined;
      case 'recover':
        return Promise.all(s.nodes.map((i, j) => settle(cluster.recoverNode(i, s.vdl, s.epoch, s.sources[j]!))));
      case 'adopt':
        return Promise.all(s.nodes.map((i) => settle(cluster.adopt(i, s.epoch))));
      case 'exclude': {
        // Only a running node needs stopping (one down or failed takes no frames); → how many.
        const running = s.nodes.filter((i) => cluster.isUp(i));
        for (const i of running) await cluster.exclude(i);
        return running.length;
      }
      case 'await-holders': {
        const deadline = performance.now() + c.commitTimeoutMs;
        for (;;) {
          let holders = 0;
          for (const i of s.nodes) if (cluster.isUp(i) && cluster.nodeEpoch(i) === s.epoch && cluster.scl(i) >= s.vdl) holders++;
          if (holders >= s.quorum || performance.now() > deadline) return holders;
          await new Promise((r) => setTimeout(r, 1));
        }
      }
      default:
        throw new Error(`step ${s.kind} is not part of an open or an attach`);
    }
  };
}

/** Opens the volume and attaches its writer; closing the writer closes the volume. */
export async function open(options: OpenOptions): Promise<Database> {
  const volume = await openVolume(options);
  try {
    const db = await volume.attachWriter();
    db.ownVolume(volume);
    return db;
  } catch (e) {
    await volume.close();
    throw e;
  }
}
