// Lists: one Auroral key per element, keyed by its position; pushes and pops touch only the
// elements they add or remove.
import { intArg } from './args.js';
import { cmd, type Command, type Ctx } from './command.js';
import { CommandError, T, type Entry } from './keyspace.js';
import { NullArray, OK, type Reply } from './resp.js';

const id = (b: Buffer): string => b.toString('latin1');

function list(c: Ctx, k: Buffer): Extract<Entry, { t: 2 }> | undefined {
  return c.ks.getTyped(id(k), c.now, T.LIST);
}

function push(c: Ctx, a: Buffer[], left: boolean, onlyIfExists: boolean): Reply {
  const k = a[1]!;
  c.ks.checkKey(k, 8);
  for (let i = 2; i < a.length; i++) c.ks.checkValue(a[i]!.length);
  if (onlyIfExists && list(c, k) === undefined) return 0;
  const e = c.ks.listFor(id(k), k, c.now);
  for (let i = 2; i < a.length; i++) c.ks.push(id(k), e, Buffer.from(a[i]!), left);
  return e.v.length;
}

function pop(c: Ctx, a: Buffer[], left: boolean): Reply {
  if (a.length > 3) throw new CommandError(`ERR wrong number of arguments for '${left ? 'lpop' : 'rpop'}' command`);
  let count = -1;
  if (a.length === 3) {
    count = intArg(a[2]!);
    if (count < 0) throw new CommandError('ERR value is out of range, must be positive');
  }
  const e = list(c, a[1]!);
  if (e === undefined) return count < 0 ? null : NullArray.it;
  if (count < 0) return c.ks.pop(id(a[1]!), e, left);
  const out: Reply[] = [];
  const n = Math.min(count, e.v.length);
  for (let i = 0; i < n; i++) out.push(c.ks.pop(id(a[1]!), e, left));
  return out;
}

/** redis index normalization for LRANGE/LTRIM: [start, end] inclusive, or null when empty. */
function range(len: number, start: number, end: number): [number, number] | null {
  if (start < 0) start = len + start;
  if (end < 0) end = len + end;
  if (start < 0) start = 0;
  if (start > end || start >= len) return null;
  if (end >= len) end = len - 1;
  return [start, end];
}

export const listCommands: Command[] = [
  cmd('lpush', -3, 'write denyoom fast', 1, 1, 1, (c, a) => push(c, a, true, false)),
  cmd('rpush', -3, 'write denyoom fast', 1, 1, 1, (c, a) => push(c, a, false, false)),
  cmd('lpushx', -3, 'write denyoom fast', 1, 1, 1, (c, a) => push(c, a, true, true)),
  cmd('rpushx', -3, 'write denyoom fast', 1, 1, 1, (c, a) => push(c, a, false, true)),
  cmd('lpop', -2, 'write fast', 1, 1, 1, (c, a) => pop(c, a, true)),
  cmd('rpop', -2, 'write fast', 1, 1, 1, (c, a) => pop(c, a, false)),
  cmd('llen', 2, 'readonly fast', 1, 1, 1, (c, a) => list(c, a[1]!)?.v.length ?? 0),
  cmd('lrange', 4, 'readonly', 1, 1, 1, (c, a) => {
    const start = intArg(a[2]!);
    const end = intArg(a[3]!);
    const e = list(c, a[1]!);
    if (e === undefined) return [];
    const r = range(e.v.length, start, end);
    const out: Reply[] = [];
    if (r !== null) for (let i = r[0]; i <= r[1]; i++) out.push(e.v.at(i));
    return out;
  }),
  cmd('lindex', 3, 'readonly', 1, 1, 1, (c, a) => {
    const e = list(c, a[1]!);
    const i0 = intArg(a[2]!);
    if (e === undefined) return null;
    const i = i0 < 0 ? e.v.length + i0 : i0;
    return i >= 0 && i < e.v.length ? e.v.at(i) : null;
  }),
  cmd('lset', 4, 'write denyoom', 1, 1, 1, (c, a) => {
    const e = list(c, a[1]!);
    if (e === undefined) throw new CommandError('ERR no such key');
    const i0 = intArg(a[2]!);
    c.ks.checkValue(a[3]!.length);
    const i = i0 < 0 ? e.v.length + i0 : i0;
    if (i < 0 || i >= e.v.length) throw new CommandError('ERR index out of range');
    c.ks.lset(id(a[1]!), e, i, Buffer.from(a[3]!));
    return OK;
  }),
  cmd('lrem', 4, 'write', 1, 1, 1, (c, a) => {
    let n = intArg(a[2]!);
    const e = list(c, a[1]!);
    if (e === undefined) return 0;
    const v = a[3]!;
    const len = e.v.length;
    const drop = new Set<number>();
    if (n < 0) {
      n = -n;
      for (let i = len - 1; i >= 0 && (n === 0 || drop.size < n); i--) if (e.v.at(i).equals(v)) drop.add(i);
    } else {
      for (let i = 0; i < len && (n === 0 || drop.size < n); i++) if (e.v.at(i).equals(v)) drop.add(i);
    }
    return c.ks.lfilter(id(a[1]!), e, (i) => !drop.has(i));
  }),
  cmd('ltrim', 4, 'write', 1, 1, 1, (c, a) => {
    const start = intArg(a[2]!);
    const end = intArg(a[3]!);
    const e = list(c, a[1]!);
    if (e === undefined) return OK;
    const r = range(e.v.length, start, end);
    if (r === null) c.ks.lfilter(id(a[1]!), e, () => false);
    else {
      // Pops from the ends: only removed elements are logged.
      const [s, t] = r;
      for (let i = e.v.length - 1; i > t; i--) c.ks.pop(id(a[1]!), e, false);
      for (let i = 0; i < s; i++) c.ks.pop(id(a[1]!), e, true);
    }
    return OK;
  }),
];
