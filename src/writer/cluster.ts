// The writer's handle on its threads: starts the storage-node workers and the group-commit
// worker, routes page reads to nodes, and carries out fault hooks (pause, crash, restart).
//
// It also keeps which writer the nodes follow (`current`, the link of the newest attach) and the
// volume's newest epoch. Attaches and node restarts run one at a time (`exclusive`): a node never
// starts while a fence is under way, so it cannot miss it and come back at an older epoch.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { assert } from '../assert.js';
import { errors, deserializeError, serializeError, ErrorCode, type AuroralError } from '../errors.js';
import type { Config } from '../config.js';
import { createRingBuffer } from '../ring/ring.js';
import { Control, ctl, NodeState, StatsBlock, nodeStatKeys, gcStatKeys, type NodeStatKey } from '../shared/control.js';
import { workerUrl } from '../shared/paths.js';
import { LAYOUT_FINGERPRINT } from '../shared/layout.js';
import type { LogRangeReply, NodeReply, NodeRequest, NodeWorkerData, SnapshotReply, SpareNodeData, SpareNodeMessage } from '../node/worker.js';
import { chooseRebuildSource, copyNodeFiles, installRebuild, settleRebuild } from '../node/rebuild.js';
import { nextEpoch, restartSequence, runAsync, settle, type RecoveryStep } from '../recovery/sequence.js';
import type { EpochRecord } from '../node/epoch-store.js';
import type { GcMessage, GcReply, GcStart, GcWorkerData } from '../commit/worker.js';
import { StageTrace } from '../metrics/trace.js';
import { registerThread } from '../shared/thread-names.js';
import { drainPort } from '../shared/port-drain.js';
import { nodeDir } from '../node/paths.js';

type Scanned = Extract<NodeReply, { type: 'scanned' }>;
type ReadResult = Extract<NodeReply, { type: 'read-result' }>;
type ScanResult = Extract<NodeReply, { type: 'scan-result' }>;
/** A page scan request without its id (Cluster.scanPage). */
export type ScanPageRequest = Omit<Extract<NodeRequest, { type: 'scan-page' }>, 'type' | 'id'>;

/**
 * A rebuild's source answers its hold (after any fdatasync in progress: a slow device may take
 * seconds) or a log-range question within this long, else the rebuild fails.
 */
const REBUILD_ANSWER_TIMEOUT_MS = 30_000;

/**
 * Reads waiting for a node's answer, at most. Each has a timer (readTimeoutMs) that removes it, so
 * this only bounds a burst: beyond it a read fails at once with READ_UNAVAILABLE.
 */
const READS_PENDING_MAX = 1 << 16;

/**
 * A running node that does not answer a fence or an adopt within this long is taken as hung (the
 * attach then stops it). Far above an epoch-file update (a few fsyncs), even on a loaded machine.
 */
const NODE_STEP_TIMEOUT_MS = 10_000;

/** After an open, a spare node thread starts once no frame was cut for this long (Cluster.scheduleSpareNode). */
export const SPARE_NODE_DELAY_MS = 1000;
/** Fault hooks that return a promise: on a fenced handle they reject rather than throw. */
/**
 * A node thread allocates little (a typed-array index, buffers it reuses), so its V8 young
 * generation is kept small: six nodes then hold ~100 MiB less resident, with recovery and the
 * write path measured no slower (docs/results.md, "Memory"). The spare thread becomes a node: same.
 */
const NODE_THREAD_LIMITS = { maxYoungGenerationSizeMb: 4 };

const ASYNC_FAULT_HOOKS = new Set(['crashNode', 'restartNode', 'killWriter']);

interface PendingRead {
  node: number;
  resolve: (r: ReadResult | ScanResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

interface NodeHandle {
  worker: Worker;
  port: MessagePort;
  /** Resolves the current start-up step ('scanned' or 'ready'). */
  step: ((r: NodeReply) => void) | null;
  exited: Promise<void>;
}

/**
 * One attached writer's share of the threads: its own control block (doorbells, VDL, PGMRPL), log
 * ring, one inbound ring per node and its group-commit thread. A newer writer gets a new link; the
 * old one's thread may keep running (a stale writer) but no node reads its rings any more.
 */
export class WriterLink {
  /** The epoch its writer writes at (set once, when the attach or the open decided it). */
  epoch = 0;
  readonly control = new Control();
  readonly logRing: SharedArrayBuffer;
  readonly rings: SharedArrayBuffer[];
  readonly gcStats = new StatsBlock(gcStatKeys);
  gc: { worker: Worker; port: MessagePort; exited: Promise<void> } | null = null;
  /** Set if the group-commit thread dies: the writer can no longer make anything durable. */
  fatal: AuroralError | null = null;
  onFatal: (e: Error) => void = () => {};

  constructor(config: Config) {
    this.logRing = createRingBuffer(config.logRingBytes);
    this.rings = Array.from({ length: config.nodes }, () => createRingBuffer(config.nodeRingBytes));
  }
}

export class Cluster {
  readonly config: Config;
  /** The volume's control block: node lines (SCL, state, epoch, doorbells, fault hooks). */
  readonly control = new Control();
  readonly nodeStats: StatsBlock<NodeStatKey>[];
  /** Frame timestamps and fdatasync histograms (per-stage metrics), shared by every thread. */
  readonly trace: StageTrace;
  /**
   * The writer the nodes follow: set when an attach starts fencing (or at open), cleared when that
   * writer is closed or killed or its attach fails. A node (re)started meanwhile gets its rings;
   * with none, it starts on a ring nobody writes and the next attach fences it.
   */
  current: WriterLink | null;
  /** The volume's newest epoch: decided at open, then claimed by each attach (see claimEpoch). */
  epoch = 0;
  /** Links whose group-commit thread may run, and the current one (128 MiB of rings each). */
  private readonly links = new Set<WriterLink>();
  /** The volume's truncation history (volume.json), handed to nodes at start. */
  history: EpochRecord[] = [];
  readonly paused: boolean[];
  /** Why node i failed itself (as its thread reported it), until it is restarted. */
  readonly failures: (AuroralError | null)[];
  private readonly nodes: (NodeHandle | null)[];
  private readonly reads = new Map<number, PendingRead>();
  /** Resolve when each port still open has really gone (its 'close' event is asynchronous). */
  private readonly portsClosed = new Set<Promise<void>>();
  private readId = 0;
  /** The tail of the exclusive sections (attaches, node restarts). */
  private exclusiveTail: Promise<void> = Promise.resolve();

  constructor(config: Config) {
    this.config = config;
    this.current = new WriterLink(config);
    this.links.add(this.current);
    this.nodeStats = Array.from({ length: config.nodes }, () => new StatsBlock(nodeStatKeys));
    this.trace = new StageTrace(config.nodes);
    this.nodes = new Array(config.nodes).fill(null);
    this.paused = new Array(config.nodes).fill(false);
    this.failures = new Array(config.nodes).fill(null);
    for (let i = 0; i < config.nodes; i++) this.pendingPeerPorts.push(new Array(config.nodes).fill(null));
  }

  /**
   * Gossip links: one MessageChannel per pair of nodes. For a node (re)starting, its ends go in
   * its workerData and each running peer gets the other end as a 'peer-port' message.
   */
  private linkPeers(i: number, atOpen: boolean): (MessagePort | null)[] {
    const mine: (MessagePort | null)[] = new Array(this.config.nodes).fill(null);
    for (let j = 0; j < this.config.nodes; j++) {
      if (j === i) continue;
      if (atOpen) {
        // At open every node starts now: create each pair once, from the lower-numbered side.
        if (j < i) {
          mine[j] = this.pendingPeerPorts[i]![j] ?? null;
          continue;
        }
        const { port1, port2 } = new MessageChannel();
        mine[j] = port1;
        this.pendingPeerPorts[j]![i] = port2;
        continue;
      }
      const h = this.nodes[j];
      if (h === null || h === undefined) continue;
      const { port1, port2 } = new MessageChannel();
      mine[j] = port1;
      h.port.postMessage({ type: 'peer-port', peer: i, port: port2 } satisfies NodeRequest, [port2]);
      this.control.ring(ctl.nodeDoorbell(j));
    }
    return mine;
  }

  private readonly pendingPeerPorts: (MessagePort | null)[][] = [];

  /**
   * Starts node i's worker on the current writer's ring (`ring` if given; with no writer, on a ring
   * and a control block nobody uses, until a fence moves it); resolves when it has scanned its log.
   */
  startNode(i: number, atOpen = true, ring?: SharedArrayBuffer): Promise<Scanned> {
    assert(this.nodes[i] === null, `node ${i} already running`);
    Atomics.store(this.control.i32, ctl.nodeState(i), NodeState.STARTING);
    const { port1, port2 } = new MessageChannel();
    const peerPorts = this.linkPeers(i, atOpen);
    const link = this.current;
    const data: NodeWorkerData = { nodeId: i, control: this.control.sab, writerControl: (link?.control ?? new Control()).sab,
      ring: ring ?? link?.rings[i] ?? createRingBuffer(this.config.nodeRingBytes),
      history: this.history, stats: this.nodeStats[i]!.sab, trace: this.trace.sab, config: this.config, port: port2, peerPorts, layout: LAYOUT_FINGERPRINT };
    const transferList = [port2, ...peerPorts.filter((p): p is MessagePort => p !== null)];
    // A restart takes the spare thread if there is one (Node and the modules already loaded).
    const spare = atOpen ? null : this.takeSpareNode();
    let worker: Worker;
    if (spare !== null) {
      this.sparesUsed++;
      worker = spare;
      worker.ref();
      worker.postMessage({ type: 'begin', data } satisfies SpareNodeMessage, transferList);
    } else {
      worker = new Worker(workerUrl('node/worker.js'), { workerData: data, transferList, name: `auroral-node-${i}`, resourceLimits: NODE_THREAD_LIMITS });
    }
    registerThread(worker.threadId, `node-${i}`);
    this.trackPort(port1);
    const handle: NodeHandle = { worker, port: port1, step: null, exited: new Promise((r) => worker.once('exit', () => r())) };
    this.nodes[i] = handle;
    this.failures[i] = null;
    const onMessage = (msg: NodeReply): void => this.onNodeMessage(i, handle, msg);
    port1.on('message', onMessage);
    // What the thread said before it died (a typed failure) counts, not "exited": shared/port-drain.ts.
    worker.on('error', (e) => {
      drainPort(port1, onMessage);
      this.onNodeGone(i, handle, `crashed: ${e.message}`);
    });
    worker.once('exit', () => {
      drainPort(port1, onMessage);
      this.onNodeGone(i, handle, 'exited');
    });
    return this.nextStep(handle, 'scanned') as Promise<Scanned>;
  }

  /**
   * A storage-node thread started ahead of need, idle until a node restarts: a fresh Worker costs
   * ~65-100 ms of CPU on the 2-core VM to bootstrap Node and load its modules, most of a node
   * restart's time (docs/results.md). One at most; unref'd (it never keeps the process alive);
   * started after an open once no frame was cut for SPARE_NODE_DELAY_MS (out of the way of the
   * first puts and of a benchmark's windows) and right after a node restart (another failure may
   * follow); terminated at close.
   */
  private spareNode: Worker | null = null;
  private spareTimer: NodeJS.Timeout | null = null;
  private closingNodes = false;

  /**
   * `whenQuiet`: start it only once no frame was cut for a whole delay (after an open: a bootstrap
   * during a write burst or a benchmark's window would cost that work ~100 ms of CPU); without it,
   * after the delay regardless (after a restart: another failure may follow).
   */
  scheduleSpareNode(delayMs: number, whenQuiet: boolean): void {
    if (this.spareNode !== null || this.closingNodes) return;
    if (this.spareTimer !== null) {
      if (whenQuiet) return; // one is already scheduled, no later than this one would be
      // A wait for a quiet volume may never end under steady writes: this one does not wait.
      clearTimeout(this.spareTimer);
      this.spareTimer = null;
    }
    const framesCut = (): number => this.current?.control.load64(ctl.framesCut) ?? 0;
    let seen = framesCut();
    const tick = (): void => {
      this.spareTimer = null;
      if (this.spareNode !== null || this.closingNodes) return;
      if (whenQuiet && framesCut() !== seen) {
        seen = framesCut();
        this.spareTimer = setTimeout(tick, delayMs).unref();
        return;
      }
      const w = new Worker(workerUrl('node/worker.js'), { workerData: { standby: true } satisfies SpareNodeData, name: 'auroral-node-spare', resourceLimits: NODE_THREAD_LIMITS });
      const drop = (): void => {
        if (this.spareNode === w) this.spareNode = null;
      };
      w.on('error', drop);
      w.once('exit', drop);
      w.unref();
      this.spareNode = w;
    };
    this.spareTimer = setTimeout(tick, delayMs).unref();
  }

  /** Node restarts that started on the spare thread (a test and benchmark figure). */
  sparesUsed = 0;

  get spareNodeReady(): boolean {
    return this.spareNode !== null;
  }

  private takeSpareNode(): Worker | null {
    const w = this.spareNode;
    this.spareNode = null;
    return w;
  }

  private async stopSpareNode(): Promise<void> {
    this.closingNodes = true;
    if (this.spareTimer !== null) clearTimeout(this.spareTimer);
    this.spareTimer = null;
    const w = this.takeSpareNode();
    if (w !== null) await w.terminate();
  }

  private nextStep(h: NodeHandle, want: 'scanned' | 'ready' | 'fenced' | 'adopted'): Promise<NodeReply> {
    return new Promise((resolve, reject) => {
      h.step = (r) => {
        h.step = null;
        if (r.type === want) resolve(r);
        else if (r.type === 'failed') reject(deserializeError(r.error));
        else reject(errors.recoveryFailed(`unexpected reply ${r.type} while waiting for ${want}`));
      };
    });
  }

  /** Node i truncates or catches up to `lsnKeep` and opens; resolves with the time it took (ms). */
  recoverNode(i: number, lsnKeep: number, epoch: number, peerNode: number | null): Promise<number> {
    const h = this.nodes[i];
    // It may have answered its last step and died since (its exit is handled after its reply):
    // a node short, as at any other step, not an open that fails.
    if (h === null || h === undefined) return Promise.reject(errors.nodeFailed(i, 'not running'));
    const done = this.nextStep(h, 'ready');
    this.send(i, { type: 'recover', lsnKeep, epoch, peerNode, history: this.history });
    return done.then((r) => (r.type === 'ready' ? r.recoverMs : 0));
  }

  /**
   * Running node i refuses frames below `epoch` from now on (durably) and takes frames from `link`.
   * A running node that does not answer within NODE_STEP_TIMEOUT_MS counts as not fenced (at open the
   * nodes are still in start-up, doing nothing else, and their answer is awaited).
   */
  fence(i: number, epoch: number, link: WriterLink, atOpen = false): Promise<Extract<NodeReply, { type: 'fenced' }>> {
    const h = this.nodes[i];
    if (h === null || h === undefined || !(atOpen || this.isUp(i))) return Promise.reject(errors.nodeFailed(i, 'not running'));
    const done = this.nextStep(h, 'fenced');
    this.send(i, { type: 'fence', epoch, ring: link.rings[i]!, writerControl: link.control.sab });
    return (atOpen ? done : this.withinTimeout(i, 'fence', done)) as Promise<Extract<NodeReply, { type: 'fenced' }>>;
  }

  /** Node i records the new writer's recovery (epoch, kept VDL) in its history, durably, or refuses. */
  adopt(i: number, epoch: number): Promise<void> {
    const h = this.nodes[i];
    if (h === null || h === undefined) return Promise.reject(errors.nodeFailed(i, 'not running'));
    const done = this.nextStep(h, 'adopted');
    this.send(i, { type: 'adopt', epoch, history: this.history });
    return this.withinTimeout(i, 'adopt', done).then(() => undefined);
  }

  private withinTimeout<T>(i: number, step: string, p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(errors.recoveryFailed(`node ${i} did not answer ${step} within ${NODE_STEP_TIMEOUT_MS} ms`)), NODE_STEP_TIMEOUT_MS);
    });
    return Promise.race([p, late]).finally(() => clearTimeout(timer));
  }

  /**
   * The epoch of a new attach: above the volume's newest and every node's. Claimed at once (inside
   * the attach's exclusive section, before any await), so two attaches never share an epoch.
   */
  claimEpoch(): number {
    this.epoch = nextEpoch(this.epoch, Array.from({ length: this.config.nodes }, (_, i) => this.nodeEpoch(i)));
    return this.epoch;
  }

  /** A new writer's link at `epoch`: the nodes move to it when fenced. */
  newWriterLink(epoch: number): WriterLink {
    const link = new WriterLink(this.config);
    link.epoch = epoch;
    this.links.add(link);
    return link;
  }

  /** A link whose writer is gone: forgotten (the nodes still reading its rings hold them until fenced). */
  retire(link: WriterLink): void {
    assert(link.gc === null, 'retiring a link whose group-commit thread runs');
    this.links.delete(link);
    if (this.current === link) this.current = null;
  }

  /** @internal links kept (tests: they must not pile up across writers). */
  get linkCount(): number {
    return this.links.size;
  }

  /** @internal reads waiting for a node's answer. */
  get readsPending(): number {
    return this.reads.size;
  }

  /** Runs `fn` once every earlier exclusive section has settled (attaches, node restarts). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.exclusiveTail.then(fn);
    this.exclusiveTail = run.then(() => undefined, () => undefined);
    return run;
  }

  /**
   * The error for a writer's fault hooks once a newer writer claimed the volume: they act on nodes
   * that follow that writer now (a stale restart, say, would start a node at the old epoch).
   */
  fencedError(link: WriterLink): AuroralError | null {
    return link.epoch < this.epoch ? errors.fenced(link.epoch, this.epoch) : null;
  }

  /** `faults` with every hook first checking that its writer (`link`) was not fenced. */
  guardFaults<F extends object>(link: WriterLink, faults: F): F {
    const guarded: Record<string, unknown> = {};
    for (const [name, hook] of Object.entries(faults) as [string, (...args: unknown[]) => unknown][]) {
      guarded[name] = (...args: unknown[]) => {
        const e = this.fencedError(link);
        if (e === null) return hook(...args);
        if (ASYNC_FAULT_HOOKS.has(name)) return Promise.reject(e);
        throw e;
      };
    }
    return guarded as F;
  }

  /** Stops node i for good (until restartNode): it may not take part in the current writer's quorums. */
  async exclude(i: number): Promise<void> {
    await this.crash(i);
  }

  nodeEpoch(i: number): number {
    return Atomics.load(this.control.i32, ctl.nodeEpoch(i));
  }

  private send(i: number, msg: NodeRequest): void {
    const h = this.nodes[i];
    if (h === null || h === undefined) return;
    h.port.postMessage(msg);
    this.control.ring(ctl.nodeDoorbell(i));
  }

  private onNodeMessage(i: number, h: NodeHandle, msg: NodeReply): void {
    if (msg.type === 'read-result' || msg.type === 'scan-result') {
      const p = this.reads.get(msg.id);
      if (p === undefined) return; // timed out already
      this.reads.delete(msg.id);
      clearTimeout(p.timer);
      p.resolve(msg);
      return;
    }
    // Only a node that failed itself (or could not start) is marked; a refused fence or adopt is
    // the step's business (its caller decides what to do with the node).
    if (msg.type === 'failed' && msg.fatal) this.failures[i] = deserializeError(msg.error);
    if (h.step !== null) h.step(msg);
  }

  private onNodeGone(i: number, h: NodeHandle, why: string): void {
    if (this.nodes[i] !== h) return;
    this.nodes[i] = null;
    // Its line must not keep claiming an SCL: what its directory holds may change before it runs
    // again (a rebuild from a shorter copy, a cut of frames an attach refused), and a group-commit
    // thread of the node's epoch would go on counting the old value towards VDL. VDL never moves
    // back, so this withdraws nothing already acknowledged.
    this.control.store64(ctl.nodeScl(i), 0);
    if (Atomics.load(this.control.i32, ctl.nodeState(i)) !== NodeState.FAILED) {
      Atomics.store(this.control.i32, ctl.nodeState(i), NodeState.STOPPED);
    }
    this.closePort(h.port);
    this.postGc({ type: 'node-down', node: i });
    if (h.step !== null) h.step({ type: 'failed', error: serializeError(errors.nodeFailed(i, why)), fatal: true });
    for (const [id, p] of this.reads) {
      if (p.node !== i) continue;
      this.reads.delete(id);
      clearTimeout(p.timer);
      p.reject(errors.nodeFailed(i, why));
    }
  }

  /**
   * Starts `link`'s group-commit thread where recovery decided its log starts. The thread may have
   * been started ahead (prestartGc, at open): then it is only told where.
   */
  startGc(link: WriterLink, start: GcStart): void {
    if (link.gc === null) this.prestartGc(link);
    link.gc!.port.postMessage({ type: 'start', ...start } satisfies GcMessage);
    link.control.ring(ctl.gcDoorbell);
  }

  /**
   * Starts `link`'s group-commit thread before its start is known: at open, in parallel with the
   * nodes' scans, so that the first put does not wait for a thread start (tens of ms on two busy
   * cores). It waits for startGc, or for stopGc if the open fails.
   */
  prestartGc(link: WriterLink): void {
    assert(link.gc === null, 'group-commit thread already started');
    const { port1, port2 } = new MessageChannel();
    const full: GcWorkerData = { layout: LAYOUT_FINGERPRINT, nodeRings: [...link.rings], control: link.control.sab, trace: this.trace.sab,
      volumeControl: this.control.sab, logRing: link.logRing, stats: link.gcStats.sab, config: this.config, port: port2 };
    const worker = new Worker(workerUrl('commit/worker.js'), { workerData: full, transferList: [port2], name: 'auroral-group-commit' });
    registerThread(worker.threadId, 'group-commit');
    this.trackPort(port1);
    // The thread reports its own death (typed) on its port; 'error' is the fallback for anything
    // that kills it before it can (both end up as a coded AuroralError; the first one counts).
    const onMessage = (m: GcReply): void => this.onGcFailed(link, deserializeError(m.error));
    port1.on('message', onMessage);
    port1.unref();
    const exited = new Promise<void>((r) => worker.once('exit', () => r()));
    worker.on('error', (e) => {
      drainPort(port1, onMessage); // its typed report first (shared/port-drain.ts)
      this.onGcFailed(link, deserializeError(serializeError(e)));
    });
    link.gc = { worker, port: port1, exited };
  }

  private onGcFailed(link: WriterLink, e: AuroralError): void {
    if (link.fatal !== null) return;
    link.fatal = e;
    link.onFatal(e);
  }

  /** Stops a writer's group-commit thread: gracefully (it cuts what is pending) or killed at once. */
  async stopGc(link: WriterLink, kill: boolean): Promise<void> {
    const gc = link.gc;
    if (gc === null) return;
    link.gc = null;
    if (kill) {
      await gc.worker.terminate();
    } else {
      gc.port.postMessage({ type: 'close' } satisfies GcMessage);
      link.control.ring(ctl.gcDoorbell);
      await gc.exited;
    }
    this.closePort(gc.port);
    this.retire(link);
  }

  /** Tracks a new port's 'close' (it fires when either end closes, so subscribe at creation). */
  private trackPort(port: MessagePort): void {
    const closed: Promise<void> = new Promise((r) => port.once('close', () => {
      this.portsClosed.delete(closed);
      r();
    }));
    this.portsClosed.add(closed);
  }

  private closePort(port: MessagePort): void {
    port.close(); // idempotent
  }

  private postGc(msg: GcMessage): void {
    const link = this.current;
    if (link === null || link.gc === null) return;
    link.gc.port.postMessage(msg);
    link.control.ring(ctl.gcDoorbell);
  }

  isUp(i: number): boolean {
    return this.nodes[i] !== null && Atomics.load(this.control.i32, ctl.nodeState(i)) === NodeState.RUNNING;
  }

  scl(i: number): number {
    return this.control.load64(ctl.nodeScl(i));
  }

  read(node: number, key: Uint8Array, readPoint: number, timeoutMs: number): Promise<ReadResult> {
    return this.askRead<ReadResult>(node, timeoutMs, (id) => ({ type: 'read', id, key, readPoint }));
  }

  /** One chunk of a page scan from `node` (node-reads.ts scanPage). */
  scanPage(node: number, req: ScanPageRequest, timeoutMs: number): Promise<ScanResult> {
    return this.askRead<ScanResult>(node, timeoutMs, (id) => ({ type: 'scan-page', id, ...req }));
  }

  /** Sends a read-like request and waits for its answer (matched by id), at most `timeoutMs`. */
  private askRead<T extends ReadResult | ScanResult>(node: number, timeoutMs: number, request: (id: number) => NodeRequest): Promise<T> {
    if (this.nodes[node] === null) return Promise.reject(errors.nodeFailed(node, 'not running'));
    if (this.reads.size >= READS_PENDING_MAX) return Promise.reject(errors.readUnavailable(`${READS_PENDING_MAX} reads are already waiting for nodes`));
    return new Promise<T>((resolve, reject) => {
      const id = ++this.readId;
      const timer = setTimeout(() => {
        this.reads.delete(id);
        reject(errors.readUnavailable(`node ${node} did not answer a read within readTimeoutMs=${timeoutMs}`));
      }, timeoutMs);
      // The answer carries the request's id, so it is of the request's type (T).
      this.reads.set(id, { node, resolve: resolve as (r: ReadResult | ScanResult) => void, reject, timer });
      this.send(node, request(id));
    });
  }

  // ---- fault hooks ------------------------------------------------------------------------

  pause(i: number): void {
    this.paused[i] = true;
    Atomics.store(this.control.i32, ctl.nodePaused(i), 1);
    this.control.ring(ctl.nodeDoorbell(i));
  }

  /**
   * Flips one bit of a node's file on disk, beneath the node (its next read sees it through the
   * page cache). `file` is relative to the node's directory; default: its oldest hot-log segment.
   * `offset` default: inside the first record of the first frame.
   */
  corruptByte(i: number, file?: string, offset?: number): { file: string; offset: number } {
    const dir = nodeDir(this.config.dir, i);
    const rel = file ?? (() => {
      const segs = fs.readdirSync(path.join(dir, 'log')).filter((n) => n.endsWith('.log')).sort();
      if (segs[0] === undefined) throw errors.invalidArgument('file', `node ${i} has no hot-log segment`);
      return path.join('log', segs[0]);
    })();
    const at = offset ?? 64 + 32 + 8;
    const full = path.resolve(dir, rel);
    if (!full.startsWith(path.resolve(dir) + path.sep)) throw errors.invalidArgument('file', `must be inside node ${i}'s directory`);
    const fd = fs.openSync(full, 'r+');
    try {
      const b = Buffer.alloc(1);
      if (fs.readSync(fd, b, 0, 1, at) !== 1) throw errors.invalidArgument('offset', `${at} is past the end of ${rel}`);
      b[0] = b[0]! ^ 0x10;
      fs.writeSync(fd, b, 0, 1, at);
    } finally {
      fs.closeSync(fd);
    }
    return { file: rel, offset: at };
  }

  /** Disk fault hooks beneath node i's hot log (see DiskFaults in node/hotlog.ts). */
  setDiskFault(i: number, fault: 'slowSyncMicros' | 'failSyncIn' | 'diskFull' | 'tearNext', value: number): void {
    const index = { slowSyncMicros: ctl.nodeSlowSyncMicros, failSyncIn: ctl.nodeFailSyncIn, diskFull: ctl.nodeDiskFull, tearNext: ctl.nodeTearNext }[fault](i);
    Atomics.store(this.control.i32, index, value);
    this.control.ring(ctl.nodeDoorbell(i));
  }

  /** Nodes that failed themselves with a full disk. */
  diskFullNodes(): number {
    return this.failures.filter((f) => f?.code === ErrorCode.DISK_FULL).length;
  }

  /**
   * Replaces node i's directory (the node is down) by a durable, consistent copy of a healthy
   * peer's (src/node/rebuild.ts): from the running peer with the highest SCL, held still while the
   * copy is taken (no coalescing cycle, no log GC), and only up to the durable point it reports
   * (synced bytes only); written to a temporary directory, fsync'ed, then swapped in. The source
   * is released afterwards, also on error.
   */
  private async rebuildFromPeer(i: number): Promise<void> {
    const candidates = Array.from({ length: this.config.nodes }, (_, j) => ({ healthy: this.isUp(j) && this.failures[j] === null, scl: this.scl(j) }));
    const src = chooseRebuildSource(i, candidates);
    if (src === null) throw errors.recoveryFailed(`node ${i} must be rebuilt from a peer and no healthy peer is running`);
    const id = ++this.snapshotHoldId;
    try {
      const held = await this.ask<SnapshotReply>(src, (reply) => ({ type: 'snapshot-hold', id, reply }));
      if (!held.ok) throw errors.recoveryFailed(`rebuilding node ${i}: source node ${src} could not hold still: ${held.message}`);
      const dst = nodeDir(this.config.dir, i);
      settleRebuild(dst);
      copyNodeFiles(nodeDir(this.config.dir, src), dst, held, this.config.segmentBytes);
      installRebuild(dst);
      this.lastRebuild = { node: i, source: src, scl: held.scl };
    } finally {
      this.send(src, { type: 'snapshot-release', id });
    }
    Atomics.store(this.control.i32, ctl.nodeSlowSyncMicros(i), 0);
    Atomics.store(this.control.i32, ctl.nodeFailSyncIn(i), 0);
    Atomics.store(this.control.i32, ctl.nodeTearNext(i), 0);
    this.rebuilds++;
  }

  rebuilds = 0;
  /** The last rebuild: which node, from which source, up to which SCL (tests and diagnostics). */
  lastRebuild: { node: number; source: number; scl: number } | null = null;
  private snapshotHoldId = 0;

  /**
   * A request to running node j answered on its own port (rebuild requests): rejects if the node
   * goes away or does not answer within REBUILD_ANSWER_TIMEOUT_MS.
   */
  private ask<T>(j: number, request: (reply: MessagePort) => NodeRequest): Promise<T> {
    const h = this.nodes[j];
    if (h === null || h === undefined) return Promise.reject(errors.nodeFailed(j, 'not running'));
    const { port1, port2 } = new MessageChannel();
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        port1.close();
        reject(errors.nodeFailed(j, `did not answer within ${REBUILD_ANSWER_TIMEOUT_MS} ms`));
      }, REBUILD_ANSWER_TIMEOUT_MS);
      port1.once('message', (m: T) => {
        clearTimeout(timer);
        port1.close();
        resolve(m);
      });
      port1.once('close', () => {
        clearTimeout(timer);
        reject(errors.nodeFailed(j, 'went away before answering'));
      });
      h.port.postMessage(request(port2), [port2]);
      this.control.ring(ctl.nodeDoorbell(j));
    });
  }

  dropFrames(i: number, probability: number): void {
    Atomics.store(this.control.i32, ctl.nodeDropPermille(i), Math.round(probability * 1000));
  }

  mute(i: number, muted: boolean): void {
    Atomics.store(this.control.i32, ctl.nodeMuted(i), muted ? 1 : 0);
  }

  resume(i: number): void {
    this.paused[i] = false;
    Atomics.store(this.control.i32, ctl.nodePaused(i), 0);
    this.control.ring(ctl.nodeDoorbell(i));
  }

  /** Kills node i's thread without letting it flush or close anything. */
  async crash(i: number): Promise<void> {
    const h = this.nodes[i];
    if (h === null || h === undefined) return;
    Atomics.store(this.control.i32, ctl.nodeState(i), NodeState.STOPPED);
    this.postGc({ type: 'node-down', node: i });
    await h.worker.terminate();
    await h.exited;
  }

  /**
   * Restarts node i from its hot log, at the volume's newest epoch and truncation history and on the
   * current writer's ring (`epoch`: the caller's, never newer). It scans with that history, so frames
   * a recovery cut off while it was down are cut before it publishes an SCL or answers a read; the
   * group-commit thread resends what it missed, else gossip. When it is rebuilt from a peer's copy
   * instead is restartSequence's decision (recovery/sequence.ts). Never during an attach (exclusive
   * section).
   */
  restart(i: number, epoch: number): Promise<void> {
    return this.exclusive(async () => {
      assert(epoch <= this.epoch, `restart at epoch ${epoch}, above the volume's ${this.epoch}`);
      if (this.nodes[i] !== null) await this.crash(i);
      try {
        await runAsync(restartSequence(i, this.failures[i] ?? null), (s) => this.restartStep(s));
      } finally {
        this.scheduleSpareNode(0, false); // another node may fail soon after: be ready for it
      }
    });
  }

  /** Carries out a step of restartSequence (recovery/sequence.ts) on node i's thread. */
  private async restartStep(s: RecoveryStep): Promise<unknown> {
    switch (s.kind) {
      case 'rebuild':
        return settle(this.rebuildFromPeer(s.node));
      case 'scan': {
        // On the current writer's ring (with none, on one nobody writes until the next fence).
        const ring = createRingBuffer(this.config.nodeRingBytes);
        if (this.current !== null) {
          this.current.rings[s.node] = ring;
          this.postGc({ type: 'node-up', node: s.node, ring });
        }
        return settle(this.startNode(s.node, false, ring));
      }
      case 'log-ranges': {
        const peers = Array.from({ length: this.config.nodes }, (_, j) => j).filter((j) => j !== s.node && this.isUp(j) && this.failures[j] === null);
        const ranges = await Promise.allSettled(peers.map((j) => this.ask<LogRangeReply>(j, (reply) => ({ type: 'log-range', reply }))));
        return ranges.flatMap((r) => (r.status === 'fulfilled' && r.value.running ? [r.value] : []));
      }
      case 'stop':
        return this.crash(s.node);
      case 'rejoin':
        return settle(this.recoverNode(s.node, -1, this.epoch, null));
      default:
        throw new Error(`step ${s.kind} is not part of a node restart`);
    }
  }

  /** Settles once no attach or restart is running or queued. */
  idle(): Promise<void> {
    return this.exclusive(() => Promise.resolve());
  }

  async close(): Promise<void> {
    await this.stopSpareNode();
    for (const link of [...this.links]) await this.stopGc(link, false);
    const exits: Promise<void>[] = [];
    for (let i = 0; i < this.nodes.length; i++) {
      const h = this.nodes[i];
      if (h === null || h === undefined) continue;
      exits.push(h.exited);
      if (h.step !== null || Atomics.load(this.control.i32, ctl.nodeState(i)) !== NodeState.RUNNING) {
        void h.worker.terminate(); // not in its loop: nothing to flush
      } else {
        this.send(i, { type: 'close' });
      }
    }
    await Promise.all(exits);
    await Promise.all(this.portsClosed);
    for (const [id, p] of this.reads) {
      this.reads.delete(id);
      clearTimeout(p.timer);
      p.reject(errors.closed());
    }
  }
}
