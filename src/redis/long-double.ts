// INCRBYFLOAT as redis computes it: x87 80-bit long double (64-bit significand) parsed with
// strtold, added, and printed with "%.17Lf" (trailing zeros cut). Emulated exactly with BigInt so
// the values (which are stored and logged as strings) match redis digit for digit.

/** A finite long double: sign * m * 2^e, m < 2^64 (0 for zero). */
export interface LD { neg: boolean; m: bigint; e: number }

const BITS = 64n;
const TOP = 1n << BITS;
/** Beyond these binary exponents strtold says ERANGE (redis: not a valid float) or the sum is inf. */
const E_MAX = 16384;
const E_MIN = -16445;

function bitLength(x: bigint): number {
  return x === 0n ? 0 : x.toString(2).length;
}

/** Rounds num/den (both > 0) to a 64-bit significand, half to even. */
function round(neg: boolean, num: bigint, den: bigint): LD | null {
  if (num === 0n) return { neg, m: 0n, e: 0 };
  // Choose e so that 2^63 <= num / den / 2^e < 2^64.
  let e = bitLength(num) - bitLength(den) - 64;
  const scaled = (): [bigint, bigint] => (e >= 0 ? [num, den << BigInt(e)] : [num << BigInt(-e), den]);
  let [n, d] = scaled();
  if (n / d >= TOP) { e++; [n, d] = scaled(); }
  if (n / d < TOP >> 1n) { e--; [n, d] = scaled(); }
  let q = n / d;
  const r = n - q * d;
  if (2n * r > d || (2n * r === d && (q & 1n) === 1n)) q++;
  if (q === TOP) { q >>= 1n; e++; }
  if (e + 64 > E_MAX || e < E_MIN) return null;
  return { neg, m: q, e };
}

/** strtold over the whole string (decimal forms and inf); null where redis says "not a valid float". */
export function parseLD(s: string): LD | 'inf' | '-inf' | null {
  if (s.length === 0 || s.length > 5 * 1024) return null;
  const inf = /^([+-]?)inf(?:inity)?$/i.exec(s);
  if (inf !== null) return inf[1] === '-' ? '-inf' : 'inf';
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(s);
  if (m === null || (m[2] === '' && (m[3] ?? '') === '')) return null;
  const digits = BigInt(`${m[2]}${m[3] ?? ''}` || '0');
  let exp = Number(m[4] ?? '0') - (m[3] ?? '').length;
  if (!Number.isFinite(exp) || Math.abs(exp) > 20000) return digits === 0n ? { neg: m[1] === '-', m: 0n, e: 0 } : null;
  let num = digits;
  let den = 1n;
  if (exp >= 0) num *= 10n ** BigInt(exp);
  else den = 10n ** BigInt(-exp);
  exp = 0;
  return round(m[1] === '-', num, den);
}

/** a + b rounded to a long double; null on overflow (redis: would produce NaN or Infinity). */
export function addLD(a: LD, b: LD): LD | null {
  const e = Math.min(a.e, b.e);
  const av = (a.neg ? -a.m : a.m) << BigInt(a.e - e);
  const bv = (b.neg ? -b.m : b.m) << BigInt(b.e - e);
  const s = av + bv;
  const neg = s < 0n;
  const abs = neg ? -s : s;
  return e >= 0 ? round(neg, abs << BigInt(e), 1n) : round(neg, abs, 1n << BigInt(-e));
}

/** "%.17Lf" with trailing zeros (and a bare '.') cut; "-0" becomes "0" (redis ld2string HUMAN). */
export function formatLD(x: LD): string {
  // |x| * 10^17 rounded half to even.
  let num = x.m * 10n ** 17n;
  let den = 1n;
  if (x.e >= 0) num <<= BigInt(x.e);
  else den <<= BigInt(-x.e);
  let q = num / den;
  const r = num - q * den;
  if (2n * r > den || (2n * r === den && (q & 1n) === 1n)) q++;
  let s = q.toString().padStart(18, '0');
  s = `${s.slice(0, -17)}.${s.slice(-17)}`.replace(/0+$/, '').replace(/\.$/, '');
  if (x.neg && s !== '0') s = `-${s}`;
  return s;
}
