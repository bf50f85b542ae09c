// Hashes: one Auroral key per field.
import { bigArg, inI64, parseI64 } from './args.js';
import { cmd, scanStep, type Command, type Ctx } from './command.js';
import { scanArgs } from './cmd-keys.js';
import { bytes, CommandError, T, type Entry } from './keyspace.js';
import { globMatch } from './args.js';
import { MapReply, OK, type Reply } from './resp.js';

const id = (b: Buffer): string => b.toString('latin1');
const own = (b: Buffer): Buffer => Buffer.from(b);

function hash(c: Ctx, k: Buffer): Extract<Entry, { t: 1 }> | undefined {
  return c.ks.getTyped(id(k), c.now, T.HASH);
}

function hset(c: Ctx, a: Buffer[], name: string): Reply {
  if (a.length % 2 !== 0) throw new CommandError(`ERR wrong number of arguments for '${name}' command`);
  const k = a[1]!;
  let longest = 0;
  for (let i = 2; i < a.length; i += 2) {
    longest = Math.max(longest, a[i]!.length);
    c.ks.checkValue(a[i + 1]!.length);
  }
  c.ks.checkKey(k, longest);
  const e = c.ks.hashFor(id(k), k, c.now);
  let added = 0;
  for (let i = 2; i < a.length; i += 2) if (c.ks.hset(id(k), e, a[i]!, own(a[i + 1]!))) added++;
  return name === 'hmset' ? OK : added;
}

export const hashCommands: Command[] = [
  cmd('hset', -4, 'write denyoom fast', 1, 1, 1, (c, a) => hset(c, a, 'hset')),
  cmd('hmset', -4, 'write denyoom fast', 1, 1, 1, (c, a) => hset(c, a, 'hmset')),
  cmd('hsetnx', 4, 'write denyoom fast', 1, 1, 1, (c, a) => {
    c.ks.checkKey(a[1]!, a[2]!.length);
    c.ks.checkValue(a[3]!.length);
    const cur = hash(c, a[1]!);
    if (cur !== undefined && cur.v.has(id(a[2]!))) return 0;
    const e = c.ks.hashFor(id(a[1]!), a[1]!, c.now);
    c.ks.hset(id(a[1]!), e, a[2]!, own(a[3]!));
    return 1;
  }),
  cmd('hget', 3, 'readonly fast', 1, 1, 1, (c, a) => hash(c, a[1]!)?.v.get(id(a[2]!)) ?? null),
  cmd('hmget', -3, 'readonly fast', 1, 1, 1, (c, a) => {
    const e = hash(c, a[1]!);
    const out: Reply[] = [];
    for (let i = 2; i < a.length; i++) out.push(e?.v.get(id(a[i]!)) ?? null);
    return out;
  }),
  cmd('hdel', -3, 'write fast', 1, 1, 1, (c, a) => {
    const e = hash(c, a[1]!);
    if (e === undefined) return 0;
    let n = 0;
    for (let i = 2; i < a.length; i++) if (c.ks.map.get(id(a[1]!)) === e && c.ks.hdel(id(a[1]!), e, a[i]!)) n++;
    return n;
  }),
  cmd('hgetall', 2, 'readonly', 1, 1, 1, (c, a) => {
    const e = hash(c, a[1]!);
    const flat: Reply[] = [];
    if (e !== undefined) for (const [f, v] of e.v) flat.push(bytes(f), v);
    return new MapReply(flat);
  }),
  cmd('hkeys', 2, 'readonly', 1, 1, 1, (c, a) => [...(hash(c, a[1]!)?.v.keys() ?? [])].map(bytes)),
  cmd('hvals', 2, 'readonly', 1, 1, 1, (c, a) => [...(hash(c, a[1]!)?.v.values() ?? [])]),
  cmd('hlen', 2, 'readonly fast', 1, 1, 1, (c, a) => hash(c, a[1]!)?.v.size ?? 0),
  cmd('hstrlen', 3, 'readonly fast', 1, 1, 1, (c, a) => hash(c, a[1]!)?.v.get(id(a[2]!))?.length ?? 0),
  cmd('hexists', 3, 'readonly fast', 1, 1, 1, (c, a) => (hash(c, a[1]!)?.v.has(id(a[2]!)) === true ? 1 : 0)),
  cmd('hincrby', 4, 'write denyoom fast', 1, 1, 1, (c, a) => {
    const by = bigArg(a[3]!);
    c.ks.checkKey(a[1]!, a[2]!.length);
    const cur = hash(c, a[1]!)?.v.get(id(a[2]!));
    let v = 0n;
    if (cur !== undefined) {
      const p = parseI64(cur);
      if (p === null) throw new CommandError('ERR hash value is not an integer');
      v = p;
    }
    const r = v + by;
    if (!inI64(r)) throw new CommandError('ERR increment or decrement would overflow');
    const e = c.ks.hashFor(id(a[1]!), a[1]!, c.now);
    c.ks.hset(id(a[1]!), e, a[2]!, Buffer.from(r.toString()));
    return r >= -9007199254740991n && r <= 9007199254740991n ? Number(r) : r;
  }),
  cmd('hscan', -3, 'readonly', 1, 1, 1, (c, a) => {
    const o = scanArgs(a, 3, false);
    const e = hash(c, a[1]!);
    if (e === undefined) return ['0', []];
    const out: Reply[] = [];
    const next = scanStep(c.srv, `h:${id(a[1]!)}`, o.cursor, o.count, () => e.v.entries(), ([f, v]) => {
      if (o.match === null || globMatch(o.match, f)) out.push(bytes(f), v);
    });
    return [String(next), out];
  }),
];
