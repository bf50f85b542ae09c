// Runs one request of one client: authentication, MULTI queueing, arity, then the handler
// against the keyspace; then decides when the reply may go out (durability.ts). The reply is
// encoded at once (in the client's protocol); `gate` says what must be durable before it is sent.
import type { Database } from '../index.js';
import { isAuroralError } from '../errors.js';
import { keysOf, type ClientState, type Command, type Ctx, type ServerApi } from './command.js';
import { hashCommands } from './cmd-hashes.js';
import { keyCommands } from './cmd-keys.js';
import { listCommands } from './cmd-lists.js';
import { serverCommands } from './cmd-server.js';
import { setCommands } from './cmd-sets.js';
import { stringCommands } from './cmd-strings.js';
import { zsetCommands } from './cmd-zsets.js';
import { DurabilityTracker } from './durability.js';
import { mtrLimits } from './mtr.js';
import { CommandError, Keyspace } from './keyspace.js';
import { Effects } from './persist.js';
import { encodeReply, ErrorReply, NullArray, OK, QUEUED, ReplyTooLarge, type Reply } from './resp.js';

export interface Outcome {
  reply: Buffer;
  /** Must be durable before the reply is sent; if it fails, `failReply()` is sent instead. */
  gate: Promise<void> | null;
  /** Encoded only if the gate fails (rarely): most writes never need it. */
  failReply: () => Buffer;
}

const NO_REPLY = Buffer.alloc(0);
/** The failReply of a reply with no gate (it cannot fail). */
export const noFailReply = (): Buffer => NO_REPLY;

export type ServerState = 'ready' | 'failed' | 'reloading' | 'closing';

const NOT_QUEUED = new Set(['exec', 'discard', 'multi', 'watch', 'unwatch', 'quit', 'reset']);

export function buildTable(): Map<string, Command> {
  const table = new Map<string, Command>();
  for (const c of [...stringCommands, ...keyCommands, ...hashCommands, ...listCommands, ...setCommands, ...zsetCommands]) table.set(c.name, c);
  for (const c of serverCommands(table)) table.set(c.name, c);
  return table;
}

export class Executor {
  readonly table = buildTable();
  ks: Keyspace;
  state: ServerState = 'ready';
  failure: string | null = null;
  readonly tracker: DurabilityTracker;

  constructor(ks: Keyspace, db: Database, private readonly srv: ServerApi, onFailure: (e: unknown) => void) {
    this.ks = ks;
    this.tracker = new DurabilityTracker(db, mtrLimits(db), onFailure);
  }

  run(c: ClientState, a: Buffer[]): Outcome {
    const name = a[0]!.toString('latin1').toLowerCase();
    c.lastCommand = name;
    const cmd = this.table.get(name);
    const immediate = (r: Reply): Outcome => ({ reply: this.encode(c, r), gate: null, failReply: noFailReply });
    const fail = (s: string): Outcome => {
      if (cmd !== undefined) this.stat(cmd.name).failed++;
      return immediate(new ErrorReply(s));
    };
    if (this.srv.requirepass !== null && !c.authed && !(cmd?.flags.includes('noauth') ?? false)) return fail('NOAUTH Authentication required.');
    if (cmd === undefined) {
      if (c.multi !== null) c.multiError = true;
      let args = '';
      for (let i = 1; i < a.length && args.length < 128; i++) args += `'${a[i]!.toString('latin1').slice(0, 128 - args.length)}' `;
      return immediate(new ErrorReply(`ERR unknown command '${a[0]!.toString('latin1').slice(0, 128)}', with args beginning with: ${args}`));
    }
    if ((cmd.arity > 0 && a.length !== cmd.arity) || a.length < -cmd.arity) {
      if (c.multi !== null) c.multiError = true;
      return fail(`ERR wrong number of arguments for '${cmd.name}' command`);
    }
    // Not ready (a write failed, or the dataset is being reloaded): nothing that reads or writes
    // the keyspace runs, neither alone nor inside MULTI/EXEC. The reload swaps in a keyspace built
    // from the log, so a write applied meanwhile would vanish from memory after its +OK, and a read
    // could see the failed write's non-durable value. EXEC then discards the transaction.
    if (this.state !== 'ready' && (!cmd.flags.includes('loading') || (c.multi !== null && !NOT_QUEUED.has(name)))) {
      if (c.multi !== null) c.multiError = true;
      return fail(this.state === 'failed'
        ? `LOADING Auroral could not make a write durable (${this.failure ?? 'unknown'}); reloading the dataset from the log once it is reachable`
        : 'LOADING Redis is loading the dataset in memory');
    }
    if (this.state !== 'ready' && name === 'exec' && c.multi !== null) {
      this.endMulti(c);
      return fail('EXECABORT Transaction discarded because the server is loading the dataset (LOADING)');
    }
    if (c.multi !== null && !NOT_QUEUED.has(name)) {
      c.multi.push(a.map((x) => Buffer.from(x)));
      return immediate(QUEUED);
    }
    switch (name) {
      case 'multi':
        if (c.multi !== null) return fail('ERR MULTI calls can not be nested');
        c.multi = [];
        c.multiError = false;
        return immediate(OK);
      case 'discard':
        if (c.multi === null) return fail('ERR DISCARD without MULTI');
        this.endMulti(c);
        return immediate(OK);
      case 'watch':
        if (c.multi !== null) return fail('ERR WATCH inside MULTI is not allowed');
        for (let i = 1; i < a.length; i++) this.watch(c, a[i]!.toString('latin1'));
        return immediate(OK);
      case 'unwatch':
        this.unwatch(c);
        return immediate(OK);
      case 'exec':
        return this.exec(c);
    }
    return this.single(c, cmd, a);
  }

  /**
   * The reply's bytes, never more than the client's output buffer may hold: a bigger one (MGET of
   * a large value repeated, HGETALL of a huge hash) is not assembled at all; the client gets an
   * error and is disconnected, as redis does past client-output-buffer-limit.
   */
  private encode(c: ClientState, r: Reply): Buffer {
    try {
      return encodeReply(r, c.proto, this.srv.replyBytesMax);
    } catch (e) {
      if (!(e instanceof ReplyTooLarge)) throw e;
      c.closeAfterReply = true;
      return encodeReply(new ErrorReply(`ERR reply larger than the output buffer limit (${e.bytesMax} bytes); closing the connection`), c.proto);
    }
  }

  private stat(name: string): { calls: number; usec: number; failed: number } {
    let s = this.srv.commandStats.get(name);
    if (s === undefined) this.srv.commandStats.set(name, (s = { calls: 0, usec: 0, failed: 0 }));
    return s;
  }

  private ctx(c: ClientState): Ctx {
    return { ks: this.ks, now: Date.now(), client: c, srv: this.srv };
  }

  /** Runs a handler: its reply, or the error it threw (nothing changed: handlers validate first). */
  private apply(ctx: Ctx, cmd: Command, a: Buffer[]): Reply {
    const t0 = performance.now();
    const s = this.stat(cmd.name);
    s.calls++;
    try {
      return cmd.run(ctx, a);
    } catch (e) {
      if (!(e instanceof CommandError)) throw e;
      s.failed++;
      return new ErrorReply(e.message);
    } finally {
      s.usec += Math.round((performance.now() - t0) * 1000);
    }
  }

  private single(c: ClientState, cmd: Command, a: Buffer[]): Outcome {
    this.ks.fx = new Effects();
    const r = this.apply(this.ctx(c), cmd, a);
    return this.finish(c, r, this.ks.fx, cmd.allKeys === true, cmd.allKeys === true ? [] : keysOf(cmd, a).map((k) => k.toString('latin1')));
  }

  /**
   * Logs the effects and chooses the gate: a write waits for its own MTR (which covers every
   * earlier one: LSN order); a read waits for the newest write in flight of the keys it read.
   */
  private finish(c: ClientState, r: Reply, fx: Effects, allKeys: boolean, keys: string[]): Outcome {
    // Effects first: the keyspace has changed, so they go to the log whatever the reply becomes.
    let own: Promise<void> | null = null;
    if (fx.ops.length > 0) own = this.tracker.commit(fx);
    const reply = this.encode(c, r);
    if (own !== null && fx.written) return { reply, gate: own, failReply: this.ownWriteFailed[c.proto] };
    const gate = allKeys ? this.tracker.gateAll() : this.tracker.gate(keys);
    return { reply, gate, failReply: this.earlierWriteFailed[c.proto] };
  }

  /**
   * The replies sent instead when a gate fails, by protocol (index 2 or 3). Encoded when the
   * failure comes, so they name its cause (onFailure has recorded it by then: the tracker's
   * handler was attached to the commit before the server's).
   */
  private readonly ownWriteFailed: Record<2 | 3, () => Buffer> = { 2: () => this.writeFailed(true, 2), 3: () => this.writeFailed(true, 3) };
  private readonly earlierWriteFailed: Record<2 | 3, () => Buffer> = { 2: () => this.writeFailed(false, 2), 3: () => this.writeFailed(false, 3) };

  private writeFailed(own: boolean, proto: 2 | 3): Buffer {
    return encodeReply(new ErrorReply(own
      ? `ERR Auroral could not make this write durable (${this.failure ?? 'write failed'}); its outcome is unknown`
      : 'ERR Auroral could not make an earlier write of this key durable; retry once the server has reloaded'), proto);
  }

  private exec(c: ClientState): Outcome {
    const imm = (r: Reply): Outcome => ({ reply: this.encode(c, r), gate: null, failReply: noFailReply });
    if (c.multi === null) return imm(new ErrorReply('ERR EXEC without MULTI'));
    const queue = c.multi;
    const aborted = c.multiError;
    const now = Date.now();
    let dirty = c.watcher.dirty;
    // A watched key that expired since WATCH counts as changed (as redis).
    for (const [id, live] of c.watched) if (live && this.ks.map.has(id) && this.ks.map.get(id)!.exp !== 0 && this.ks.map.get(id)!.exp <= now) dirty = true;
    this.endMulti(c);
    if (aborted) return imm(new ErrorReply('EXECABORT Transaction discarded because of previous errors.'));
    // "A watched key changed" must not reach the client before that change is durable (a crash
    // could still undo it), as its value would not: the abort waits for the newest write in
    // flight, which covers the one that dirtied the watch (LSN order) whatever it was (a
    // FLUSHALL, an expiry, a reload's swap).
    if (dirty) return { reply: this.encode(c, NullArray.it), gate: this.tracker.gateAll(), failReply: this.earlierWriteFailed[c.proto] };
    // Every command of the transaction adds to one Effects: one MTR for the whole EXEC.
    this.ks.fx = new Effects();
    const ctx = this.ctx(c);
    const replies: Reply[] = [];
    const keys: string[] = [];
    let all = false;
    for (const a of queue) {
      const cmd = this.table.get(a[0]!.toString('latin1').toLowerCase())!;
      if (cmd.allKeys === true) all = true;
      else for (const k of keysOf(cmd, a)) keys.push(k.toString('latin1'));
      replies.push(this.apply(ctx, cmd, a));
    }
    return this.finish(c, replies, this.ks.fx, all, keys);
  }

  private endMulti(c: ClientState): void {
    c.multi = null;
    c.multiError = false;
    this.unwatch(c);
  }

  private watch(c: ClientState, id: string): void {
    if (c.watched.has(id)) return;
    c.watched.set(id, this.ks.get(id, Date.now()) !== undefined);
    let w = this.ks.watchers.get(id);
    if (w === undefined) this.ks.watchers.set(id, (w = new Set()));
    w.add(c.watcher);
  }

  unwatch(c: ClientState): void {
    for (const id of c.watched.keys()) {
      const w = this.ks.watchers.get(id);
      w?.delete(c.watcher);
      if (w !== undefined && w.size === 0) this.ks.watchers.delete(id);
    }
    c.watched.clear();
    c.watcher.dirty = false;
  }

  /** Active expiry: one bounded cycle; its deletions are logged like any write. */
  expireCycle(budget: number): number {
    if (this.state !== 'ready') return 0;
    this.ks.fx = new Effects();
    const n = this.ks.activeExpire(Date.now(), budget);
    if (this.ks.fx.ops.length > 0) this.tracker.commit(this.ks.fx).catch(() => {});
    return n;
  }

  /** Swaps in a keyspace rebuilt from the log; every WATCH sees a change. */
  replaceKeyspace(ks: Keyspace): void {
    for (const set of this.ks.watchers.values()) for (const w of set) w.dirty = true;
    this.ks = ks;
    this.tracker.reset();
  }

  describeFailure(e: unknown): string {
    return isAuroralError(e) ? e.code : e instanceof Error ? e.message : String(e);
  }
}
