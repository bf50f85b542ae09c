// How much the server puts in one MTR: the engine refuses an MTR over lsnAllocationLimit records
// or mtrBytesMax bytes, and whatever is bigger is cut into MTRs that each fit (journal.ts makes
// such a command atomic).
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
