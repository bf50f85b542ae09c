// `auroral serve`: a Redis-compatible server over an Auroral volume (MemoryDB's design). The
// keyspace lives in memory; every write's effects are one MTR, and its reply is sent once the
// MTR is durable on a write quorum. Replies on a connection go out in request order (a reply that
// waits holds back the ones behind it). Limits: clients, idle time, request sizes (resp.ts), and
// the bytes queued for a client (one that never reads is disconnected, not buffered for).
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Database } from '../index.js';
import { VERSION } from '../cli/version.js';
import { errors } from '../errors.js';
import { CursorTable, type ClientState, type ServerApi } from './command.js';
import { REDIS_VERSION } from './cmd-server.js';
import { Executor, noFailReply, type Outcome } from './exec.js';
import { loadKeyspace, scanAll, type Loaded } from './load.js';
import { PROBE_KEY, SERVER_KEY_BYTES_MIN, SERVER_VALUE_BYTES_MIN } from './persist.js';
import { Keyspace, typeNames } from './keyspace.js';
import { defaultRespLimits, ProtocolError, RequestParser, type RespLimits } from './resp.js';
import { encodeReply, ErrorReply } from './resp.js';

export interface ServeOptions {
  host: string;
  port: number;
  requirepass: string | null;
  maxClients: number;
  /** Close a client idle this long (0: never). */
  idleTimeoutMs: number;
  /** Replies queued for one client (sent or waiting), bytes, before it is disconnected. */
  outputBufferBytesMax: number;
  /** Requests of one client waiting for their replies before the server stops reading from it. */
  pipelineMax: number;
  resp: RespLimits;
  /** Active expiry: a cycle every intervalMs looking at up to keysPerCycle keys with a TTL. */
  expiryIntervalMs: number;
  expiryKeysPerCycle: number;
  log: (line: string) => void;
}

export const defaultServeOptions: ServeOptions = {
  host: '127.0.0.1',
  port: 6380,
  requirepass: null,
  maxClients: 10_000,
  idleTimeoutMs: 0,
  outputBufferBytesMax: 64 * 1024 * 1024,
  pipelineMax: 100_000,
  resp: { ...defaultRespLimits, bulkBytesMax: 16 * 1024 * 1024 },
  expiryIntervalMs: 100,
  expiryKeysPerCycle: 200,
  log: () => {},
};

interface Slot {
  buf: Buffer | null;
}

class Client implements ClientState {
  name: string | null = null;
  proto: 2 | 3 = 2;
  authed: boolean;
  multi: Buffer[][] | null = null;
  multiError = false;
  watched = new Map<string, boolean>();
  readonly watcher = { dirty: false };
  readonly created = Date.now();
  lastInteraction = Date.now();
  lastCommand = 'NULL';
  closeAfterReply = false;
  readonly parser: RequestParser;
  /** Replies not yet written, in request order; `head` is the first. */
  readonly slots: Slot[] = [];
  head = 0;
  queuedBytes = 0;
  flushScheduled = false;
  /** No more requests are read (protocol error, QUIT): close once the replies are out. */
  closing = false;
  paused = false;
  /** The client sent FIN: once every request it sent has run and its replies are out, close. */
  peerEnded = false;

  constructor(readonly id: number, readonly socket: net.Socket, limits: RespLimits, authed: boolean) {
    this.parser = new RequestParser(limits);
    this.authed = authed;
    this.parser.authenticated = authed;
  }

  get addr(): string {
    return `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? 0}`;
  }

  get laddr(): string {
    return `${this.socket.localAddress ?? '?'}:${this.socket.localPort ?? 0}`;
  }

  get waiting(): number {
    return this.slots.length - this.head;
  }

  outBytes(): number {
    return this.queuedBytes + this.socket.writableLength;
  }
}

export class RedisServer implements ServerApi {
  readonly requirepass: string | null;
  readonly replyBytesMax: number;
  readonly startedAt = Date.now();
  readonly commandStats = new Map<string, { calls: number; usec: number; failed: number }>();
  readonly cursors = new CursorTable();
  readonly stats = { connections: 0, rejectedConnections: 0, commands: 0, protocolErrors: 0, outputLimitDisconnects: 0, outputBytesPeak: 0, idleDisconnects: 0, reloads: 0, loadMs: 0, loadedKeys: 0 };
  private readonly clientsById = new Map<number, Client>();
  private nextId = 1;
  private readonly net: net.Server;
  private readonly exec: Executor;
  private expiryTimer: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(private readonly db: Database, ks: Keyspace, private readonly opts: ServeOptions) {
    this.requirepass = opts.requirepass;
    this.replyBytesMax = opts.outputBufferBytesMax;
    this.exec = new Executor(ks, db, this, (e) => this.onWriteFailure(e));
    // Half-open: a client may send its requests and then FIN (`... | nc -N`); its replies, some
    // waiting for durability, go out before we close our side (flush). Node's default would end
    // the socket at once and drop them.
    this.net = net.createServer({ allowHalfOpen: true }, (s) => this.accept(s));
    this.net.maxConnections = opts.maxClients + 16; // beyond it the kernel-level refusal; below, our -ERR
  }

  /** Reads the dataset from the volume, then listens. */
  static async start(db: Database, options: Partial<ServeOptions> = {}): Promise<RedisServer> {
    const opts = { ...defaultServeOptions, ...options };
    // The server's own records (the probe after a failed write, a big command's journal) must
    // fit the engine's limits, or a failure could never be recovered from.
    if (db.config.keyBytesMax < SERVER_KEY_BYTES_MIN) throw errors.invalidOption('keyBytesMax', `must be at least ${SERVER_KEY_BYTES_MIN} for auroral serve (its own records' keys), got ${db.config.keyBytesMax}`);
    if (db.config.valueBytesMax < SERVER_VALUE_BYTES_MIN) throw errors.invalidOption('valueBytesMax', `must be at least ${SERVER_VALUE_BYTES_MIN} for auroral serve (its own records' values), got ${db.config.valueBytesMax}`);
    const t0 = performance.now();
    const ks = await RedisServer.load(db);
    const srv = new RedisServer(db, ks.ks, opts);
    srv.stats.loadMs = performance.now() - t0;
    srv.stats.loadedKeys = ks.keys;
    opts.log(`loaded ${ks.keys} keys (${ks.records} records, ${ks.expired} expired) in ${srv.stats.loadMs.toFixed(0)} ms${journalNote(ks)}`);
    await new Promise<void>((resolve, reject) => {
      srv.net.once('error', reject);
      srv.net.listen(opts.port, opts.host, () => {
        srv.net.off('error', reject);
        resolve();
      });
    });
    srv.expiryTimer = setInterval(() => srv.expireTick(), opts.expiryIntervalMs);
    srv.expiryTimer.unref();
    return srv;
  }

  private static load(db: Database): Promise<Loaded> {
    return loadKeyspace(db, () => scanAll(db));
  }

  get port(): number {
    return (this.net.address() as net.AddressInfo).port;
  }

  clients(): Iterable<ClientState> {
    return this.clientsById.values();
  }

  get keyspace(): Keyspace {
    return this.exec.ks;
  }

  // ---- connections ----------------------------------------------------------------------

  private accept(s: net.Socket): void {
    if (this.closed) {
      s.destroy();
      return;
    }
    if (this.clientsById.size >= this.opts.maxClients) {
      this.stats.rejectedConnections++;
      s.end('-ERR max number of clients reached\r\n');
      return;
    }
    s.setNoDelay(true);
    const c = new Client(this.nextId++, s, this.opts.resp, this.requirepass === null);
    this.clientsById.set(c.id, c);
    this.stats.connections++;
    if (this.opts.idleTimeoutMs > 0) {
      s.setTimeout(this.opts.idleTimeoutMs, () => {
        if (c.waiting > 0) return; // waiting for durability is not idle
        this.stats.idleDisconnects++;
        s.destroy();
      });
    }
    s.on('data', (chunk: Buffer) => {
      if (c.closing) return;
      c.lastInteraction = Date.now();
      try {
        c.parser.feed(chunk);
        this.process(c);
      } catch (e) {
        // Commands' own errors are caught in process(); what reaches here is a bug in reading
        // this client's requests: that client alone is disconnected (as in flushTurn).
        this.dropOnBug(c, 'reading requests', e);
      }
    });
    s.on('end', () => {
      // Every byte it sent has reached 'data' by now (a paused socket holds 'end' back).
      c.peerEnded = true;
      this.scheduleFlush(c);
    });
    s.on('drain', () => this.maybeResume(c));
    s.on('error', () => s.destroy());
    s.on('close', () => {
      this.clientsById.delete(c.id);
      this.exec.unwatch(c);
      c.closing = true;
    });
  }

  /** Parses and runs every complete request of a client, until it must stop (pipelineMax). */
  private process(c: Client): void {
    while (!c.closing) {
      if (c.waiting >= this.opts.pipelineMax) {
        c.paused = true;
        c.socket.pause();
        break;
      }
      let a: Buffer[] | null;
      try {
        a = c.parser.next();
      } catch (e) {
        if (!(e instanceof ProtocolError)) throw e;
        this.stats.protocolErrors++;
        this.push(c, { reply: encodeReply(new ErrorReply(`ERR ${e.message}`), c.proto), gate: null, failReply: noFailReply });
        c.closing = true;
        break;
      }
      if (a === null) break;
      this.stats.commands++;
      let o: Outcome;
      try {
        o = this.exec.run(c, a);
      } catch (e) {
        // A bug or a resource error in one command must not take the server (and every other
        // client) down: that client gets the error and is disconnected.
        this.opts.log(`client ${c.id} ${c.addr}: internal error: ${(e as Error).stack ?? String(e)}`);
        o = { reply: encodeReply(new ErrorReply(`ERR internal error: ${(e as Error).message}`), c.proto), gate: null, failReply: noFailReply };
        c.closeAfterReply = true;
        // The command may have changed memory without its effects reaching the log: memory is no
        // longer known to match it, so stop serving and rebuild from the log, as after a failed write.
        this.onWriteFailure(e);
      }
      c.parser.authenticated = c.authed;
      this.push(c, o);
      if (c.closeAfterReply) c.closing = true;
      const out = c.outBytes();
      if (out > this.stats.outputBytesPeak) this.stats.outputBytesPeak = out;
      // Checked per request, not per read chunk: one 64 KB chunk of small requests for a big value
      // would otherwise queue hundreds of MB of replies first. Reading stops; flush writes what the
      // socket takes and disconnects a client still over the limit; a client that reads resumes.
      if (out > this.opts.outputBufferBytesMax) {
        c.paused = true;
        c.socket.pause();
        break;
      }
    }
    this.scheduleFlush(c);
  }

  private push(c: Client, o: Outcome): void {
    const slot: Slot = { buf: o.gate === null ? o.reply : null };
    c.slots.push(slot);
    c.queuedBytes += o.reply.length;
    if (o.gate !== null) {
      o.gate.then(() => {
        slot.buf = o.reply;
        this.scheduleFlush(c);
      }, () => {
        const fail = o.failReply();
        c.queuedBytes += fail.length - o.reply.length;
        slot.buf = fail;
        this.scheduleFlush(c);
      });
    }
  }

  /**
   * Replies are written once per event-loop turn, after every client's requests of the turn have
   * run (redis writes in beforeSleep too). Writing each as it was ready made a write() per read
   * chunk, and on this VM a loopback write that wakes the sleeping client costs ~15 µs of kernel
   * time (an IPI): 74% of the main thread under GET -c 50. Now a client that sent again within
   * the turn gets one write for both, and the client's process is more often still awake.
   */
  private scheduleFlush(c: Client): void {
    if (c.flushScheduled) return;
    c.flushScheduled = true;
    this.toFlush.push(c);
    if (this.toFlush.length === 1) setImmediate(this.flushTurn);
  }

  private toFlush: Client[] = [];
  private readonly flushTurn = (): void => {
    const list = this.toFlush;
    this.toFlush = [];
    for (const c of list) c.flushScheduled = false;
    for (const c of list) {
      try {
        this.flush(c);
      } catch (e) {
        // A bug reached through one client's flush (its resumed parsing) must not strand the
        // replies of the clients after it in this turn: that client alone is disconnected.
        this.dropOnBug(c, 'writing replies', e);
      }
    }
  };

  private dropOnBug(c: Client, doing: string, e: unknown): void {
    this.opts.log(`client ${c.id} ${c.addr}: internal error while ${doing}: ${(e as Error).stack ?? String(e)}`);
    c.closing = true;
    c.socket.destroy();
  }

  /** Writes the ready replies at the head of the queue, in order. */
  private flush(c: Client): void {
    const out: Buffer[] = [];
    let n = 0;
    while (c.head < c.slots.length && c.slots[c.head]!.buf !== null) {
      const b = c.slots[c.head]!.buf!;
      out.push(b);
      n += b.length;
      c.head++;
    }
    if (c.head === c.slots.length) {
      c.slots.length = 0;
      c.head = 0;
    } else if (c.head > 1024 && c.head * 2 > c.slots.length) {
      c.slots.splice(0, c.head);
      c.head = 0;
    }
    c.queuedBytes -= n;
    if (out.length > 0 && !c.socket.destroyed) c.socket.write(out.length === 1 ? out[0]! : Buffer.concat(out, n));
    if (c.outBytes() > this.opts.outputBufferBytesMax) {
      this.stats.outputLimitDisconnects++;
      this.opts.log(`client ${c.id} ${c.addr} disconnected: output buffer over ${this.opts.outputBufferBytesMax} bytes (it is not reading its replies)`);
      c.closing = true;
      c.socket.destroy();
      return;
    }
    // After the client's FIN, close once nothing is left: no reply waiting, and no request left
    // in the parser (process() pauses with requests still parsed-but-unrun at pipelineMax).
    if ((c.closing || (c.peerEnded && !c.paused)) && c.waiting === 0) c.socket.end();
    else this.maybeResume(c);
  }

  private maybeResume(c: Client): void {
    if (!c.paused || c.closing || c.waiting >= this.opts.pipelineMax / 2) return;
    // Wait for 'drain' only if one will come (a write returned false): with a small limit the
    // socket can hold more than half of it without ever needing a drain, and would stay paused.
    if (c.socket.writableNeedDrain && c.socket.writableLength > this.opts.outputBufferBytesMax / 2) return;
    c.paused = false;
    c.socket.resume();
    this.process(c);
  }

  // ---- failures and expiry ----------------------------------------------------------------

  /**
   * A write could not be made durable: memory is ahead of the log. Stop serving, wait until
   * the log is whole again (everything handed to the engine durable), then rebuild from the log.
   */
  private onWriteFailure(e: unknown): void {
    if (this.exec.state !== 'ready') return;
    this.exec.state = 'failed';
    this.exec.failure = this.exec.describeFailure(e);
    this.opts.log(`a write failed (${this.exec.failure}): reloading from the log once it is reachable`);
    void this.recover();
  }

  private async recover(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      if (this.db.state !== 'open') {
        this.opts.log(`the volume is ${this.db.state}: this server cannot write any more`);
        return;
      }
      // Everything handed to the engine before the probe is durable once the probe is.
      try {
        await this.db.put(PROBE_KEY, String(Date.now()));
        if (this.exec.tracker.pending === 0) break;
      } catch {
        // still no quorum
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    this.exec.state = 'reloading';
    try {
      const r = await RedisServer.load(this.db);
      this.exec.replaceKeyspace(r.ks);
      this.exec.state = 'ready';
      this.exec.failure = null;
      this.stats.reloads++;
      this.opts.log(`reloaded ${r.keys} keys from the log${journalNote(r)}`);
    } catch (e) {
      this.exec.state = 'failed';
      this.exec.failure = this.exec.describeFailure(e);
      setTimeout(() => void this.recover(), 500).unref();
    }
  }

  private expireTick(): void {
    // Up to 4 cycles while a quarter or more of what was looked at had expired (as redis).
    for (let i = 0; i < 4; i++) {
      const n = this.exec.expireCycle(this.opts.expiryKeysPerCycle);
      if (n < this.opts.expiryKeysPerCycle / 4) break;
    }
  }

  // ---- INFO and CONFIG --------------------------------------------------------------------

  config(): Record<string, string> {
    const o = this.opts;
    return {
      bind: o.host, port: String(this.port), requirepass: o.requirepass ?? '', maxclients: String(o.maxClients),
      timeout: String(Math.floor(o.idleTimeoutMs / 1000)), 'proto-max-bulk-len': String(o.resp.bulkBytesMax),
      'client-query-buffer-limit': String(o.resp.queryBytesMax),
      'client-output-buffer-limit': `normal ${o.outputBufferBytesMax} ${o.outputBufferBytesMax} 0`,
      appendonly: 'yes', appendfsync: 'always', save: '', databases: '1', hz: String(Math.round(1000 / o.expiryIntervalMs)),
    };
  }

  info(section: string | null, _c: ClientState): string {
    const st = this.db.stats();
    const mem = process.memoryUsage();
    const secs: Record<string, [string, string | number][]> = {
      server: [['redis_version', REDIS_VERSION], ['auroral_version', VERSION], ['redis_mode', 'standalone'], ['os', `${process.platform} ${process.arch}`],
        ['process_id', process.pid], ['tcp_port', this.port], ['uptime_in_seconds', Math.floor((Date.now() - this.startedAt) / 1000)],
        ['executable', process.argv[1] ?? ''], ['hz', Math.round(1000 / this.opts.expiryIntervalMs)]],
      clients: [['connected_clients', this.clientsById.size], ['maxclients', this.opts.maxClients], ['blocked_clients', 0],
        ['client_recent_max_output_buffer', this.stats.outputBytesPeak],
        ['clients_waiting_for_durability', [...this.clientsById.values()].filter((c) => c.slots.slice(c.head).some((s) => s.buf === null)).length]],
      memory: [['used_memory', mem.heapUsed], ['used_memory_rss', mem.rss]],
      persistence: [['loading', this.exec.state === 'reloading' ? 1 : 0], ['aof_enabled', 1], ['rdb_changes_since_last_save', 0],
        ['auroral_state', this.exec.state], ['auroral_failure', this.exec.failure ?? ''], ['auroral_epoch', st.epoch], ['auroral_vdl', st.vdl],
        ['auroral_lsn_next', st.lsnNext], ['auroral_commits_acknowledged', st.commits.acknowledged], ['auroral_commits_timed_out', st.commits.timedOut],
        ['auroral_writes_in_flight', this.exec.tracker.pending], ['auroral_mtrs', this.exec.tracker.stats.commits], ['auroral_records', this.exec.tracker.stats.records],
        ['auroral_failed_writes', this.exec.tracker.stats.failed], ['auroral_journaled_commands', this.exec.tracker.stats.journaled], ['auroral_reloads', this.stats.reloads], ['auroral_load_ms', Math.round(this.stats.loadMs)],
        ['auroral_nodes', st.nodes.length], ['auroral_nodes_running', st.nodes.filter((n) => n.state === 'running').length], ['auroral_fsync', st.fsync]],
      stats: [['total_connections_received', this.stats.connections], ['total_commands_processed', this.stats.commands],
        ['rejected_connections', this.stats.rejectedConnections], ['expired_keys', this.exec.ks.stats.expiredKeys],
        ['protocol_errors', this.stats.protocolErrors], ['client_output_buffer_limit_disconnections', this.stats.outputLimitDisconnects],
        ['client_idle_disconnections', this.stats.idleDisconnects]],
      replication: [['role', 'master'], ['connected_slaves', 0]],
      keyspace: this.exec.ks.map.size === 0 ? [] : [['db0', `keys=${this.exec.ks.map.size},expires=${this.exec.ks.expires.size},avg_ttl=0`]],
      commandstats: [...this.commandStats].map(([n, s]) => [`cmdstat_${n}`, `calls=${s.calls},usec=${s.usec},usec_per_call=${(s.calls === 0 ? 0 : s.usec / s.calls).toFixed(2)},rejected_calls=0,failed_calls=${s.failed}`]),
    };
    const want = section === null || section === 'default' || section === 'all' || section === 'everything'
      ? Object.keys(secs).filter((k) => section === 'all' || section === 'everything' || k !== 'commandstats')
      : [section];
    const parts: string[] = [];
    for (const k of want) {
      const rows = secs[k];
      if (rows === undefined) continue;
      parts.push(`# ${k[0]!.toUpperCase()}${k.slice(1)}\r\n${rows.map(([a, b]) => `${a}:${b}\r\n`).join('')}`);
    }
    return parts.join('\r\n');
  }

  /**
   * Runs `input` as one connection would, without a socket (the fuzzer drives millions of inputs
   * through it): parses, executes, waits for each reply's durability; stops at a protocol error.
   */
  async runVirtual(input: Buffer): Promise<string> {
    const c: ClientState = {
      id: this.nextId++, name: null, proto: 2, authed: this.requirepass === null, multi: null, multiError: false, watched: new Map(),
      watcher: { dirty: false }, addr: 'virtual:0', laddr: 'virtual:0', created: Date.now(), lastInteraction: Date.now(), lastCommand: 'NULL',
      closeAfterReply: false, outBytes: () => 0,
    };
    const p = new RequestParser(this.opts.resp);
    p.authenticated = c.authed;
    p.feed(input);
    const out: Promise<Buffer>[] = [];
    for (;;) {
      let a: Buffer[] | null;
      try {
        a = p.next();
      } catch (e) {
        if (!(e instanceof ProtocolError)) throw e;
        out.push(Promise.resolve(encodeReply(new ErrorReply(`ERR ${e.message}`))));
        break;
      }
      if (a === null) break;
      const o = this.exec.run(c, a);
      p.authenticated = c.authed;
      out.push(o.gate === null ? Promise.resolve(o.reply) : o.gate.then(() => o.reply, () => o.failReply()));
      if (c.closeAfterReply) break;
    }
    this.exec.unwatch(c);
    return Buffer.concat(await Promise.all(out)).toString('latin1');
  }

  /** Types held, for tests. */
  typeCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const e of this.exec.ks.map.values()) out[typeNames[e.t]] = (out[typeNames[e.t]] ?? 0) + 1;
    return out;
  }

  /** Stops listening, closes every client, waits for writes in flight; does not close the db. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.exec.state = 'closing';
    if (this.expiryTimer !== null) clearInterval(this.expiryTimer);
    const done = new Promise<void>((r) => this.net.close(() => r()));
    for (const c of this.clientsById.values()) c.socket.destroy();
    await done;
    while (this.exec.tracker.pending > 0) await new Promise((r) => setTimeout(r, 5));
  }
}

/** What a load did with journaled commands a crash or failure cut short (journal.ts). */
function journalNote(r: Loaded): string {
  if (r.journalReplayed === 0 && r.journalDropped === 0) return '';
  return `; finished ${r.journalReplayed} committed oversized command(s), dropped ${r.journalDropped} uncommitted one(s)`;
}
