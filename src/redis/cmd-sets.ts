// Sets: one Auroral key per member. SPOP and SRANDMEMBER choose at random; SPOP logs the member
// it removed (the outcome), never the choice.
import { globMatch, intArg } from './args.js';
import { cmd, scanStep, type Command, type Ctx } from './command.js';
import { scanArgs } from './cmd-keys.js';
import { bytes, CommandError, T, type Entry } from './keyspace.js';
import { SetReply, type Reply } from './resp.js';

const id = (b: Buffer): string => b.toString('latin1');

function set(c: Ctx, k: Buffer): Extract<Entry, { t: 3 }> | undefined {
  return c.ks.getTyped(id(k), c.now, T.SET);
}

/** `n` distinct random members (all of them if n >= size). */
function sample(s: Set<string>, n: number): string[] {
  const all = [...s];
  if (n >= all.length) return all;
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(Math.random() * (all.length - i));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, n);
}

export const setCommands: Command[] = [
  cmd('sadd', -3, 'write denyoom fast', 1, 1, 1, (c, a) => {
    let longest = 0;
    for (let i = 2; i < a.length; i++) longest = Math.max(longest, a[i]!.length);
    c.ks.checkKey(a[1]!, longest);
    const e = c.ks.setFor(id(a[1]!), a[1]!, c.now);
    let n = 0;
    for (let i = 2; i < a.length; i++) if (c.ks.sadd(id(a[1]!), e, a[i]!)) n++;
    return n;
  }),
  cmd('srem', -3, 'write fast', 1, 1, 1, (c, a) => {
    const e = set(c, a[1]!);
    if (e === undefined) return 0;
    let n = 0;
    for (let i = 2; i < a.length && c.ks.map.get(id(a[1]!)) === e; i++) if (c.ks.srem(id(a[1]!), e, a[i]!)) n++;
    return n;
  }),
  cmd('smembers', 2, 'readonly', 1, 1, 1, (c, a) => new SetReply([...(set(c, a[1]!)?.v ?? [])].map(bytes))),
  cmd('sismember', 3, 'readonly fast', 1, 1, 1, (c, a) => (set(c, a[1]!)?.v.has(id(a[2]!)) === true ? 1 : 0)),
  cmd('smismember', -3, 'readonly fast', 1, 1, 1, (c, a) => {
    const e = set(c, a[1]!);
    return a.slice(2).map((m) => (e?.v.has(id(m)) === true ? 1 : 0));
  }),
  cmd('scard', 2, 'readonly fast', 1, 1, 1, (c, a) => set(c, a[1]!)?.v.size ?? 0),
  cmd('spop', -2, 'write fast', 1, 1, 1, (c, a) => {
    if (a.length > 3) throw new CommandError(ERR_SYNTAX_SPOP);
    let count = -1;
    if (a.length === 3) {
      count = intArg(a[2]!, 'ERR value is out of range, must be positive');
      if (count < 0) throw new CommandError('ERR value is out of range, must be positive');
    }
    const e = set(c, a[1]!);
    if (e === undefined) return count < 0 ? null : new SetReply([]);
    const picked = sample(e.v, count < 0 ? 1 : count);
    for (const m of picked) c.ks.srem(id(a[1]!), e, bytes(m));
    return count < 0 ? bytes(picked[0]!) : new SetReply(picked.map(bytes));
  }),
  cmd('srandmember', -2, 'readonly', 1, 1, 1, (c, a) => {
    if (a.length > 3) throw new CommandError(ERR_SYNTAX_SPOP);
    let count: number | null = null;
    if (a.length === 3) {
      count = intArg(a[2]!);
      if (count < -Number.MAX_SAFE_INTEGER || count > Number.MAX_SAFE_INTEGER) throw new CommandError('ERR value is out of range');
    }
    const e = set(c, a[1]!);
    if (e === undefined) return count === null ? null : [];
    if (count === null) return bytes(sample(e.v, 1)[0]!);
    if (count >= 0) return sample(e.v, count).map(bytes);
    // Negative: -count members, repeats allowed.
    if (-count > 10_000_000) throw new CommandError('ERR value is out of range');
    const all = [...e.v];
    const out: Reply[] = [];
    for (let i = 0; i < -count; i++) out.push(bytes(all[Math.floor(Math.random() * all.length)]!));
    return out;
  }),
  cmd('sscan', -3, 'readonly', 1, 1, 1, (c, a) => {
    const o = scanArgs(a, 3, false);
    const e = set(c, a[1]!);
    if (e === undefined) return ['0', []];
    const out: Reply[] = [];
    const next = scanStep(c.srv, `s:${id(a[1]!)}`, o.cursor, o.count, () => e.v.values(), (m) => {
      if (o.match === null || globMatch(o.match, m)) out.push(bytes(m));
    });
    return [String(next), out];
  }),
];

const ERR_SYNTAX_SPOP = 'ERR syntax error';
