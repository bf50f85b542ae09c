// Sorted sets: one Auroral key per member, its score the value.
import { ERR_SYNTAX, floatArg, globMatch, intArg, parseFloatStrict, upper } from './args.js';
import { cmd, scanStep, type Command, type Ctx } from './command.js';
import { scanArgs } from './cmd-keys.js';
import { bytes, CommandError, T, type Entry } from './keyspace.js';
import { DoubleReply, formatDouble17g, type Reply } from './resp.js';

const id = (b: Buffer): string => b.toString('latin1');

function zset(c: Ctx, k: Buffer): Extract<Entry, { t: 4 }> | undefined {
  return c.ks.getTyped(id(k), c.now, T.ZSET);
}

function zadd(c: Ctx, a: Buffer[], forceIncr: boolean): Reply {
  let nx = false, xx = false, gt = false, lt = false, ch = false, incr = forceIncr;
  let i = 2;
  if (!forceIncr) {
    for (; i < a.length; i++) {
      const o = upper(a[i]!);
      if (o === 'NX') nx = true;
      else if (o === 'XX') xx = true;
      else if (o === 'GT') gt = true;
      else if (o === 'LT') lt = true;
      else if (o === 'CH') ch = true;
      else if (o === 'INCR') incr = true;
      else break;
    }
  }
  const elements = a.length - i;
  if (elements % 2 !== 0 || elements === 0) throw new CommandError(ERR_SYNTAX);
  if (incr && elements > 2) throw new CommandError('ERR INCR option supports a single increment-element pair');
  if (nx && xx) throw new CommandError('ERR XX and NX options at the same time are not compatible');
  if ((gt && nx) || (lt && nx) || (gt && lt)) throw new CommandError('ERR GT, LT, and/or NX options at the same time are not compatible');
  const pairs: [number, Buffer][] = [];
  let longest = 0;
  for (let j = i; j < a.length; j += 2) {
    pairs.push([floatArg(a[j]!), a[j + 1]!]);
    longest = Math.max(longest, a[j + 1]!.length);
  }
  const k = a[1]!;
  c.ks.checkKey(k, longest);
  const cur = zset(c, k);
  if (cur === undefined && xx) return incr ? null : 0;
  // Validate every outcome before changing anything (INCR to NaN fails the command).
  let added = 0, updated = 0, processed = false;
  let result = 0;
  const plan: [Buffer, number][] = [];
  const planned = new Map<string, number>(); // a member named twice sees its first outcome
  for (const [score0, m] of pairs) {
    const old = planned.get(id(m)) ?? cur?.v.scores.get(id(m));
    let score = score0;
    if (old !== undefined) {
      if (nx) continue;
      if (incr) {
        score = old + score0;
        if (Number.isNaN(score)) throw new CommandError('ERR resulting score is not a number (NaN)');
      }
      if ((lt && score >= old) || (gt && score <= old)) continue;
      processed = true;
      result = score;
      if (score !== old) {
        plan.push([m, score]);
        planned.set(id(m), score);
        updated++;
      }
    } else {
      if (xx) continue;
      processed = true;
      result = score;
      plan.push([m, score]);
      planned.set(id(m), score);
      added++;
    }
  }
  if (plan.length > 0) {
    const e = c.ks.zsetFor(id(k), k, c.now);
    for (const [m, s] of plan) c.ks.zadd(id(k), e, m, s);
  }
  if (incr) return processed ? new DoubleReply(result) : null;
  return ch ? added + updated : added;
}

interface ScoreBound { v: number; ex: boolean }

function bound(b: Buffer): ScoreBound {
  const s = b.toString('latin1');
  const ex = s.startsWith('(');
  const v = parseFloatStrict(ex ? b.subarray(1) : b);
  if (v === null || Number.isNaN(v)) throw new CommandError('ERR min or max is not a float');
  return { v, ex };
}

function withScores(c: Ctx, e: Extract<Entry, { t: 4 }>, members: string[], scores: boolean): Reply {
  if (!scores) return members.map(bytes);
  if (c.client.proto === 3) return members.map((m) => [bytes(m), new DoubleReply(e.v.scores.get(m)!)]);
  const out: Reply[] = [];
  for (const m of members) out.push(bytes(m), new DoubleReply(e.v.scores.get(m)!));
  return out;
}

/** ZRANGE and its older forms: by rank or by score, forward or reversed, with LIMIT. */
function zrange(c: Ctx, k: Buffer, startB: Buffer, stopB: Buffer, byScore: boolean, rev: boolean, withS: boolean, limit: [number, number] | null): Reply {
  if (!byScore) {
    const start0 = intArg(startB);
    const stop0 = intArg(stopB);
    const e = zset(c, k);
    if (e === undefined) return [];
    const n = e.v.size;
    let start = start0 < 0 ? n + start0 : start0;
    let end = stop0 < 0 ? n + stop0 : stop0;
    if (start < 0) start = 0;
    if (start > end || start >= n) return [];
    if (end >= n) end = n - 1;
    const ms: string[] = [];
    for (let i = start; i <= end; i++) ms.push(e.v.order[rev ? n - 1 - i : i]!);
    return withScores(c, e, ms, withS);
  }
  // REV takes max first.
  const min = bound(rev ? stopB : startB);
  const max = bound(rev ? startB : stopB);
  const e = zset(c, k);
  if (e === undefined) return [];
  const from = e.v.firstAtLeast(min.v, min.ex);
  const to = e.v.endAtMost(max.v, max.ex);
  let offset = limit?.[0] ?? 0;
  let count = limit?.[1] ?? -1;
  const ms: string[] = [];
  if (offset < 0) return [];
  if (rev) {
    for (let i = to - 1; i >= from && count !== 0; i--) {
      if (offset > 0) { offset--; continue; }
      ms.push(e.v.order[i]!);
      if (count > 0) count--;
    }
  } else {
    for (let i = from; i < to && count !== 0; i++) {
      if (offset > 0) { offset--; continue; }
      ms.push(e.v.order[i]!);
      if (count > 0) count--;
    }
  }
  return withScores(c, e, ms, withS);
}

/** Options after min/max: WITHSCORES, LIMIT (and BYSCORE/REV/BYLEX for ZRANGE). */
function rangeOpts(a: Buffer[], from: number, generic: boolean): { withS: boolean; limit: [number, number] | null; byScore: boolean; rev: boolean } {
  let withS = false, byScore = false, byLex = false, rev = false;
  let limit: [number, number] | null = null;
  for (let j = from; j < a.length; j++) {
    const o = upper(a[j]!);
    if (o === 'WITHSCORES') withS = true;
    else if (o === 'LIMIT' && j + 2 < a.length) {
      limit = [intArg(a[j + 1]!), intArg(a[j + 2]!)];
      j += 2;
    } else if (generic && o === 'BYSCORE') byScore = true;
    else if (generic && o === 'BYLEX') byLex = true;
    else if (generic && o === 'REV') rev = true;
    else throw new CommandError(ERR_SYNTAX);
  }
  if (byLex) throw new CommandError('ERR BYLEX is not supported by this server');
  if (generic && limit !== null && limit[1] !== -1 && !byScore) throw new CommandError('ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX');
  return { withS, limit, byScore, rev };
}

export const zsetCommands: Command[] = [
  cmd('zadd', -4, 'write denyoom fast', 1, 1, 1, (c, a) => zadd(c, a, false)),
  cmd('zincrby', 4, 'write denyoom fast', 1, 1, 1, (c, a) => zadd(c, a, true)),
  cmd('zrem', -3, 'write fast', 1, 1, 1, (c, a) => {
    const e = zset(c, a[1]!);
    if (e === undefined) return 0;
    let n = 0;
    for (let i = 2; i < a.length && c.ks.map.get(id(a[1]!)) === e; i++) if (c.ks.zrem(id(a[1]!), e, a[i]!)) n++;
    return n;
  }),
  cmd('zscore', 3, 'readonly fast', 1, 1, 1, (c, a) => {
    const s = zset(c, a[1]!)?.v.scores.get(id(a[2]!));
    return s === undefined ? null : new DoubleReply(s);
  }),
  cmd('zmscore', -3, 'readonly fast', 1, 1, 1, (c, a) => {
    const e = zset(c, a[1]!);
    return a.slice(2).map((m) => {
      const s = e?.v.scores.get(id(m));
      return s === undefined ? null : new DoubleReply(s);
    });
  }),
  cmd('zcard', 2, 'readonly fast', 1, 1, 1, (c, a) => zset(c, a[1]!)?.v.size ?? 0),
  cmd('zrank', 3, 'readonly fast', 1, 1, 1, (c, a) => {
    const r = zset(c, a[1]!)?.v.rank(id(a[2]!)) ?? -1;
    return r < 0 ? null : r;
  }),
  cmd('zrevrank', 3, 'readonly fast', 1, 1, 1, (c, a) => {
    const e = zset(c, a[1]!);
    const r = e?.v.rank(id(a[2]!)) ?? -1;
    return r < 0 ? null : e!.v.size - 1 - r;
  }),
  cmd('zcount', 4, 'readonly fast', 1, 1, 1, (c, a) => {
    const min = bound(a[2]!);
    const max = bound(a[3]!);
    const e = zset(c, a[1]!);
    if (e === undefined) return 0;
    return Math.max(0, e.v.endAtMost(max.v, max.ex) - e.v.firstAtLeast(min.v, min.ex));
  }),
  cmd('zrange', -4, 'readonly', 1, 1, 1, (c, a) => {
    const o = rangeOpts(a, 4, true);
    return zrange(c, a[1]!, a[2]!, a[3]!, o.byScore, o.rev, o.withS, o.limit);
  }),
  cmd('zrevrange', -4, 'readonly', 1, 1, 1, (c, a) => {
    if (a.length > 5 || (a.length === 5 && upper(a[4]!) !== 'WITHSCORES')) throw new CommandError(ERR_SYNTAX);
    return zrange(c, a[1]!, a[2]!, a[3]!, false, true, a.length === 5, null);
  }),
  cmd('zrangebyscore', -4, 'readonly', 1, 1, 1, (c, a) => {
    const o = rangeOpts(a, 4, false);
    return zrange(c, a[1]!, a[2]!, a[3]!, true, false, o.withS, o.limit);
  }),
  cmd('zrevrangebyscore', -4, 'readonly', 1, 1, 1, (c, a) => {
    const o = rangeOpts(a, 4, false);
    return zrange(c, a[1]!, a[2]!, a[3]!, true, true, o.withS, o.limit);
  }),
  cmd('zscan', -3, 'readonly', 1, 1, 1, (c, a) => {
    const o = scanArgs(a, 3, false);
    const e = zset(c, a[1]!);
    if (e === undefined) return ['0', []];
    const out: Reply[] = [];
    const next = scanStep(c.srv, `z:${id(a[1]!)}`, o.cursor, o.count, () => e.v.scores.entries(), ([m, s]) => {
      if (o.match === null || globMatch(o.match, m)) out.push(bytes(m), Buffer.from(formatDouble17g(s)));
    });
    return [String(next), out];
  }),
];
