// The in-memory engine: authoritative data structures, and the one place that turns a change of
// them into its effects (persist.ts layout). Every mutation goes through a method here that
// changes memory and records the Auroral writes that reproduce it in `fx`, so memory and log
// cannot disagree about what a command did. Callers validate before mutating: a command that
// fails leaves nothing behind.
import { PosDeque, ZSet } from './collections.js';
import { akey, Effects, f64, KEY_OVERHEAD, Tag } from './persist.js';

export const T = { STRING: 0, HASH: 1, LIST: 2, SET: 3, ZSET: 4 } as const;
export type T = (typeof T)[keyof typeof T];
export const typeNames = ['string', 'hash', 'list', 'set', 'zset'] as const;

export type Entry =
  | { t: typeof T.STRING; key: Buffer; exp: number; v: Buffer }
  | { t: typeof T.HASH; key: Buffer; exp: number; v: Map<string, Buffer> }
  | { t: typeof T.LIST; key: Buffer; exp: number; v: PosDeque }
  | { t: typeof T.SET; key: Buffer; exp: number; v: Set<string> }
  | { t: typeof T.ZSET; key: Buffer; exp: number; v: ZSet };

export class CommandError extends Error {}

export const WRONGTYPE = 'WRONGTYPE Operation against a key holding the wrong kind of value';

export interface KeyspaceLimits {
  keyBytesMax: number;
  valueBytesMax: number;
}

export const latin1 = (b: Buffer): string => b.toString('latin1');
export const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Something that watches keys (a client in WATCH): told when one is touched. */
export interface Watcher {
  dirty: boolean;
}

export class Keyspace {
  readonly map = new Map<string, Entry>();
  /** Keys with a TTL (for active expiry). */
  readonly expires = new Map<string, Entry>();
  /** The effects of the command being executed. */
  fx = new Effects();
  readonly watchers = new Map<string, Set<Watcher>>();
  readonly stats = { expiredKeys: 0, hits: 0, misses: 0 };
  private expiryCursor: IterableIterator<[string, Entry]> | null = null;

  constructor(readonly limits: KeyspaceLimits) {}

  // ---- limits: checked before anything changes ------------------------------------------

  /** Throws unless an Auroral key for `key` plus a suffix of `suffixBytes` fits. */
  checkKey(key: Buffer, suffixBytes = 0): void {
    if (KEY_OVERHEAD + key.length + suffixBytes > this.limits.keyBytesMax) {
      throw new CommandError(`ERR key${suffixBytes > 0 ? ' plus field or member' : ''} too large: ${key.length + suffixBytes} bytes, this server stores at most ${this.limits.keyBytesMax - KEY_OVERHEAD} (Auroral keyBytesMax)`);
    }
  }

  checkValue(n: number): void {
    if (n > this.limits.valueBytesMax) throw new CommandError('ERR string exceeds maximum allowed size (proto-max-bulk-len)');
  }

  // ---- lookup ---------------------------------------------------------------------------

  /** The live entry of `id`; an expired one is deleted (lazy expiry) and its deletion logged. */
  get(id: string, now: number): Entry | undefined {
    const e = this.map.get(id);
    if (e === undefined) return undefined;
    if (e.exp !== 0 && e.exp <= now) {
      this.expire(id, e);
      return undefined;
    }
    return e;
  }

  /** As get(), but WRONGTYPE unless the entry is of type `t`. */
  getTyped<E extends Entry['t']>(id: string, now: number, t: E): Extract<Entry, { t: E }> | undefined {
    const e = this.get(id, now);
    if (e !== undefined && e.t !== t) throw new CommandError(WRONGTYPE);
    return e as Extract<Entry, { t: E }> | undefined;
  }

  /** Deletes an expired key: its deletion is logged, but does not make the command a write. */
  private expire(id: string, e: Entry): void {
    const written = this.fx.written;
    this.remove(id, e);
    this.fx.written = written;
    this.stats.expiredKeys++;
  }

  // ---- whole keys -----------------------------------------------------------------------

  touch(id: string): void {
    const w = this.watchers.get(id);
    if (w !== undefined) for (const c of w) c.dirty = true;
  }

  /** Removes a key and logs the deletion of every record of it. */
  remove(id: string, e: Entry): void {
    const fx = this.fx;
    fx.written = true;
    this.map.delete(id);
    switch (e.t) {
      case T.STRING: fx.del(akey(Tag.STRING, e.key), id); break;
      case T.HASH: for (const f of e.v.keys()) fx.del(akey(Tag.HASH, e.key, bytes(f)), id); break;
      case T.LIST: for (let i = 0; i < e.v.length; i++) fx.del(akey(Tag.LIST, e.key, f64(e.v.posAt(i))), id); break;
      case T.SET: for (const m of e.v) fx.del(akey(Tag.SET, e.key, bytes(m)), id); break;
      case T.ZSET: for (const m of e.v.scores.keys()) fx.del(akey(Tag.ZSET, e.key, bytes(m)), id); break;
    }
    // The TTL record last: effects too big for one MTR go in several, and a crash between them
    // must leave a collection that is still expiring, never one resurrected without its TTL.
    if (e.exp !== 0) {
      this.expires.delete(id);
      fx.del(akey(Tag.EXPIRE, e.key), id);
    }
    this.touch(id);
  }

  /** Sets the TTL (absolute ms; 0 removes it). */
  setExpire(id: string, e: Entry, at: number): void {
    this.fx.written = true;
    if (at === 0) {
      if (e.exp === 0) return;
      e.exp = 0;
      this.expires.delete(id);
      this.fx.del(akey(Tag.EXPIRE, e.key), id);
    } else {
      e.exp = at;
      this.expires.set(id, e);
      this.fx.put(akey(Tag.EXPIRE, e.key), f64(at), id);
    }
    this.touch(id);
  }

  // ---- strings --------------------------------------------------------------------------

  /**
   * Sets a string. `exp`: absolute ms, 0 for none, -1 to keep the current TTL (KEEPTTL). The
   * value is kept as given: the caller passes bytes it owns.
   */
  setString(id: string, key: Buffer, v: Buffer, exp: number, now: number): void {
    const old = this.get(id, now);
    if (old !== undefined && old.t !== T.STRING) {
      // Another type is replaced; KEEPTTL keeps its TTL all the same (as redis's dbOverwrite).
      if (exp === -1) exp = old.exp;
      this.remove(id, old);
    }
    const cur = this.map.get(id) as Extract<Entry, { t: 0 }> | undefined;
    this.fx.written = true;
    if (cur === undefined) {
      const e: Entry = { t: T.STRING, key: Buffer.from(key), exp: 0, v };
      this.map.set(id, e);
      this.fx.put(akey(Tag.STRING, e.key), v, id);
      if (exp > 0) this.setExpire(id, e, exp);
    } else {
      cur.v = v;
      this.fx.put(akey(Tag.STRING, cur.key), v, id);
      if (exp >= 0) this.setExpire(id, cur, exp);
    }
    this.touch(id);
  }

  // ---- collections ----------------------------------------------------------------------

  /** The entry of type t for `id`, created empty if missing (not stored until it has an element). */
  private create<E extends Entry['t']>(id: string, key: Buffer, t: E, now: number): Extract<Entry, { t: E }> {
    const e = this.getTyped(id, now, t);
    if (e !== undefined) return e;
    const k = Buffer.from(key);
    const v = t === T.HASH ? new Map() : t === T.LIST ? new PosDeque() : t === T.SET ? new Set() : new ZSet();
    const n = { t, key: k, exp: 0, v } as Extract<Entry, { t: E }>;
    this.map.set(id, n);
    return n;
  }

  /** After removing elements: an empty collection stops existing (and loses its TTL record). */
  private dropIfEmpty(id: string, e: Entry): void {
    const size = e.t === T.LIST ? e.v.length : e.t === T.STRING ? 1 : e.v.size;
    if (size > 0) return;
    this.map.delete(id);
    if (e.exp !== 0) {
      this.expires.delete(id);
      this.fx.del(akey(Tag.EXPIRE, e.key), id);
    }
  }

  hashFor(id: string, key: Buffer, now: number): Extract<Entry, { t: 1 }> {
    return this.create(id, key, T.HASH, now);
  }

  hset(id: string, e: Extract<Entry, { t: 1 }>, field: Buffer, v: Buffer): boolean {
    const f = latin1(field);
    const added = !e.v.has(f);
    e.v.set(f, v);
    this.fx.written = true;
    this.fx.put(akey(Tag.HASH, e.key, field), v, id);
    this.touch(id);
    return added;
  }

  hdel(id: string, e: Extract<Entry, { t: 1 }>, field: Buffer): boolean {
    const f = latin1(field);
    if (!e.v.delete(f)) return false;
    this.fx.written = true;
    this.fx.del(akey(Tag.HASH, e.key, field), id);
    this.dropIfEmpty(id, e);
    this.touch(id);
    return true;
  }

  listFor(id: string, key: Buffer, now: number): Extract<Entry, { t: 2 }> {
    return this.create(id, key, T.LIST, now);
  }

  push(id: string, e: Extract<Entry, { t: 2 }>, v: Buffer, left: boolean): void {
    const p = left ? e.v.nextLeft() : e.v.nextRight();
    if (left) e.v.pushLeft(p, v);
    else e.v.pushRight(p, v);
    this.fx.written = true;
    this.fx.put(akey(Tag.LIST, e.key, f64(p)), v, id);
    this.touch(id);
  }

  pop(id: string, e: Extract<Entry, { t: 2 }>, left: boolean): Buffer {
    const r = left ? e.v.popLeft() : e.v.popRight();
    this.fx.written = true;
    this.fx.del(akey(Tag.LIST, e.key, f64(r.p)), id);
    this.dropIfEmpty(id, e);
    this.touch(id);
    return r.v;
  }

  lset(id: string, e: Extract<Entry, { t: 2 }>, i: number, v: Buffer): void {
    e.v.setAt(i, v);
    this.fx.written = true;
    this.fx.put(akey(Tag.LIST, e.key, f64(e.v.posAt(i))), v, id);
    this.touch(id);
  }

  /** Keeps the elements for which keep(i) holds; logs the deletion of the others. */
  lfilter(id: string, e: Extract<Entry, { t: 2 }>, keep: (i: number) => boolean): number {
    const drop: number[] = [];
    const kept: boolean[] = [];
    for (let i = 0; i < e.v.length; i++) {
      const k = keep(i);
      kept.push(k);
      if (!k) drop.push(e.v.posAt(i));
    }
    if (drop.length === 0) return 0;
    e.v.filter((i) => kept[i]!);
    this.fx.written = true;
    for (const p of drop) this.fx.del(akey(Tag.LIST, e.key, f64(p)), id);
    this.dropIfEmpty(id, e);
    this.touch(id);
    return drop.length;
  }

  setFor(id: string, key: Buffer, now: number): Extract<Entry, { t: 3 }> {
    return this.create(id, key, T.SET, now);
  }

  sadd(id: string, e: Extract<Entry, { t: 3 }>, member: Buffer): boolean {
    const m = latin1(member);
    if (e.v.has(m)) return false;
    e.v.add(m);
    this.fx.written = true;
    this.fx.put(akey(Tag.SET, e.key, member), Effects.empty, id);
    this.touch(id);
    return true;
  }

  srem(id: string, e: Extract<Entry, { t: 3 }>, member: Buffer): boolean {
    const m = latin1(member);
    if (!e.v.delete(m)) return false;
    this.fx.written = true;
    this.fx.del(akey(Tag.SET, e.key, member), id);
    this.dropIfEmpty(id, e);
    this.touch(id);
    return true;
  }

  zsetFor(id: string, key: Buffer, now: number): Extract<Entry, { t: 4 }> {
    return this.create(id, key, T.ZSET, now);
  }

  zadd(id: string, e: Extract<Entry, { t: 4 }>, member: Buffer, score: number): void {
    e.v.set(latin1(member), score);
    this.fx.written = true;
    this.fx.put(akey(Tag.ZSET, e.key, member), f64(score), id);
    this.touch(id);
  }

  zrem(id: string, e: Extract<Entry, { t: 4 }>, member: Buffer): boolean {
    if (!e.v.delete(latin1(member))) return false;
    this.fx.written = true;
    this.fx.del(akey(Tag.ZSET, e.key, member), id);
    this.dropIfEmpty(id, e);
    this.touch(id);
    return true;
  }

  /** Drops an entry that create() made but that got no element (a command that added nothing). */
  discardIfEmpty(id: string, e: Entry): void {
    const size = e.t === T.LIST ? e.v.length : e.t === T.STRING ? 1 : e.v.size;
    if (size === 0 && this.map.get(id) === e) this.map.delete(id);
  }

  /** A deep copy of an entry under another key (COPY), logged as the records of the new key. */
  copyTo(id: string, key: Buffer, src: Entry): void {
    const k = Buffer.from(key);
    const fx = this.fx;
    fx.written = true;
    let e: Entry;
    switch (src.t) {
      case T.STRING:
        e = { t: T.STRING, key: k, exp: 0, v: src.v };
        fx.put(akey(Tag.STRING, k), src.v, id);
        break;
      case T.HASH:
        e = { t: T.HASH, key: k, exp: 0, v: new Map(src.v) };
        for (const [f, v] of src.v) fx.put(akey(Tag.HASH, k, bytes(f)), v, id);
        break;
      case T.LIST: {
        const d = new PosDeque();
        for (let i = 0; i < src.v.length; i++) {
          d.pushRight(src.v.posAt(i), src.v.at(i));
          fx.put(akey(Tag.LIST, k, f64(src.v.posAt(i))), src.v.at(i), id);
        }
        e = { t: T.LIST, key: k, exp: 0, v: d };
        break;
      }
      case T.SET:
        e = { t: T.SET, key: k, exp: 0, v: new Set(src.v) };
        for (const m of src.v) fx.put(akey(Tag.SET, k, bytes(m)), Effects.empty, id);
        break;
      case T.ZSET: {
        const pairs: [string, number][] = [...src.v.scores];
        e = { t: T.ZSET, key: k, exp: 0, v: ZSet.from(pairs) };
        for (const [m, s] of pairs) fx.put(akey(Tag.ZSET, k, bytes(m)), f64(s), id);
        break;
      }
    }
    this.map.set(id, e);
    if (src.exp !== 0) this.setExpire(id, e, src.exp);
    this.touch(id);
  }

  /** Removes everything (FLUSHALL); logs every record's deletion. */
  flush(): void {
    for (const [id, e] of [...this.map]) this.remove(id, e);
  }

  // ---- active expiry ----------------------------------------------------------------------

  /**
   * Looks at up to `budget` keys with a TTL, continuing where the last cycle stopped, and
   * deletes the expired ones (logged in fx). Returns how many it deleted.
   */
  activeExpire(now: number, budget: number): number {
    let n = 0;
    for (let i = 0; i < budget; i++) {
      if (this.expiryCursor === null) this.expiryCursor = this.expires.entries();
      const r = this.expiryCursor.next();
      if (r.done === true) {
        this.expiryCursor = null;
        if (i > 0 || this.expires.size === 0) break;
        continue;
      }
      const [id, e] = r.value;
      if (e.exp !== 0 && e.exp <= now && this.map.get(id) === e) {
        this.expire(id, e);
        n++;
      }
    }
    return n;
  }
}
