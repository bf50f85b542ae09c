// Strings: GET/SET and friends, counters, ranges.
import { bigArg, ERR_INT, ERR_SYNTAX, intArg, inI64, parseI64, upper } from './args.js';
import { addLD, formatLD, parseLD } from './long-double.js';
import { cmd, type Command, type Ctx } from './command.js';
import { CommandError, T, type Entry } from './keyspace.js';
import { OK, type Reply } from './resp.js';

const id = (b: Buffer): string => b.toString('latin1');
const own = (b: Buffer): Buffer => Buffer.from(b);

function getString(c: Ctx, k: Buffer): Extract<Entry, { t: 0 }> | undefined {
  return c.ks.getTyped(id(k), c.now, T.STRING);
}

const F = { NX: 1, XX: 2, GET: 4, KEEPTTL: 8, PERSIST: 16, EX: 32, PX: 64, EXAT: 128, PXAT: 256 } as const;
const TTL_FLAGS = F.EX | F.PX | F.EXAT | F.PXAT;

/** SET/GETEX options as redis parses them (parseExtendedStringArgumentsOrReply). */
function parseExtended(a: Buffer[], from: number, isSet: boolean): { flags: number; expire: Buffer | null } {
  let flags = 0;
  let expire: Buffer | null = null;
  for (let j = from; j < a.length; j++) {
    const o = upper(a[j]!);
    const hasNext = j < a.length - 1;
    if (o === 'NX' && isSet && !(flags & F.XX)) flags |= F.NX;
    else if (o === 'XX' && isSet && !(flags & F.NX)) flags |= F.XX;
    else if (o === 'GET' && isSet) flags |= F.GET;
    else if (o === 'KEEPTTL' && isSet && !(flags & (F.PERSIST | TTL_FLAGS))) flags |= F.KEEPTTL;
    else if (o === 'PERSIST' && !isSet && !(flags & (TTL_FLAGS | F.KEEPTTL))) flags |= F.PERSIST;
    else if ((o === 'EX' || o === 'PX' || o === 'EXAT' || o === 'PXAT') && hasNext && !(flags & (F.KEEPTTL | F.PERSIST | TTL_FLAGS))) {
      flags |= F[o];
      expire = a[++j]!;
    } else throw new CommandError(ERR_SYNTAX);
  }
  return { flags, expire };
}

/** The absolute expiry in ms, as redis's getExpireMillisecondsOrReply. */
function expireMs(c: Ctx, flags: number, b: Buffer, name: string): number {
  const v = bigArg(b);
  const bad = `ERR invalid expire time in '${name}' command`;
  const seconds = (flags & (F.EX | F.EXAT)) !== 0;
  if (v <= 0n || (seconds && v > 9223372036854775807n / 1000n)) throw new CommandError(bad);
  let ms = seconds ? v * 1000n : v;
  if (flags & (F.EX | F.PX)) ms += BigInt(c.now);
  if (!inI64(ms)) throw new CommandError(bad);
  return Number(ms);
}

function set(c: Ctx, a: Buffer[]): Reply {
  const { flags, expire } = parseExtended(a, 3, true);
  const at = expire === null ? 0 : expireMs(c, flags, expire, 'set');
  const k = a[1]!;
  c.ks.checkKey(k);
  c.ks.checkValue(a[2]!.length);
  const kid = id(k);
  const cur = c.ks.get(kid, c.now);
  let old: Reply = null;
  if (flags & F.GET) {
    if (cur !== undefined && cur.t !== T.STRING) throw new CommandError('WRONGTYPE Operation against a key holding the wrong kind of value');
    old = cur === undefined ? null : cur.v;
  }
  if ((flags & F.NX && cur !== undefined) || (flags & F.XX && cur === undefined)) return old;
  c.ks.setString(kid, k, own(a[2]!), flags & F.KEEPTTL ? -1 : at, c.now);
  return flags & F.GET ? old : OK;
}

function setWithTtl(c: Ctx, k: Buffer, v: Buffer, ttl: Buffer, ms: boolean, name: string): Reply {
  const t = bigArg(ttl);
  const bad = `ERR invalid expire time in '${name}' command`;
  if (t <= 0n || (!ms && t > 9223372036854775807n / 1000n)) throw new CommandError(bad);
  const at = (ms ? t : t * 1000n) + BigInt(c.now);
  if (!inI64(at)) throw new CommandError(bad);
  c.ks.checkKey(k);
  c.ks.checkValue(v.length);
  c.ks.setString(id(k), k, own(v), Number(at), c.now);
  return OK;
}

/** Integer value of a string key (0 if missing), as INCR reads it. */
function counter(c: Ctx, k: Buffer): bigint {
  const e = getString(c, k);
  if (e === undefined) return 0n;
  const v = parseI64(e.v);
  if (v === null) throw new CommandError(ERR_INT);
  return v;
}

function incrBy(c: Ctx, k: Buffer, by: bigint): Reply {
  c.ks.checkKey(k);
  const v = counter(c, k) + by;
  if (!inI64(v)) throw new CommandError('ERR increment or decrement would overflow');
  c.ks.setString(id(k), k, Buffer.from(v.toString()), -1, c.now);
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
}

function getrange(s: Buffer, start: number, end: number): Buffer {
  const n = s.length;
  if (start < 0 && end < 0 && start > end) return Buffer.alloc(0);
  if (start < 0) start = n + start;
  if (end < 0) end = n + end;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= n) end = n - 1;
  if (start > end || n === 0) return Buffer.alloc(0);
  return s.subarray(start, end + 1);
}

export const stringCommands: Command[] = [
  cmd('get', 2, 'readonly fast', 1, 1, 1, (c, a) => getString(c, a[1]!)?.v ?? null),
  cmd('set', -3, 'write denyoom', 1, 1, 1, set),
  cmd('setnx', 3, 'write denyoom fast', 1, 1, 1, (c, a) => {
    c.ks.checkKey(a[1]!);
    c.ks.checkValue(a[2]!.length);
    if (c.ks.get(id(a[1]!), c.now) !== undefined) return 0;
    c.ks.setString(id(a[1]!), a[1]!, own(a[2]!), 0, c.now);
    return 1;
  }),
  cmd('setex', 4, 'write denyoom', 1, 1, 1, (c, a) => setWithTtl(c, a[1]!, a[3]!, a[2]!, false, 'setex')),
  cmd('psetex', 4, 'write denyoom', 1, 1, 1, (c, a) => setWithTtl(c, a[1]!, a[3]!, a[2]!, true, 'psetex')),
  cmd('getset', 3, 'write denyoom fast', 1, 1, 1, (c, a) => {
    c.ks.checkKey(a[1]!);
    c.ks.checkValue(a[2]!.length);
    const old = getString(c, a[1]!)?.v ?? null;
    c.ks.setString(id(a[1]!), a[1]!, own(a[2]!), 0, c.now);
    return old;
  }),
  cmd('getdel', 2, 'write fast', 1, 1, 1, (c, a) => {
    const e = getString(c, a[1]!);
    if (e === undefined) return null;
    c.ks.remove(id(a[1]!), e);
    return e.v;
  }),
  cmd('getex', -2, 'write fast', 1, 1, 1, (c, a) => {
    const { flags, expire } = parseExtended(a, 2, false);
    const at = expire === null ? 0 : expireMs(c, flags, expire, 'getex');
    const e = getString(c, a[1]!);
    if (e === undefined) return null;
    if (expire !== null) c.ks.setExpire(id(a[1]!), e, at);
    else if (flags & F.PERSIST && e.exp !== 0) c.ks.setExpire(id(a[1]!), e, 0);
    return e.v;
  }),
  cmd('mget', -2, 'readonly fast', 1, -1, 1, (c, a) => {
    const out: Reply[] = [];
    for (let i = 1; i < a.length; i++) {
      const e = c.ks.get(id(a[i]!), c.now);
      out.push(e !== undefined && e.t === T.STRING ? e.v : null);
    }
    return out;
  }),
  cmd('mset', -3, 'write denyoom', 1, -1, 2, (c, a) => {
    if (a.length % 2 !== 1) throw new CommandError("ERR wrong number of arguments for 'mset' command");
    for (let i = 1; i < a.length; i += 2) {
      c.ks.checkKey(a[i]!);
      c.ks.checkValue(a[i + 1]!.length);
    }
    for (let i = 1; i < a.length; i += 2) c.ks.setString(id(a[i]!), a[i]!, own(a[i + 1]!), 0, c.now);
    return OK;
  }),
  cmd('msetnx', -3, 'write denyoom', 1, -1, 2, (c, a) => {
    if (a.length % 2 !== 1) throw new CommandError("ERR wrong number of arguments for 'msetnx' command");
    for (let i = 1; i < a.length; i += 2) {
      c.ks.checkKey(a[i]!);
      c.ks.checkValue(a[i + 1]!.length);
    }
    for (let i = 1; i < a.length; i += 2) if (c.ks.get(id(a[i]!), c.now) !== undefined) return 0;
    for (let i = 1; i < a.length; i += 2) c.ks.setString(id(a[i]!), a[i]!, own(a[i + 1]!), 0, c.now);
    return 1;
  }),
  cmd('append', 3, 'write denyoom fast', 1, 1, 1, (c, a) => {
    c.ks.checkKey(a[1]!);
    const e = getString(c, a[1]!);
    const v = e === undefined ? own(a[2]!) : Buffer.concat([e.v, a[2]!]);
    c.ks.checkValue(v.length);
    c.ks.setString(id(a[1]!), a[1]!, v, -1, c.now);
    return v.length;
  }),
  cmd('strlen', 2, 'readonly fast', 1, 1, 1, (c, a) => getString(c, a[1]!)?.v.length ?? 0),
  cmd('getrange', 4, 'readonly', 1, 1, 1, (c, a) => {
    const start = intArg(a[2]!);
    const end = intArg(a[3]!);
    const e = getString(c, a[1]!);
    return e === undefined ? Buffer.alloc(0) : getrange(e.v, start, end);
  }),
  cmd('setrange', 4, 'write denyoom', 1, 1, 1, (c, a) => {
    const off = intArg(a[2]!);
    if (off < 0) throw new CommandError('ERR offset is out of range');
    const v = a[3]!;
    const e = getString(c, a[1]!);
    if (e === undefined && v.length === 0) return 0;
    if (v.length === 0) return e!.v.length;
    c.ks.checkKey(a[1]!);
    if (off + v.length > 512 * 1024 * 1024) throw new CommandError('ERR string exceeds maximum allowed size (proto-max-bulk-len)');
    c.ks.checkValue(off + v.length);
    const cur = e?.v ?? Buffer.alloc(0);
    const out = Buffer.alloc(Math.max(cur.length, off + v.length));
    cur.copy(out);
    v.copy(out, off);
    c.ks.setString(id(a[1]!), a[1]!, out, -1, c.now);
    return out.length;
  }),
  cmd('incr', 2, 'write denyoom fast', 1, 1, 1, (c, a) => incrBy(c, a[1]!, 1n)),
  cmd('decr', 2, 'write denyoom fast', 1, 1, 1, (c, a) => incrBy(c, a[1]!, -1n)),
  cmd('incrby', 3, 'write denyoom fast', 1, 1, 1, (c, a) => incrBy(c, a[1]!, bigArg(a[2]!))),
  cmd('decrby', 3, 'write denyoom fast', 1, 1, 1, (c, a) => {
    const by = bigArg(a[2]!);
    if (by === -9223372036854775808n) throw new CommandError('ERR decrement would overflow');
    return incrBy(c, a[1]!, -by);
  }),
  cmd('incrbyfloat', 3, 'write denyoom fast', 1, 1, 1, (c, a) => {
    // As redis: the key's type and value first, then the increment; long double arithmetic.
    const e = getString(c, a[1]!);
    const cur = e === undefined ? { neg: false, m: 0n, e: 0 } : parseLD(e.v.toString('latin1'));
    if (cur === null) throw new CommandError('ERR value is not a valid float');
    const by = parseLD(a[2]!.toString('latin1'));
    if (by === null) throw new CommandError('ERR value is not a valid float');
    const r = typeof cur === 'string' || typeof by === 'string' ? null : addLD(cur, by);
    if (r === null) throw new CommandError('ERR increment would produce NaN or Infinity');
    c.ks.checkKey(a[1]!);
    // The outcome is logged (the value), not the increment.
    const out = Buffer.from(formatLD(r));
    c.ks.setString(id(a[1]!), a[1]!, out, -1, c.now);
    return out;
  }),
];
