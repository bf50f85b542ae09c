// A command whose effects do not fit one MTR (FLUSHALL of a big keyspace, DEL or RENAME of a
// collection of more than 16,384 elements, a huge EXEC) is still all-or-nothing across a crash.
// The engine keeps a prefix of MTRs in LSN order (VDL), so the effects go through a journal:
//
//   1. stage:  the effects, serialized, as chunk records           (awaited durable)
//   2. commit: one record naming the chunks                        (awaited durable)
//   3. apply:  the effects themselves, in as many MTRs as it takes (awaited durable)
//   4. done:   the commit record deleted                           (awaited durable)
//   5. the chunks deleted                                        (the command is complete at 4)
//
// A load that finds a commit record re-applies the staged effects (puts and deletions of whole
// values: applying them again is harmless) and deletes the journal; chunks without a commit are
// deleted (the command either never applied, or finished: step 5 cut short). Each step waits for
// the one before to be durable because the engine may withdraw an MTR that timed out waiting for
// LSNs while later ones are written: a commit must never be durable without every chunk, nor the
// commit's deletion without every applied MTR. Later commands' MTRs wait until step 4 is durable
// (durability.ts): one of them landing before an apply MTR, or before the commit's deletion, would
// be overwritten by the re-application at load.
import { recordBytes } from '../log/record.js';
import type { BatchOp, ScanEntry } from '../index.js';
import { sendAll, type BatchPort, type MtrLimits } from './mtr.js';


// The server's own records start with byte 0 (no layout tag is 0: persist.ts).
const STAGE = 0x01;
const COMMIT = 0x02;

function journalKey(kind: number, txid: number, chunk: number): Buffer {
  const b = Buffer.allocUnsafe(kind === STAGE ? 10 : 6);
  b[0] = 0;
  b[1] = kind;
  b.writeUInt32BE(txid, 2);
  if (kind === STAGE) b.writeUInt32BE(chunk, 6);
  return b;
}

const asBuffer = (k: BatchOp['key']): Buffer =>
  typeof k === 'string' ? Buffer.from(k) : Buffer.from(k.buffer, k.byteOffset, k.byteLength);

/** op (1 put, 2 del), u32 key length, key, then for a put u32 value length and the value. */
export function encodeOps(ops: readonly BatchOp[]): Buffer {
  let n = 0;
  for (const o of ops) n += 5 + asBuffer(o.key).length + (o.type === 'put' ? 4 + asBuffer(o.value).length : 0);
  const b = Buffer.allocUnsafe(n);
  let at = 0;
  for (const o of ops) {
    const k = asBuffer(o.key);
    b[at] = o.type === 'put' ? 1 : 2;
    b.writeUInt32BE(k.length, at + 1);
    at += 5 + k.copy(b, at + 5);
    if (o.type === 'put') {
      const v = asBuffer(o.value);
      b.writeUInt32BE(v.length, at);
      at += 4 + v.copy(b, at + 4);
    }
  }
  return b;
}

export function decodeOps(b: Buffer): BatchOp[] {
  const ops: BatchOp[] = [];
  let at = 0;
  const take = (n: number): Buffer => {
    if (at + n > b.length) throw new Error(`journal: effects end inside an operation (byte ${at} of ${b.length})`);
    const s = b.subarray(at, at + n);
    at += n;
    return s;
  };
  while (at < b.length) {
    const op = take(1)[0];
    const key = take(take(4).readUInt32BE(0));
    if (op === 1) ops.push({ type: 'put', key, value: take(take(4).readUInt32BE(0)) });
    else if (op === 2) ops.push({ type: 'del', key });
    else throw new Error(`journal: unknown operation ${op} at byte ${at - 1}`);
  }
  return ops;
}

/** The largest chunk: a whole record must fit one MTR and the engine's value limit. */
function chunkBytesMax(limits: MtrLimits): number {
  return Math.max(1, Math.min(limits.valueBytesMax, limits.bytesMax - recordBytes(10, 0) - 64));
}


/**
 * Writes `ops` (too big for one MTR) through journal `txid` (steps 1-5 above). Resolves once the
 * command is durable and complete (step 4), when later MTRs may be sent too. Step 5 goes on
 * alone: chunks it leaves (a crash, a withdrawn MTR) are dropped by the next load, and its failure
 * is nobody's (the command's effects are all durable by then).
 */
export async function writeJournaled(db: BatchPort, ops: readonly BatchOp[], limits: MtrLimits, txid: number): Promise<void> {
  const stream = encodeOps(ops);
  const size = chunkBytesMax(limits);
  const chunks: BatchOp[] = [];
  for (let at = 0, i = 0; at < stream.length; at += size, i++) {
    chunks.push({ type: 'put', key: journalKey(STAGE, txid, i), value: stream.subarray(at, at + size) });
  }
  const commit = Buffer.allocUnsafe(8);
  commit.writeUInt32BE(chunks.length, 0);
  commit.writeUInt32BE(stream.length, 4);
  await sendAll(db, chunks, limits);
  await db.batch([{ type: 'put', key: journalKey(COMMIT, txid, 0), value: commit }]);
  await sendAll(db, ops, limits);
  await db.batch([{ type: 'del', key: journalKey(COMMIT, txid, 0) }]);
  void sendAll(db, chunks.map((c) => ({ type: 'del' as const, key: c.key })), limits).catch(() => {});
}

/** The journal records a load found (every record whose key starts with 0, 1 or 0, 2). */
export class JournalFound {
  private readonly chunks = new Map<number, Map<number, Buffer>>();
  private readonly commits = new Map<number, { chunks: number; bytes: number }>();

  /** True if `r` is a journal record (taken here); false for anything else. */
  take(r: ScanEntry): boolean {
    const k = r.key;
    if (k.length < 6 || k[0] !== 0 || (k[1] !== STAGE && k[1] !== COMMIT)) return false;
    const key = Buffer.from(k.buffer, k.byteOffset, k.byteLength);
    const txid = key.readUInt32BE(2);
    if (k[1] === COMMIT && k.length === 6 && r.value.length === 8) {
      const v = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
      this.commits.set(txid, { chunks: v.readUInt32BE(0), bytes: v.readUInt32BE(4) });
      return true;
    }
    if (k[1] === STAGE && k.length === 10) {
      let m = this.chunks.get(txid);
      if (m === undefined) this.chunks.set(txid, (m = new Map()));
      m.set(key.readUInt32BE(6), Buffer.from(r.value)); // a copy: the scan may reuse its buffer
      return true;
    }
    return false;
  }

  get empty(): boolean {
    return this.chunks.size === 0 && this.commits.size === 0;
  }

  /**
   * Finishes what the log holds: each committed command's effects applied again (in journal
   * order), then every journal record deleted, each step durable before the next.
   */
  async finish(db: BatchPort, limits: MtrLimits): Promise<{ replayed: number; dropped: number }> {
    const committed = [...this.commits.keys()].sort((a, b) => a - b);
    for (const txid of committed) {
      const c = this.commits.get(txid)!;
      const m = this.chunks.get(txid) ?? new Map<number, Buffer>();
      const parts: Buffer[] = [];
      for (let i = 0; i < c.chunks; i++) {
        const p = m.get(i);
        // Step 2 is written only once every chunk is durable: a missing one is a broken log.
        if (p === undefined) throw new Error(`journal ${txid}: chunk ${i} of ${c.chunks} is missing`);
        parts.push(p);
      }
      const stream = Buffer.concat(parts);
      if (stream.length !== c.bytes) throw new Error(`journal ${txid}: ${stream.length} bytes staged, its commit says ${c.bytes}`);
      await sendAll(db, decodeOps(stream), limits);
    }
    const dels: BatchOp[] = committed.map((txid) => ({ type: 'del', key: journalKey(COMMIT, txid, 0) }));
    await sendAll(db, dels, limits);
    const chunkDels: BatchOp[] = [];
    for (const [txid, m] of this.chunks) for (const i of m.keys()) chunkDels.push({ type: 'del', key: journalKey(STAGE, txid, i) });
    await sendAll(db, chunkDels, limits);
    return { replayed: committed.length, dropped: [...this.chunks.keys()].filter((t) => !this.commits.has(t)).length };
  }
}
