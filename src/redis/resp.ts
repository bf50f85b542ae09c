// RESP2/RESP3: an incremental request parser (multibulk and inline, as redis-server reads them)
// and the reply encoder. Limits are enforced while reading, before anything is buffered whole:
// a bulk longer than bulkBytesMax, a multibulk of more than argsMax, an inline line or length
// header longer than inlineBytesMax, or one multibulk request holding more than queryBytesMax
// before it is complete is a protocol error. A protocol error ends the connection
// after its reply (the caller closes it); nothing of the offending command runs.

export interface RespLimits {
  /** Largest bulk argument, bytes (redis: proto-max-bulk-len). */
  bulkBytesMax: number;
  /** Most arguments in one multibulk request. */
  argsMax: number;
  /** Longest inline request or length header line, bytes (redis: PROTO_INLINE_MAX_SIZE). */
  inlineBytesMax: number;
  /**
   * Most bytes one request may hold (its arguments so far, what is buffered, and a bulk it has
   * announced) before it is complete (redis: client-query-buffer-limit, 1 GiB). Without it one
   * unfinished request of argsMax bulks of bulkBytesMax each could hold terabytes.
   */
  queryBytesMax: number;
}

export const defaultRespLimits: RespLimits = { bulkBytesMax: 512 * 1024 * 1024, argsMax: 1024 * 1024, inlineBytesMax: 64 * 1024, queryBytesMax: 1024 * 1024 * 1024 };

const QUERY_LIMIT = 'Protocol error: query buffer limit exceeded';

export class ProtocolError extends Error {}

const CR = 13;
const LF = 10;

/**
 * Parses a stream of requests. feed() appends bytes; next() returns the next complete command
 * (its arguments, binary-safe), null when more bytes are needed, or throws ProtocolError.
 * Arguments are views of the read buffer: copy what you keep.
 */
export class RequestParser {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  /** Chunks received while a bulk longer than what we have is awaited (no quadratic concat). */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes buffered before next() can make progress (0: unknown). */
  private need = 0;
  /** next() stopped at a line with no end yet: the byte that can end it (CR for a header line, LF for an inline one), else 0. */
  private awaitingLineEnd = 0;
  /** @internal Bytes copied joining partial input with new chunks (tests: stays linear in the input). */
  copiedBytes = 0;
  // State of a multibulk in progress.
  private argsLeft = 0;
  private bulkLen = -1;
  private args: Buffer[] = [];
  /** Bytes of the request in progress already consumed (its header lines and complete bulks). */
  private requestBytes = 0;
  /** Whether the connection has authenticated (tighter limits before, as redis). */
  authenticated = true;

  constructor(private readonly limits: RespLimits) {}

  feed(chunk: Buffer): void {
    if (this.need > 0 && this.buffered() + chunk.length < this.need) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      return;
    }
    // A line still without its end: keep chunks that cannot end it aside too. Joining the partial
    // line with every chunk copied it once per chunk: an inline request sent a byte at a time cost
    // inlineBytesMax² / 2 bytes of copying (2 GB at 64 KiB), one slow client stalling every other.
    if (this.awaitingLineEnd !== 0 && chunk.indexOf(this.awaitingLineEnd) < 0
      && this.buffered() + chunk.length <= this.limits.inlineBytesMax) {
      if (chunk.length > 0) {
        this.pending.push(chunk);
        this.pendingBytes += chunk.length;
      }
      return;
    }
    const rest = this.pos < this.buf.length ? [this.buf.subarray(this.pos)] : [];
    if (rest.length === 0 && this.pending.length === 0) this.buf = chunk;
    else {
      this.buf = Buffer.concat([...rest, ...this.pending, chunk]);
      this.copiedBytes += this.buf.length;
    }
    this.pos = 0;
    this.pending = [];
    this.pendingBytes = 0;
    this.need = 0;
    this.awaitingLineEnd = 0;
  }

  /** Bytes received and not yet consumed. */
  buffered(): number {
    return this.buf.length - this.pos + this.pendingBytes;
  }

  next(): Buffer[] | null {
    for (;;) {
      if (this.pendingBytes > 0) this.feed(Buffer.alloc(0));
      if (this.argsLeft === 0) {
        if (this.pos >= this.buf.length) return null;
        if (this.buf[this.pos] !== 0x2a /* '*' */) {
          const r = this.inline();
          if (r === null) return null;
          if (r.length === 0) continue; // an empty line is skipped
          return r;
        }
        const line = this.line('Protocol error: too big mbulk count string');
        if (line === null) return null;
        const n = parseLength(this.buf, line.start + 1, line.end);
        if (n === null || n > 0x7fffffff) throw new ProtocolError('Protocol error: invalid multibulk length');
        if (n > 10 && !this.authenticated) throw new ProtocolError('Protocol error: unauthenticated multibulk length');
        if (n > this.limits.argsMax) throw new ProtocolError('Protocol error: invalid multibulk length');
        this.pos = line.next;
        if (n <= 0) continue; // *0 and *-1 are no command
        this.argsLeft = n;
        this.args = [];
        this.bulkLen = -1;
        this.requestBytes = line.next - line.start;
      }
      while (this.argsLeft > 0) {
        if (this.bulkLen < 0) {
          const line = this.line('Protocol error: too big bulk count string');
          if (line === null) return null;
          if (this.buf[line.start] !== 0x24 /* '$' */) {
            throw new ProtocolError(`Protocol error: expected '$', got '${String.fromCharCode(this.buf[line.start]!)}'`);
          }
          const n = parseLength(this.buf, line.start + 1, line.end);
          if (n === null || n < 0 || n > this.limits.bulkBytesMax) throw new ProtocolError('Protocol error: invalid bulk length');
          if (n > 16384 && !this.authenticated) throw new ProtocolError('Protocol error: unauthenticated bulk length');
          this.requestBytes += line.next - line.start;
          // Refused when announced, before its bytes are buffered.
          if (this.requestBytes + n + 2 > this.limits.queryBytesMax) throw new ProtocolError(QUERY_LIMIT);
          this.pos = line.next;
          this.bulkLen = n;
        }
        if (this.buf.length - this.pos < this.bulkLen + 2) {
          this.need = this.bulkLen + 2;
          return null;
        }
        this.requestBytes += this.bulkLen + 2;
        // As redis: the two bytes after a bulk are skipped, not checked.
        this.args.push(this.buf.subarray(this.pos, this.pos + this.bulkLen));
        this.pos += this.bulkLen + 2;
        this.bulkLen = -1;
        this.argsLeft--;
      }
      const a = this.args;
      this.args = [];
      this.requestBytes = 0;
      return a;
    }
  }

  /** The next \r-terminated header line, or null if incomplete (throws when too long). */
  private line(tooBig: string): { start: number; end: number; next: number } | null {
    const cr = this.buf.indexOf(CR, this.pos);
    if (cr < 0 || cr + 1 >= this.buf.length) {
      if (this.buf.length - this.pos > this.limits.inlineBytesMax) throw new ProtocolError(tooBig);
      this.awaitingLineEnd = cr < 0 ? CR : 0; // a CR at the very end: any next byte completes the line
      return null;
    }
    return { start: this.pos, end: cr, next: cr + 2 };
  }

  private inline(): Buffer[] | null {
    const lf = this.buf.indexOf(LF, this.pos);
    if (lf < 0) {
      if (this.buf.length - this.pos > this.limits.inlineBytesMax) throw new ProtocolError('Protocol error: too big inline request');
      this.awaitingLineEnd = LF;
      return null;
    }
    const end = lf > this.pos && this.buf[lf - 1] === CR ? lf - 1 : lf;
    const args = splitInline(this.buf.subarray(this.pos, end));
    if (args === null) throw new ProtocolError('Protocol error: unbalanced quotes in request');
    if (args.length > this.limits.argsMax) throw new ProtocolError('Protocol error: invalid multibulk length');
    this.pos = lf + 1;
    return args;
  }
}

/** redis string2ll for a length: an optional '-', digits without leading zeros; null if invalid. */
function parseLength(b: Buffer, start: number, end: number): number | null {
  if (end <= start || end - start > 20) return null;
  let i = start;
  let neg = false;
  if (b[i] === 0x2d) {
    neg = true;
    i++;
    if (i === end) return null;
  }
  if (end - i === 1 && b[i] === 0x30) return 0;
  if (b[i]! < 0x31 || b[i]! > 0x39) return null;
  let v = 0;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c < 0x30 || c > 0x39) return null;
    v = v * 10 + (c - 0x30);
    if (v > Number.MAX_SAFE_INTEGER) return null;
  }
  return neg ? -v : v;
}

const hexVal = (c: number): number => (c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1);
const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;

/** redis sdssplitargs: spaces separate; "double quotes" with \n \r \t \b \a \\ \xHH escapes; 'single'. */
export function splitInline(line: Buffer): Buffer[] | null {
  const out: Buffer[] = [];
  let i = 0;
  const n = line.length;
  for (;;) {
    while (i < n && isSpace(line[i]!)) i++;
    if (i >= n) return out;
    const cur: number[] = [];
    let inDq = false;
    let inSq = false;
    for (;;) {
      if (inDq) {
        if (i >= n) return null;
        const c = line[i]!;
        if (c === 0x5c && i + 3 < n && line[i + 1] === 0x78 && hexVal(line[i + 2]!) >= 0 && hexVal(line[i + 3]!) >= 0) {
          cur.push(hexVal(line[i + 2]!) * 16 + hexVal(line[i + 3]!));
          i += 3;
        } else if (c === 0x5c && i + 1 < n) {
          i++;
          const e = line[i]!;
          cur.push(e === 0x6e ? 10 : e === 0x72 ? 13 : e === 0x74 ? 9 : e === 0x62 ? 8 : e === 0x61 ? 7 : e);
        } else if (c === 0x22) {
          if (i + 1 < n && !isSpace(line[i + 1]!)) return null; // closing quote must be followed by a space
          inDq = false;
          i++;
          break;
        } else {
          cur.push(c);
        }
      } else if (inSq) {
        if (i >= n) return null;
        const c = line[i]!;
        if (c === 0x5c && i + 1 < n && line[i + 1] === 0x27) {
          i++;
          cur.push(0x27);
        } else if (c === 0x27) {
          if (i + 1 < n && !isSpace(line[i + 1]!)) return null;
          inSq = false;
          i++;
          break;
        } else {
          cur.push(c);
        }
      } else {
        if (i >= n) break;
        const c = line[i]!;
        if (isSpace(c)) break;
        if (c === 0x22) inDq = true;
        else if (c === 0x27) inSq = true;
        else cur.push(c);
      }
      i++;
    }
    out.push(Buffer.from(cur));
  }
}

// ---- replies --------------------------------------------------------------------------------

export class Simple {
  /** `+s\r\n`, kept once encoded: +OK, +QUEUED and +PONG are shared constants, encoded per reply before. */
  encoded: Buffer | null = null;
  constructor(readonly s: string) {}
}
export class ErrorReply { constructor(readonly s: string) {} }
/** A map: flat [k1, v1, k2, v2...]; an array of pairs in RESP2. */
export class MapReply { constructor(readonly flat: Reply[]) {} }
/** A set: an array in RESP2. */
export class SetReply { constructor(readonly items: Reply[]) {} }
/** A double: a bulk string (%.17g) in RESP2, ',' in RESP3. */
export class DoubleReply { constructor(readonly v: number) {} }
export class NullArray { private constructor() {} static readonly it = new NullArray(); }
/** Bytes already encoded (a precomputed reply). */
export class Raw { constructor(readonly b: Buffer) {} }
/** A verbatim string (RESP3 '='; a bulk in RESP2). */
export class Verbatim { constructor(readonly s: string) {} }

/** string and Buffer are bulk strings, number/bigint integers, null the null bulk (RESP3 '_'). */
export type Reply = Simple | ErrorReply | number | bigint | string | Buffer | null | Reply[] | MapReply | SetReply | DoubleReply | NullArray | Raw | Verbatim | boolean;

export const OK = new Simple('OK');
export const QUEUED = new Simple('QUEUED');
export const PONG = new Simple('PONG');
/** An error reply; `s` starts with its code ('ERR syntax error', 'WRONGTYPE ...'). */
export const err = (s: string): ErrorReply => new ErrorReply(s);

/** C printf %.17g, as redis 7.0 formats a double reply. */
export function formatDouble17g(d: number): string {
  if (d === Infinity) return 'inf';
  if (d === -Infinity) return '-inf';
  if (Number.isNaN(d)) return 'nan';
  if (d === 0) return Object.is(d, -0) ? '-0' : '0';
  const [mant, expS] = d.toExponential(16).split('e') as [string, string];
  const exp = Number(expS);
  if (exp < -4 || exp >= 17) {
    let m = mant.includes('.') ? mant.replace(/0+$/, '').replace(/\.$/, '') : mant;
    if (m === '') m = '0';
    const ae = Math.abs(exp);
    return `${m}e${exp < 0 ? '-' : '+'}${ae < 10 ? '0' : ''}${ae}`;
  }
  const f = d.toFixed(Math.max(0, 16 - exp));
  return f.includes('.') ? f.replace(/0+$/, '').replace(/\.$/, '') : f;
}

/** Encodes replies into one buffer; `proto` is 2 or 3. */
/** A reply would pass its byte limit (the client's output buffer): it is never built. */
export class ReplyTooLarge extends Error {
  constructor(readonly bytesMax: number) {
    super(`reply larger than ${bytesMax} bytes`);
  }
}

export class ReplyWriter {
  private chunks: (string | Buffer)[] = [];
  private str = '';
  bytes = 0;

  /** `bytesMax`: stop (ReplyTooLarge) before a reply of more bytes is assembled. */
  constructor(public proto: 2 | 3 = 2, private readonly bytesMax = Number.POSITIVE_INFINITY) {}

  private s(x: string): void {
    this.str += x;
    this.bytes += x.length; // ASCII only in headers
    if (this.bytes > this.bytesMax) throw new ReplyTooLarge(this.bytesMax);
  }

  private b(x: Buffer): void {
    if (this.bytes + x.length > this.bytesMax) throw new ReplyTooLarge(this.bytesMax);
    if (x.length < 64) {
      this.str += x.toString('latin1'); // flushed as latin1: exact bytes
      this.bytes += x.length;
      return;
    }
    if (this.str !== '') this.chunks.push(Buffer.from(this.str, 'latin1'));
    this.str = '';
    this.chunks.push(x);
    this.bytes += x.length;
  }

  write(r: Reply): void {
    if (r === null) {
      this.s(this.proto === 3 ? '_\r\n' : '$-1\r\n');
    } else if (typeof r === 'number' || typeof r === 'bigint') {
      this.s(`:${r}\r\n`);
    } else if (typeof r === 'string') {
      const b = Buffer.from(r, 'utf8');
      this.s(`$${b.length}\r\n`);
      this.b(b);
      this.s('\r\n');
    } else if (Buffer.isBuffer(r)) {
      this.s(`$${r.length}\r\n`);
      this.b(r);
      this.s('\r\n');
    } else if (Array.isArray(r)) {
      this.s(`*${r.length}\r\n`);
      for (const x of r) this.write(x);
    } else if (typeof r === 'boolean') {
      this.s(this.proto === 3 ? (r ? '#t\r\n' : '#f\r\n') : r ? ':1\r\n' : ':0\r\n');
    } else if (r instanceof Simple) {
      this.s(`+${r.s}\r\n`);
    } else if (r instanceof ErrorReply) {
      this.s(`-${r.s.replace(/[\r\n]/g, ' ')}\r\n`);
    } else if (r instanceof MapReply) {
      this.s(this.proto === 3 ? `%${r.flat.length / 2}\r\n` : `*${r.flat.length}\r\n`);
      for (const x of r.flat) this.write(x);
    } else if (r instanceof SetReply) {
      this.s(this.proto === 3 ? `~${r.items.length}\r\n` : `*${r.items.length}\r\n`);
      for (const x of r.items) this.write(x);
    } else if (r instanceof DoubleReply) {
      const t = formatDouble17g(r.v);
      if (this.proto === 3) this.s(`,${t}\r\n`);
      else this.s(`$${t.length}\r\n${t}\r\n`);
    } else if (r instanceof NullArray) {
      this.s(this.proto === 3 ? '_\r\n' : '*-1\r\n');
    } else if (r instanceof Verbatim) {
      const b = Buffer.from(r.s, 'utf8');
      if (this.proto === 3) {
        this.s(`=${b.length + 4}\r\ntxt:`);
      } else {
        this.s(`$${b.length}\r\n`);
      }
      this.b(b);
      this.s('\r\n');
    } else {
      this.b(r.b);
    }
  }

  /** Everything written since the last take(). */
  take(): Buffer {
    if (this.str !== '') this.chunks.push(Buffer.from(this.str, 'latin1'));
    const out = this.chunks.length === 1 ? this.chunks[0] as Buffer : Buffer.concat(this.chunks as Buffer[]);
    this.chunks = [];
    this.str = '';
    this.bytes = 0;
    return out;
  }
}

/** One reply as bytes. */
export function encodeReply(r: Reply, proto: 2 | 3 = 2, bytesMax = Number.POSITIVE_INFINITY): Buffer {
  if (r instanceof Simple && r.s.length + 3 <= bytesMax) return (r.encoded ??= Buffer.from(`+${r.s}\r\n`, 'latin1'));
  const w = new ReplyWriter(proto, bytesMax);
  w.write(r);
  return w.take();
}

/** A request as RESP (for tests and the benchmark). */
export function encodeCommand(args: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}
