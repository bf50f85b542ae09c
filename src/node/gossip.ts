// Gossip between storage nodes, as one sans-I/O core: which peer to ask, when, and what to do with
// the answer. The node thread (node/worker.ts) and the simulator (sim/world.ts) both run it; they
// only differ in how a message reaches a peer (a MessagePort and a doorbell, or a simulated network
// event) and in where a peer's state is read (the control block's node lines, or the peer's core).
//
// A node asks one peer at a time, for one of three things, in this order of urgency:
//   1. values its page images lost (scrub found a damaged block: `fetch-values`, the exact versions);
//   2. a damaged frame of its own log (scrub's repair queue: `fetch` of that one frame, from a peer
//      whose chain covers it);
//   3. frames after its chain end, from the most advanced running peer: at once when it saw a gap
//      (a frame that does not follow its chain), else when a lag persisted GOSSIP_LAG while idle
//      (the frame may still be on its way through the ring).
// An unanswered ask is abandoned after GOSSIP_TIMEOUT and another peer is asked; a peer that could
// not help (nothing to give, frames the node refused, a repair copy that did not verify) is not
// asked again until one helps or every peer failed. A peer whose hot log starts above this node's
// chain end (or above a damaged frame it needs) can never help (its GC let go of those frames:
// log-gc.ts); once every running peer ahead says so, the node can only be rebuilt from a copy: it
// fails with REBUILD_NEEDED.
import { errors } from '../errors.js';
import type { NodeCore, FrameRef } from './core.js';
import type { FrameLocation } from './frame-directory.js';
import { canCatchUpByLog, logFromOf, type LogRange } from './rebuild.js';

/** Gossip between nodes, over their peer links. */
export type GossipMessage =
  | { type: 'fetch'; from: number; bytesMax: number }
  /** `logFrom`: the sender's hot log starts there; an empty answer with `logFrom` > `from` means it never can serve it. */
  | { type: 'frames'; from: number; frames: Uint8Array[]; logFrom: number }
  /** Exact versions (key at LSN) whose values are damaged in the asker's page images. */
  | { type: 'fetch-values'; items: { key: Uint8Array; lsn: number }[] }
  | { type: 'values'; items: { lsn: number; value: Uint8Array | null }[] };

/** What the node's shell knows of its peers, and how it reaches them. */
export interface GossipLinks {
  readonly nodes: number;
  /** Peer i runs (not failed) and this node has a link to it. */
  reachable(i: number): boolean;
  /** Peer i's published SCL. */
  scl(i: number): number;
  /** Peer i runs (whether or not it is reachable): its chain counts when deciding a rebuild. */
  running(i: number): boolean;
  send(i: number, msg: GossipMessage): void;
}

export interface GossipOptions {
  /** A node lagging a peer with nothing arriving waits this long before fetching (the frame may be on its way). */
  lagMicros: number;
  /** An unanswered fetch is abandoned after this long and another peer is asked. */
  timeoutMicros: number;
  /** Bytes of frames asked for per fetch. */
  bytesMax: number;
}

export const GOSSIP_DEFAULTS: GossipOptions = { lagMicros: 5_000, timeoutMicros: 200_000, bytesMax: 4 << 20 };

/** Values asked for per fetch-values. */
const VALUES_PER_FETCH = 1024;

/** The node's hooks: how accepted frames are appended and acked, and how a failure is reported. */
export interface GossipHost {
  /** Appends, syncs, acks and indexes frames from a peer; returns how many were accepted. */
  absorb(refs: FrameRef[]): number;
  /** Reports the core's failure if one happened in the last call into it; true if the node has failed. */
  noticeFailure(): boolean;
  /** The node can never catch up by log: it fails (REBUILD_NEEDED). */
  fail(e: Error): void;
  /** Stats changed (a fetch, a repair). */
  statsChanged(): void;
}

export class Gossip {
  private fetching: { peer: number; from: number; at: number; repair: FrameLocation | null; values?: boolean } | null = null;
  /** When a lag behind a peer was first seen with nothing arriving (null: no lag). */
  private lagSince: number | null = null;
  private readonly failedPeers = new Set<number>();
  /** Peers that answered that their hot log starts above this node's chain end: where it started (logFrom). */
  private readonly peersPastMe = new Map<number, number>();

  constructor(
    private readonly id: number,
    private readonly core: NodeCore,
    private readonly links: GossipLinks,
    private readonly host: GossipHost,
    private readonly o: GossipOptions = GOSSIP_DEFAULTS,
  ) {}

  /** Something to time out or retry soon: the shell should wake up within lagMicros. */
  get wantsSoon(): boolean {
    return this.fetching !== null || this.lagSince !== null || this.core.repairQueue.length > 0 || this.core.blockSuspect;
  }

  /** Peer i (re)started, maybe rebuilt: ask it again. */
  peerRestarted(i: number): void {
    this.failedPeers.delete(i);
    this.peersPastMe.delete(i);
  }

  /** A message from peer `from`: a question (answered at once) or the answer to this node's ask. */
  onMessage(from: number, msg: GossipMessage): void {
    const core = this.core;
    if (msg.type === 'fetch-values') {
      // Serve only the exact version asked for (a newer or older one would be the wrong value).
      const items = msg.items.map((it) => {
        const r = core.read(it.key, it.lsn);
        this.host.noticeFailure();
        const ok = r.status === 'ok' && r.result.found && r.result.lsn === it.lsn && r.result.value !== null;
        return { lsn: it.lsn, value: ok ? (r.result as { value: Uint8Array }).value : null };
      });
      this.links.send(from, { type: 'values', items });
      return;
    }
    if (msg.type === 'fetch') {
      const out = core.framesAfter(msg.from, msg.bytesMax);
      this.host.noticeFailure();
      this.links.send(from, { type: 'frames', from: msg.from, frames: out, logFrom: logFromOf(core) });
      return;
    }
    const f = this.fetching;
    if (msg.type === 'values') {
      if (f === null || f.peer !== from || f.values !== true) return; // stale answer
      this.fetching = null;
      for (const it of msg.items) if (it.value !== null) core.addReplacement(it.lsn, it.value);
      if (core.damagedBlockValues(VALUES_PER_FETCH).length === 0) {
        core.rewriteImages(); // every damaged value has a good copy: rewrite the images now
        this.failedPeers.clear();
      } else {
        this.failedPeers.add(from); // it could not supply them all: ask another
      }
      this.host.statsChanged();
      return;
    }
    if (f === null || f.peer !== from || msg.from !== f.from || f.values === true) return; // stale answer
    this.fetching = null;
    if (f.repair !== null) {
      // Dropped meanwhile (GC removed the frame's segment here, its records are in the images):
      // nothing to repair, no peer to blame, and no rebuild for a frame this node no longer holds.
      if (!core.repairQueue.includes(f.repair)) return;
      const good = msg.frames[0];
      if (good === undefined || !core.repairFrame(f.repair, good)) this.failedPeers.add(from);
      else this.failedPeers.clear();
      if (this.host.noticeFailure()) return;
      this.host.statsChanged();
      // No copy of the damaged frame left in that peer's log (it collected it): if no running
      // peer's log has it, asking again for ever would never repair it.
      if (good === undefined && msg.logFrom > f.repair.lsnPrev) this.rebuildIfNoPeerReaches(from, msg.logFrom, f.repair.lsnPrev, f.repair.lsnLast);
      return;
    }
    if (this.host.noticeFailure()) return;
    if (msg.frames.length === 0) {
      this.failedPeers.add(from); // it could not help: ask another next time
      if (msg.logFrom > core.scl) this.rebuildIfNoPeerReaches(from, msg.logFrom, core.scl, core.scl + 1);
      return;
    }
    const refs: FrameRef[] = [];
    for (const b of msg.frames) {
      const h = core.checkIncoming(b, new DataView(b.buffer, b.byteOffset, b.byteLength), 0, b.length);
      if (h === null) break;
      refs.push({ bytes: b, header: h });
    }
    const n = this.host.absorb(refs);
    core.stats.framesFetched += n;
    this.host.statsChanged();
    if (n > 0) {
      core.gapSeen = false;
      this.failedPeers.clear();
    } else {
      // Frames this node refused (not its chain's next, an epoch its history cut): asking the same
      // peer again would get the same answer for ever; another peer may have the right ones.
      this.failedPeers.add(from);
    }
  }

  /**
   * Peer `from` answered that its hot log starts above `lsn`, which this node needs the frames after
   * (its chain end, or a damaged frame's start). The restart rule's decision (canCatchUpByLog), over
   * the running peers whose chain reaches `sclAtLeast` (those tick() would ask): one not asked yet
   * may still reach back to it; one that answered counts with the log start it gave (a log start
   * only moves up, until the peer restarts: peerRestarted).
   */
  private rebuildIfNoPeerReaches(from: number, logFrom: number, lsn: number, sclAtLeast: number): void {
    this.peersPastMe.set(from, logFrom);
    const ranges: LogRange[] = [];
    for (let i = 0; i < this.links.nodes; i++) {
      const scl = this.links.scl(i);
      if (i === this.id || !this.links.running(i) || scl < sclAtLeast) continue; // cannot help
      ranges.push({ scl, logFrom: this.peersPastMe.get(i) ?? -1 });
    }
    if (canCatchUpByLog(lsn, ranges)) return;
    this.host.fail(errors.rebuildNeeded(this.id, lsn === this.core.scl ? `its chain ends at ${lsn} and no running peer's hot log reaches back to it`
      : `a damaged frame after ${lsn} is in no running peer's hot log any more`));
  }

  private candidate(i: number): boolean {
    return i !== this.id && !this.failedPeers.has(i) && this.links.reachable(i);
  }

  private ask(peer: number, msg: GossipMessage, now: number, repair: FrameLocation | null, values = false): void {
    this.fetching = { peer, from: msg.type === 'fetch' ? msg.from : -1, at: now, repair, values };
    this.links.send(peer, msg);
  }

  /** Anti-entropy, once per wake-up of the node (`idle`: nothing arrived from the writer this time). */
  tick(now: number, idle: boolean): void {
    const core = this.core;
    const links = this.links;
    if (this.fetching !== null) {
      if (now - this.fetching.at < this.o.timeoutMicros) return;
      this.failedPeers.add(this.fetching.peer);
      this.fetching = null;
    }
    if (core.blockSuspect && core.repairQueue.length === 0) {
      const items = core.damagedBlockValues(VALUES_PER_FETCH);
      if (items.length === 0) {
        core.rewriteImages(); // nothing to fetch: every value here is good (or already replaced)
      } else {
        for (let i = 0; i < links.nodes; i++) {
          if (!this.candidate(i)) continue;
          this.ask(i, { type: 'fetch-values', items }, now, null, true);
          return;
        }
        this.failedPeers.clear();
      }
    }
    const repair = core.repairQueue[0];
    if (repair !== undefined) {
      // Scrub found a damaged frame: any running peer whose chain covers it has a good copy.
      for (let i = 0; i < links.nodes; i++) {
        if (!this.candidate(i) || links.scl(i) < repair.lsnLast) continue;
        this.ask(i, { type: 'fetch', from: repair.lsnPrev, bytesMax: repair.bytes }, now, repair);
        return;
      }
      this.failedPeers.clear(); // nobody could help this time: try them all again later
    }
    let best = -1;
    let bestScl = core.scl;
    for (let i = 0; i < links.nodes; i++) {
      if (!this.candidate(i)) continue;
      const s = links.scl(i);
      if (s > bestScl) {
        best = i;
        bestScl = s;
      }
    }
    if (best < 0) {
      this.lagSince = null;
      if (this.failedPeers.size > 0) this.failedPeers.clear(); // every peer failed once: start over
      return;
    }
    if (!core.gapSeen) {
      if (!idle) return;
      if (this.lagSince === null) {
        this.lagSince = now;
        return;
      }
      if (now - this.lagSince < this.o.lagMicros) return;
    }
    this.lagSince = null;
    this.ask(best, { type: 'fetch', from: core.scl, bytesMax: this.o.bytesMax }, now, null);
  }
}
