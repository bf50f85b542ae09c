// Generic key commands and expiry.
import { bigArg, ERR_SYNTAX, globMatch, intArg, upper } from './args.js';
import { cmd, scanStep, type Command, type Ctx } from './command.js';
import { CommandError, T, typeNames, type Entry } from './keyspace.js';
import { OK, Simple, type Reply } from './resp.js';

const id = (b: Buffer): string => b.toString('latin1');
const typeIds: Record<string, number> = { string: T.STRING, hash: T.HASH, list: T.LIST, set: T.SET, zset: T.ZSET };

/** SCAN-family options after the cursor: MATCH, COUNT (and TYPE for SCAN). */
export function scanArgs(a: Buffer[], from: number, allowType: boolean): { cursor: number; match: string | null; count: number; type: string | null } {
  const cs = a[from - 1]!.toString('latin1');
  if (!/^\d+$/.test(cs) || cs.length > 20) throw new CommandError('ERR invalid cursor');
  let match: string | null = null;
  let count = 10;
  let type: string | null = null;
  for (let j = from; j < a.length; j++) {
    const o = upper(a[j]!);
    const more = j + 1 < a.length;
    if (o === 'COUNT' && more) {
      count = intArg(a[++j]!);
      if (count < 1) throw new CommandError(ERR_SYNTAX);
    } else if (o === 'MATCH' && more) {
      match = a[++j]!.toString('latin1');
    } else if (o === 'TYPE' && more && allowType) {
      type = a[++j]!.toString('latin1').toLowerCase();
    } else throw new CommandError(ERR_SYNTAX);
  }
  return { cursor: Number(cs), match: match === '*' ? null : match, count: Math.min(count, 100_000), type };
}

function del(c: Ctx, a: Buffer[]): Reply {
  let n = 0;
  for (let i = 1; i < a.length; i++) {
    const e = c.ks.get(id(a[i]!), c.now);
    if (e !== undefined) {
      c.ks.remove(id(a[i]!), e);
      n++;
    }
  }
  return n;
}

function rename(c: Ctx, a: Buffer[], nx: boolean): Reply {
  const src = c.ks.get(id(a[1]!), c.now);
  if (src === undefined) throw new CommandError('ERR no such key');
  c.ks.checkKey(a[2]!);
  checkElements(c, a[2]!, src);
  if (id(a[1]!) === id(a[2]!)) return nx ? 0 : OK;
  const dst = c.ks.get(id(a[2]!), c.now);
  if (dst !== undefined) {
    if (nx) return 0;
    c.ks.remove(id(a[2]!), dst);
  }
  c.ks.copyTo(id(a[2]!), a[2]!, src);
  c.ks.remove(id(a[1]!), src);
  return nx ? 1 : OK;
}

/** A collection copied under another key must still fit the Auroral key limit per element. */
function checkElements(c: Ctx, key: Buffer, e: Entry): void {
  let longest = 0;
  if (e.t === T.HASH) for (const f of e.v.keys()) longest = Math.max(longest, f.length);
  else if (e.t === T.SET) for (const m of e.v) longest = Math.max(longest, m.length);
  else if (e.t === T.ZSET) for (const m of e.v.scores.keys()) longest = Math.max(longest, m.length);
  else if (e.t === T.LIST) longest = 8;
  c.ks.checkKey(key, longest);
}

/** EXPIRE and friends; `unitMs` 1000 or 1, `base` now or 0 (the AT forms). */
function expire(c: Ctx, a: Buffer[], unitMs: number, abs: boolean, name: string): Reply {
  let nx = false, xx = false, gt = false, lt = false;
  for (let j = 3; j < a.length; j++) {
    const o = upper(a[j]!);
    if (o === 'NX') nx = true;
    else if (o === 'XX') xx = true;
    else if (o === 'GT') gt = true;
    else if (o === 'LT') lt = true;
    else throw new CommandError(`ERR Unsupported option ${a[j]!.toString('latin1')}`);
  }
  if (nx && (xx || gt || lt)) throw new CommandError('ERR NX and XX, GT or LT options at the same time are not compatible');
  if (gt && lt) throw new CommandError('ERR GT and LT options at the same time are not compatible');
  let when = bigArg(a[2]!);
  const bad = `ERR invalid expire time in '${name}' command`;
  if (unitMs === 1000) {
    if (when > 9223372036854775807n / 1000n || when < -9223372036854775808n / 1000n) throw new CommandError(bad);
    when *= 1000n;
  }
  const base = abs ? 0n : BigInt(c.now);
  if (when > 9223372036854775807n - base) throw new CommandError(bad);
  when += base;
  const k = id(a[1]!);
  const e = c.ks.get(k, c.now);
  if (e === undefined) return 0;
  const cur = e.exp === 0 ? -1 : e.exp;
  if (nx && cur !== -1) return 0;
  if (xx && cur === -1) return 0;
  const w = Number(when);
  if (gt && (cur === -1 || w <= cur)) return 0;
  if (lt && cur !== -1 && w >= cur) return 0;
  if (w <= c.now) c.ks.remove(k, e); // already expired: deleted now
  else c.ks.setExpire(k, e, w);
  return 1;
}

function ttl(c: Ctx, k: Buffer, ms: boolean, abs: boolean): Reply {
  const e = c.ks.get(id(k), c.now);
  if (e === undefined) return -2;
  if (e.exp === 0) return -1;
  if (abs) return ms ? e.exp : Math.floor((e.exp + 500) / 1000);
  const left = Math.max(0, e.exp - c.now);
  return ms ? left : Math.floor((left + 500) / 1000);
}

export const keyCommands: Command[] = [
  cmd('del', -2, 'write', 1, -1, 1, del),
  cmd('unlink', -2, 'write fast', 1, -1, 1, del),
  cmd('exists', -2, 'readonly fast', 1, -1, 1, (c, a) => {
    let n = 0;
    for (let i = 1; i < a.length; i++) if (c.ks.get(id(a[i]!), c.now) !== undefined) n++;
    return n;
  }),
  cmd('type', 2, 'readonly fast', 1, 1, 1, (c, a) => {
    const e = c.ks.get(id(a[1]!), c.now);
    return new Simple(e === undefined ? 'none' : typeNames[e.t]);
  }),
  cmd('rename', 3, 'write', 1, 2, 1, (c, a) => rename(c, a, false)),
  cmd('renamenx', 3, 'write fast', 1, 2, 1, (c, a) => rename(c, a, true)),
  cmd('copy', -3, 'write denyoom', 1, 2, 1, (c, a) => {
    let replace = false;
    for (let j = 3; j < a.length; j++) {
      const o = upper(a[j]!);
      if (o === 'REPLACE') replace = true;
      else if (o === 'DB' && j + 1 < a.length) {
        if (intArg(a[++j]!) !== 0) throw new CommandError('ERR DB index is out of range');
      } else throw new CommandError(ERR_SYNTAX);
    }
    if (id(a[1]!) === id(a[2]!)) throw new CommandError('ERR source and destination objects are the same');
    const src = c.ks.get(id(a[1]!), c.now);
    if (src === undefined) return 0;
    c.ks.checkKey(a[2]!);
    checkElements(c, a[2]!, src);
    const dst = c.ks.get(id(a[2]!), c.now);
    if (dst !== undefined) {
      if (!replace) return 0;
      c.ks.remove(id(a[2]!), dst);
    }
    c.ks.copyTo(id(a[2]!), a[2]!, src);
    return 1;
  }),
  cmd('randomkey', 1, 'readonly', 0, 0, 0, (c) => {
    for (let tries = 0; tries < 100 && c.ks.map.size > 0; tries++) {
      let r = Math.floor(Math.random() * c.ks.map.size);
      for (const [k, e] of c.ks.map) {
        if (r-- > 0) continue;
        if (c.ks.get(k, c.now) !== undefined) return e.key;
        break;
      }
    }
    return null;
  }, true),
  cmd('keys', 2, 'readonly', 0, 0, 0, (c, a) => {
    const p = a[1]!.toString('latin1');
    const out: Reply[] = [];
    for (const [k, e] of [...c.ks.map]) {
      if ((p === '*' || globMatch(p, k)) && c.ks.get(k, c.now) !== undefined) out.push(e.key);
    }
    return out;
  }, true),
  cmd('scan', -2, 'readonly', 0, 0, 0, (c, a) => {
    const o = scanArgs(a, 2, true);
    const t = o.type === null ? -1 : typeIds[o.type] ?? -2;
    const out: Reply[] = [];
    const next = scanStep(c.srv, 'scan', o.cursor, o.count, () => c.ks.map.entries(), ([k, e]) => {
      if (c.ks.map.get(k) !== e || (e.exp !== 0 && e.exp <= c.now)) return;
      if (t !== -1 && e.t !== t) return;
      if (o.match === null || globMatch(o.match, k)) out.push(e.key);
    });
    return [String(next), out];
  }, true),
  cmd('dbsize', 1, 'readonly fast', 0, 0, 0, (c) => c.ks.map.size, true),
  cmd('flushdb', -1, 'write', 0, 0, 0, (c, a) => flush(c, a), true),
  cmd('flushall', -1, 'write', 0, 0, 0, (c, a) => flush(c, a), true),
  cmd('expire', -3, 'write fast', 1, 1, 1, (c, a) => expire(c, a, 1000, false, 'expire')),
  cmd('pexpire', -3, 'write fast', 1, 1, 1, (c, a) => expire(c, a, 1, false, 'pexpire')),
  cmd('expireat', -3, 'write fast', 1, 1, 1, (c, a) => expire(c, a, 1000, true, 'expireat')),
  cmd('pexpireat', -3, 'write fast', 1, 1, 1, (c, a) => expire(c, a, 1, true, 'pexpireat')),
  cmd('ttl', 2, 'readonly fast', 1, 1, 1, (c, a) => ttl(c, a[1]!, false, false)),
  cmd('pttl', 2, 'readonly fast', 1, 1, 1, (c, a) => ttl(c, a[1]!, true, false)),
  cmd('expiretime', 2, 'readonly fast', 1, 1, 1, (c, a) => ttl(c, a[1]!, false, true)),
  cmd('pexpiretime', 2, 'readonly fast', 1, 1, 1, (c, a) => ttl(c, a[1]!, true, true)),
  cmd('persist', 2, 'write fast', 1, 1, 1, (c, a) => {
    const e = c.ks.get(id(a[1]!), c.now);
    if (e === undefined || e.exp === 0) return 0;
    c.ks.setExpire(id(a[1]!), e, 0);
    return 1;
  }),
];

function flush(c: Ctx, a: Buffer[]): Reply {
  if (a.length > 2) throw new CommandError(ERR_SYNTAX);
  if (a.length === 2) {
    const o = upper(a[1]!);
    if (o !== 'ASYNC' && o !== 'SYNC') throw new CommandError(ERR_SYNTAX);
  }
  c.ks.flush();
  return OK;
}
