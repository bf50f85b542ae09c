// How much the server puts in one MTR: the engine refuses an MTR over lsnAllocationLimit records
// or mtrBytesMax bytes, and whatever is bigger is cut into MTRs that each fit and sent in order,
// a window at a time (journal.ts makes such a command atomic).
import type { BatchOp } from '../index.js';
import type { Config } from '../config.js';
import { recordBytes } from '../log/record.js';

/** The MTR limits the server keeps to (a margin under the engine's: its record sizes round up). */
/** The engine options the server's limits come from (a Database, or a fake in tests). */
export interface EngineLimits {
  readonly config: Pick<Config, 'lsnAllocationLimit' | 'mtrBytesMax' | 'valueBytesMax' | 'keyBytesMax'>;
}

export function mtrLimits(db: EngineLimits): MtrLimits {
  return {
    recordsMax: Math.min(db.config.lsnAllocationLimit, 16_384), bytesMax: Math.floor(db.config.mtrBytesMax * 0.9),
    valueBytesMax: db.config.valueBytesMax, lsnAllocationLimit: db.config.lsnAllocationLimit,
  };
}

export interface MtrLimits {
  recordsMax: number;
  bytesMax: number;
  valueBytesMax: number;
  /** LSNs (one per record) the engine allocates ahead of VDL; an MTR past it waits, its commit timeout running. */
  lsnAllocationLimit: number;
}

/** `ops` in order, cut into runs that each fit one MTR (the engine's record size: recordBytes). */
export function splitMtrs(ops: readonly BatchOp[], limits: MtrLimits): BatchOp[][] {
  const parts: BatchOp[][] = [];
  let from = 0;
  let size = 0;
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i]!;
    const b = recordBytes(o.key.length, o.type === 'put' ? o.value.length : 0);
    if (i > from && (i - from >= limits.recordsMax || size + b > limits.bytesMax)) {
      parts.push(ops.slice(from, i));
      from = i;
      size = 0;
    }
    size += b;
  }
  if (from < ops.length) parts.push(ops.slice(from));
  return parts;
}

/** What of the engine sending MTRs uses (a fake in tests). */
export interface BatchPort {
  batch(ops: readonly BatchOp[]): Promise<unknown>;
}

/** MTRs in flight at most while sending a run of them (their bytes stay well inside the log ring). */
const MTRS_IN_FLIGHT_MAX = 4;

/**
 * Sends `ops` as MTRs in order and resolves once all are durable; stops at the first failure. An
 * MTR waits in the engine while its LSNs would pass the allocation limit, and its commit timeout
 * runs from the call: handed all at once, a journal step's tail timed out, and every load re-applying
 * it did too (the server never came back). So no more LSNs are in flight than the engine may
 * allocate, and at most MTRS_IN_FLIGHT_MAX MTRs.
 */
export async function sendAll(db: BatchPort, ops: readonly BatchOp[], limits: MtrLimits): Promise<void> {
  const window: { p: Promise<unknown>; records: number }[] = [];
  let records = 0;
  for (const part of splitMtrs(ops, limits)) {
    while (window.length > 0 && (window.length >= MTRS_IN_FLIGHT_MAX || records + part.length > limits.lsnAllocationLimit)) {
      const w = window.shift()!;
      await w.p;
      records -= w.records;
    }
    const p = db.batch(part);
    p.catch(() => {}); // awaited in order below; a later one may fail first
    window.push({ p, records: part.length });
    records += part.length;
  }
  for (const w of window) await w.p;
}
