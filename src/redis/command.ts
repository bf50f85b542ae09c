// What a command is: its arity and key positions (as redis's command table, so COMMAND INFO and
// key tracking agree), its flags, and a handler that runs synchronously against the keyspace.
import type { Reply } from './resp.js';
import type { Keyspace, Watcher } from './keyspace.js';
import { globMatch } from './args.js';

export interface ClientState {
  readonly id: number;
  name: string | null;
  proto: 2 | 3;
  authed: boolean;
  /** Queued commands while in MULTI, else null. */
  multi: Buffer[][] | null;
  multiError: boolean;
  /** Watched keys -> whether the key was live when watched. */
  watched: Map<string, boolean>;
  readonly watcher: Watcher;
  readonly addr: string;
  readonly laddr: string;
  readonly created: number;
  lastInteraction: number;
  lastCommand: string;
  /** Close after the reply of this command (QUIT). */
  closeAfterReply: boolean;
  /** Bytes queued for this client (replies waiting + socket buffer). */
  outBytes(): number;
}

export interface ServerApi {
  readonly requirepass: string | null;
  /** A reply larger than this is not built: the client gets an error and is disconnected. */
  readonly replyBytesMax: number;
  clients(): Iterable<ClientState>;
  info(section: string | null, c: ClientState): string;
  config(): Record<string, string>;
  readonly startedAt: number;
  readonly commandStats: Map<string, { calls: number; usec: number; failed: number }>;
  readonly cursors: CursorTable;
}

export interface Ctx {
  ks: Keyspace;
  now: number;
  client: ClientState;
  srv: ServerApi;
}

export interface Command {
  name: string;
  /** redis arity: n exact, -n at least n (the name counts). */
  arity: number;
  flags: string[];
  first: number;
  /** Last key position; -1 the last argument, -2 the one before. */
  last: number;
  step: number;
  /** Reads every key (KEYS, SCAN, DBSIZE...): its reply waits for every write in flight. */
  allKeys?: boolean;
  run(c: Ctx, a: Buffer[]): Reply;
}

export function cmd(name: string, arity: number, flags: string, first: number, last: number, step: number, run: Command['run'], allKeys = false): Command {
  return { name, arity, flags: flags === '' ? [] : flags.split(' '), first, last, step, run, allKeys };
}

/** The key arguments of a request (by the command's first/last/step). */
export function keysOf(c: Command, a: Buffer[]): Buffer[] {
  if (c.first === 0) return [];
  const last = c.last < 0 ? a.length + c.last : c.last;
  const out: Buffer[] = [];
  for (let i = c.first; i <= last && i < a.length; i += c.step) out.push(a[i]!);
  return out;
}

/**
 * SCAN-family cursors: a live iterator per cursor (a JS Map/Set iterator visits every element
 * present for the whole scan once, skips deleted ones, and may see ones added meanwhile), in a
 * bounded table; an unknown cursor restarts from the beginning.
 */
export class CursorTable {
  private readonly table = new Map<number, { tag: string; it: Iterator<unknown> }>();
  private next = 1;

  constructor(private readonly max = 10_000) {}

  /** The iterator parked under `cursor` for the same source (`tag`), else a new one. */
  take<T>(cursor: number, tag: string, source: () => Iterator<T>): Iterator<T> {
    const p = this.table.get(cursor);
    if (p !== undefined && p.tag === tag) {
      this.table.delete(cursor);
      return p.it as Iterator<T>;
    }
    return source();
  }

  park(it: Iterator<unknown>, tag: string): number {
    while (this.table.size >= this.max) this.table.delete(this.table.keys().next().value!);
    const id = this.next;
    this.next = this.next >= 2 ** 52 ? 1 : this.next + 1;
    this.table.set(id, { tag, it });
    return id;
  }
}

/** One SCAN step: up to `count` items from the cursor's iterator; returns [next cursor, items]. */
export function scanStep<T>(srv: ServerApi, tag: string, cursor: number, count: number, source: () => Iterator<T>, emit: (x: T) => void): number {
  const it = srv.cursors.take(cursor, tag, source);
  for (let i = 0; i < count; i++) {
    const r = it.next();
    if (r.done === true) return 0;
    emit(r.value);
  }
  return srv.cursors.park(it, tag);
}

export interface ScanOptions {
  cursor: number;
  match: string | null;
  count: number;
  type: string | null;
}

export function matches(o: ScanOptions, s: string): boolean {
  return o.match === null || globMatch(o.match, s);
}
