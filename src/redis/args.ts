// Argument parsing as redis does it (string2ll, strtod), with redis's error wording.
import { CommandError } from './keyspace.js';

export const ERR_INT = 'ERR value is not an integer or out of range';
export const ERR_FLOAT = 'ERR value is not a valid float';
export const ERR_SYNTAX = 'ERR syntax error';

const I64_MAX = 9223372036854775807n;
const I64_MIN = -9223372036854775808n;

/** redis string2ll: '-'? digits, no leading zeros, no spaces, within int64; else null. */
export function parseI64(b: Buffer): bigint | null {
  const n = b.length;
  if (n === 0 || n >= 21) return null;
  if (n === 1 && b[0] === 0x30) return 0n;
  let i = 0;
  if (b[0] === 0x2d) {
    i = 1;
    if (n === 1) return null;
  }
  if (b[i]! < 0x31 || b[i]! > 0x39) return null;
  for (let j = i + 1; j < n; j++) if (b[j]! < 0x30 || b[j]! > 0x39) return null;
  if (n - i <= 15) return BigInt(Number(b.toString('latin1')));
  const v = BigInt(b.toString('latin1'));
  return v > I64_MAX || v < I64_MIN ? null : v;
}

/** An int64 argument as a number (exact within 2^53; beyond, as close as a double gets). */
export function intArg(b: Buffer, msg = ERR_INT): number {
  const v = parseI64(b);
  if (v === null) throw new CommandError(msg);
  return Number(v);
}

export function bigArg(b: Buffer, msg = ERR_INT): bigint {
  const v = parseI64(b);
  if (v === null) throw new CommandError(msg);
  return v;
}

export function inI64(v: bigint): boolean {
  return v <= I64_MAX && v >= I64_MIN;
}

const FLOAT_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INF_RE = /^([+-]?)inf(?:inity)?$/i;

/** strtod over the whole string (no spaces, no NaN); null if invalid. */
export function parseFloatStrict(b: Buffer): number | null {
  const s = b.toString('latin1');
  if (s.length === 0 || s.length > 5000) return null;
  const inf = INF_RE.exec(s);
  if (inf !== null) return inf[1] === '-' ? -Infinity : Infinity;
  if (!FLOAT_RE.test(s)) return null;
  return Number(s);
}

export function floatArg(b: Buffer, msg = ERR_FLOAT): number {
  const v = parseFloatStrict(b);
  if (v === null) throw new CommandError(msg);
  return v;
}

export const upper = (b: Buffer): string => b.toString('latin1').toUpperCase();

/**
 * redis stringmatchlen: glob-style match on bytes (latin1 strings). With redis's guard against
 * exponential backtracking (CVE-2022-36021, `skipLongerMatches`): once the pattern after a `*`
 * cannot match starting anywhere up to the end of the string, no outer `*` consuming more can
 * make it match, so every pending `*` gives up at once (KEYS/SCAN MATCH with many stars answer in
 * linear-ish time instead of hanging the server).
 */
export function globMatch(p: string, s: string, nocase = false): boolean {
  return matchAt(p, 0, s, 0, nocase, 0, { skipLonger: false });
}

function matchAt(p: string, pi: number, s: string, si: number, nocase: boolean, depth: number, g: { skipLonger: boolean }): boolean {
  if (depth > 1000) return false;
  const eq = (a: string, b: string): boolean => (nocase ? a.toLowerCase() === b.toLowerCase() : a === b);
  while (pi < p.length && si <= s.length) {
    const c = p[pi]!;
    switch (c) {
      case '*':
        while (pi + 1 < p.length && p[pi + 1] === '*') pi++;
        if (pi + 1 === p.length) return true;
        for (let k = si; k <= s.length; k++) {
          if (matchAt(p, pi + 1, s, k, nocase, depth + 1, g)) return true;
          if (g.skipLonger) return false;
        }
        g.skipLonger = true;
        return false;
      case '?':
        if (si >= s.length) return false;
        si++;
        break;
      case '[': {
        if (si >= s.length) return false;
        pi++;
        const not = p[pi] === '^';
        if (not) pi++;
        let match = false;
        for (;;) {
          if (pi >= p.length) { pi--; break; }
          if (p[pi] === '\\' && pi + 1 < p.length) {
            pi++;
            if (p[pi] === s[si]) match = true;
          } else if (p[pi] === ']') {
            break;
          } else if (pi + 2 < p.length && p[pi + 1] === '-') {
            let a = p.charCodeAt(pi);
            let b = p.charCodeAt(pi + 2);
            let x = s.charCodeAt(si);
            if (a > b) [a, b] = [b, a];
            if (nocase) {
              a = String.fromCharCode(a).toLowerCase().charCodeAt(0);
              b = String.fromCharCode(b).toLowerCase().charCodeAt(0);
              x = String.fromCharCode(x).toLowerCase().charCodeAt(0);
            }
            pi += 2;
            if (x >= a && x <= b) match = true;
          } else if (eq(p[pi]!, s[si]!)) {
            match = true;
          }
          pi++;
        }
        if (not) match = !match;
        if (!match) return false;
        si++;
        break;
      }
      default:
        if (c === '\\' && pi + 1 < p.length) pi++;
        if (si >= s.length || !eq(p[pi]!, s[si]!)) return false;
        si++;
    }
    pi++;
    if (si === s.length) {
      while (pi < p.length && p[pi] === '*') pi++;
      break;
    }
  }
  return pi === p.length && si === s.length;
}
