// The recovery sequences, written once: opening a volume, attaching a writer to running nodes, and
// restarting one node. Each is a sans-I/O generator: it yields a step (fence these nodes, record
// this cut, ...) and is resumed with the step's outcome, so every decision — who must be fenced,
// what the plan keeps, who is left out, when to give up — lives here, and the thread shell
// (writer/volume.ts, writer/cluster.ts) and the simulator (sim/world.ts) only carry steps out: the
// shell with messages to node threads and a wait on the control block, the simulator with calls
// into node cores and simulated time. A decision written twice would be tested in one copy only.
//
// Steps act on several nodes at once (the shell runs them in parallel); their outcome is one
// Outcome per node, in the order asked, never a thrown error: a node that fails a step is the
// sequence's business (it may be left out, or fail the whole recovery).
import { errors, isAuroralError, ErrorCode } from '../errors.js';
import { mergeHistory, type EpochRecord } from '../node/epoch-store.js';
import { canCatchUpByLog, type LogRange } from '../node/rebuild.js';
import { planRecovery, type NodeScan, type RecoveryPlan } from './plan.js';

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: Error };

/** What a node's scan of its own files reports. */
export interface ScanReport {
  scl: number;
  lsnSeenMax: number;
  lsnDurableSeen: number;
  batchSeqLast: number;
  /** The newest epoch the node's epoch file holds. */
  epoch: number;
}

/** What a fenced node reports: its chain end as of the fence (nothing older is taken afterwards). */
export interface FenceReport {
  scl: number;
  lsnSeenMax: number;
  batchSeqLast: number;
}

export type RecoveryStep =
  /** Durably refuse frames of epochs below `epoch`; follow the new writer. → Outcome<FenceReport>[] */
  | { kind: 'fence'; nodes: number[]; epoch: number }
  /** Record the volume's epoch and truncation history durably (volume.json) before any node acts on it. → void */
  | { kind: 'record'; epoch: number; history: EpochRecord[] }
  /**
   * At open: each node truncates above `vdl`, or copies what it misses from its source's log
   * (`sources`, per node: the plan's source node if it is behind, else null), records the recovery
   * and starts serving. → Outcome<void>[]
   */
  | { kind: 'recover'; nodes: number[]; vdl: number; epoch: number; sources: (number | null)[]; history: EpochRecord[] }
  /** Live: each running node records the new writer's recovery (or refuses: its chain is beyond the kept VDL). → Outcome<void>[] */
  | { kind: 'adopt'; nodes: number[]; epoch: number; history: EpochRecord[] }
  /** Stop these nodes if they are running: they may not take part in the new writer's quorums. → void */
  | { kind: 'exclude'; nodes: number[] }
  /**
   * Wait (bounded by the shell's commit timeout) until at least `quorum` of `nodes` run at `epoch`
   * with a chain reaching `vdl` (those behind catch up by gossip). → number: how many did.
   */
  | { kind: 'await-holders'; nodes: number[]; epoch: number; vdl: number; quorum: number }
  // ---- one node's restart ----
  /** Replace the node's files by a durable copy of a healthy peer's (node/rebuild.ts). → Outcome<void> */
  | { kind: 'rebuild'; node: number }
  /** Start the node and scan its log with the volume's history. → Outcome<ScanReport> */
  | { kind: 'scan'; node: number }
  /** The running peers' hot-log ranges (those that answer). → LogRange[] */
  | { kind: 'log-ranges'; node: number }
  /** Stop the node (started by 'scan'). → void */
  | { kind: 'stop'; node: number }
  /** The scanned node joins the running volume at its newest epoch. → Outcome<void> */
  | { kind: 'rejoin'; node: number };

export interface Quorums {
  nodes: number;
  writeQuorum: number;
  readQuorum: number;
}

export interface Recovered {
  epoch: number;
  plan: RecoveryPlan;
  history: EpochRecord[];
  /** Nodes at the new epoch holding (or catching up to) VDL. */
  members: number[];
  fenced: number;
  /** Why each left-out node was left out. */
  excluded: string[];
}

export type Sequence<T> = Generator<RecoveryStep, T, unknown>;

const scanOf = (node: number, r: ScanReport | FenceReport): NodeScan =>
  ({ node, scl: r.scl, lsnSeenMax: r.lsnSeenMax, lsnDurableSeen: 'lsnDurableSeen' in r ? r.lsnDurableSeen : 0, batchSeqLast: r.batchSeqLast });

/** Fewest fenced nodes before anything is decided: then no old write quorum is left (V - Vw + 1). */
export const fenceQuorum = (q: Quorums): number => q.nodes - q.writeQuorum + 1;

/**
 * Opening a volume whose nodes have scanned their logs (`scans`, one per node; the epoch the volume
 * file recorded is `epochRecorded`): plan from the nodes that scanned, fence them at a new epoch,
 * record the cut, bring them to VDL. Throws RECOVERY_FAILED (nothing was truncated if the fence
 * failed) or VOLUME_CORRUPT (planRecovery).
 */
export function* openSequence(q: Quorums, scans: readonly Outcome<ScanReport>[], epochRecorded: number, history: readonly EpochRecord[]): Sequence<Recovered> {
  const ok: NodeScan[] = [];
  let epochSeen = epochRecorded;
  const failures: string[] = [];
  scans.forEach((s, i) => {
    if (s.ok) {
      ok.push(scanOf(i, s.value));
      epochSeen = Math.max(epochSeen, s.value.epoch);
    } else {
      failures.push(`node ${i}: ${s.error.message}`);
    }
  });
  let plan: RecoveryPlan;
  try {
    plan = planRecovery(ok, q.writeQuorum, q.readQuorum);
  } catch (e) {
    if (isAuroralError(e, ErrorCode.VOLUME_CORRUPT)) throw e;
    throw errors.recoveryFailed(`${(e as Error).message}${failures.length > 0 ? ` (${failures.join('; ')})` : ''}`);
  }
  const epoch = epochSeen + 1;
  // Fence before anything is truncated: at least V - Vw + 1 nodes refuse older epochs durably, so a
  // writer of an older epoch that is somehow still alive can never complete a quorum.
  const fenced = (yield { kind: 'fence', nodes: ok.map((s) => s.node), epoch }) as Outcome<FenceReport>[];
  const members = ok.filter((_, j) => fenced[j]!.ok).map((s) => s.node);
  if (members.length < fenceQuorum(q)) {
    throw errors.recoveryFailed(`only ${members.length} node(s) could be fenced at epoch ${epoch}; ${fenceQuorum(q)} are needed before truncating`);
  }
  const kept = mergeHistory(history, [{ epoch, vdl: plan.vdl }]);
  yield { kind: 'record', epoch, history: kept };
  // Only the fenced nodes truncate or copy. A node whose fence failed (an I/O error on its epoch
  // file failed it) is never asked to write its epoch file again; it stays down until restarted.
  const behind = new Set(ok.filter((s) => s.scl < plan.vdl).map((s) => s.node));
  const sources = members.map((n) => (behind.has(n) ? plan.sourceNode : null));
  const recovered = (yield { kind: 'recover', nodes: members, vdl: plan.vdl, epoch, sources, history: kept }) as Outcome<void>[];
  const ready = members.filter((_, j) => recovered[j]!.ok);
  if (ready.length < q.writeQuorum) {
    const why = members.flatMap((n, j) => { const r = recovered[j]!; return r.ok ? [] : [`node ${n}: ${r.error.message}`]; });
    throw errors.recoveryFailed(`only ${ready.length} node(s) recovered to VDL ${plan.vdl}: ${why.join('; ')}`);
  }
  return { epoch, plan, history: kept, members: ready, fenced: members.length, excluded: [] };
}

/**
 * Attaching a new writer at `epoch` (claimed by the caller: above every node's and the volume's) to
 * the running nodes. Fails closed: a running node that cannot be fenced, or refuses to adopt (its
 * chain went beyond the kept VDL since its fence), is stopped, never left running at the old epoch;
 * the writer opens only once a write quorum of the adopting nodes holds VDL. Throws RECOVERY_FAILED
 * (the caller retires the writer), VOLUME_CORRUPT.
 */
export function* attachSequence(q: Quorums, epoch: number, history: readonly EpochRecord[]): Sequence<Recovered> {
  const all = Array.from({ length: q.nodes }, (_, i) => i);
  const fenced = (yield { kind: 'fence', nodes: all, epoch }) as Outcome<FenceReport>[];
  const scans: NodeScan[] = [];
  const excluded: string[] = [];
  const notFenced: number[] = [];
  for (const i of all) {
    const f = fenced[i]!;
    if (f.ok) scans.push(scanOf(i, f.value));
    else {
      notFenced.push(i);
      excluded.push(`node ${i} not fenced: ${f.error.message}`);
    }
  }
  // Running but not fenced: it would go on taking the old writer's frames and serving them.
  if (notFenced.length > 0) yield { kind: 'exclude', nodes: notFenced };
  if (scans.length < fenceQuorum(q)) {
    throw errors.recoveryFailed(`only ${scans.length} node(s) could be fenced at epoch ${epoch}; ${fenceQuorum(q)} are needed before anything is decided` +
      ` (${excluded.join('; ')})`);
  }
  const plan = planRecovery(scans, q.writeQuorum, q.readQuorum);
  const kept = mergeHistory(history, [{ epoch, vdl: plan.vdl }]);
  yield { kind: 'record', epoch, history: kept };
  const adopted = (yield { kind: 'adopt', nodes: scans.map((s) => s.node), epoch, history: kept }) as Outcome<void>[];
  const members: number[] = [];
  const refused: number[] = [];
  scans.forEach((s, j) => {
    const a = adopted[j]!;
    if (a.ok) members.push(s.node);
    else {
      refused.push(s.node);
      excluded.push(`node ${s.node} did not adopt: ${a.error.message}`);
    }
  });
  // A refusing node's longer chain is not part of the volume: a restart cuts it by the history.
  if (refused.length > 0) yield { kind: 'exclude', nodes: refused };
  if (members.length < q.writeQuorum) {
    throw errors.recoveryFailed(`only ${members.length} node(s) adopted the recovery at epoch ${epoch}; ${q.writeQuorum} are needed (${excluded.join('; ')})`);
  }
  // The kept VDL may be on the source alone: VDL must never rest on fewer nodes than an
  // acknowledgement would, so the writer opens only once a write quorum holds it.
  const holders = (yield { kind: 'await-holders', nodes: members, epoch, vdl: plan.vdl, quorum: q.writeQuorum }) as number;
  if (holders < q.writeQuorum) throw errors.recoveryFailed(`only ${holders} node(s) reached VDL ${plan.vdl} within the catch-up wait (commitTimeoutMs)`);
  return { epoch, plan, history: kept, members, fenced: scans.length, excluded };
}

/** Why a node that failed itself must be rebuilt rather than restarted from its own files. */
export function needsRebuild(failure: Error | null): boolean {
  return isAuroralError(failure, ErrorCode.IO_ERROR) || isAuroralError(failure, ErrorCode.DISK_FULL) || isAuroralError(failure, ErrorCode.REBUILD_NEEDED);
}

/**
 * Restarting node `node` (down) into the running volume: from its own files, or from a rebuilt copy
 * when it failed on an I/O error (its files are not trusted), when its scan finds a log it cannot
 * trust without a record the volume no longer keeps (REBUILD_NEEDED), or when its chain ends below
 * every running peer's hot log (they collected what it misses while it was away: log-gc.ts). A
 * rebuild is tried once per restart; any other failure is thrown (the node stays down).
 */
export function* restartSequence(node: number, failure: Error | null): Sequence<void> {
  let rebuild = needsRebuild(failure);
  for (;;) {
    if (rebuild) {
      const r = (yield { kind: 'rebuild', node }) as Outcome<void>;
      if (!r.ok) throw r.error;
    }
    const s = (yield { kind: 'scan', node }) as Outcome<ScanReport>;
    if (!s.ok) {
      if (rebuild || !isAuroralError(s.error, ErrorCode.REBUILD_NEEDED)) throw s.error;
      yield { kind: 'stop', node };
      rebuild = true;
      continue;
    }
    if (!rebuild) {
      const ranges = (yield { kind: 'log-ranges', node }) as LogRange[];
      if (!canCatchUpByLog(s.value.scl, ranges)) {
        yield { kind: 'stop', node };
        rebuild = true;
        continue;
      }
    }
    const j = (yield { kind: 'rejoin', node }) as Outcome<void>;
    if (!j.ok) throw j.error;
    return;
  }
}

/** Runs a sequence whose steps take time (the thread shell): each step awaited in turn. */
export async function runAsync<T>(seq: Sequence<T>, step: (s: RecoveryStep) => Promise<unknown>): Promise<T> {
  let r = seq.next();
  while (!r.done) r = seq.next(await step(r.value));
  return r.value;
}

/**
 * Runs a sequence whose steps answer through a callback (the simulator: at once, or after simulated
 * time); `done` gets the result or the error the sequence threw.
 */
export function runWith<T>(seq: Sequence<T>, step: (s: RecoveryStep, answer: (reply: unknown) => void) => void, done: (r: Outcome<T>) => void): void {
  const advance = (reply: unknown): void => {
    let r: IteratorResult<RecoveryStep, T>;
    try {
      r = seq.next(reply);
    } catch (e) {
      done({ ok: false, error: e as Error });
      return;
    }
    if (r.done) done({ ok: true, value: r.value });
    else step(r.value, advance);
  };
  advance(undefined);
}

/** Settles a promise as an Outcome (a step's per-node result). */
export function settle<T>(p: Promise<T>): Promise<Outcome<T>> {
  return p.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error: error as Error }));
}

/** Runs `fn` as an Outcome (the simulator's per-node calls). */
export function attempt<T>(fn: () => T): Outcome<T> {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    return { ok: false, error: e as Error };
  }
}

/** A new writer's epoch: above the volume's newest and every node's (epochs are never reused). */
export function nextEpoch(volumeEpoch: number, nodeEpochs: readonly number[]): number {
  return Math.max(volumeEpoch, ...nodeEpochs) + 1;
}
