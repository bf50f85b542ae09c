// Reading the whole dataset back at start-up (and after a failed write): every live Auroral key
// with its value, as of one snapshot at the current VDL (db.scan(): only durable values, each
// checked against its checksum by the node that serves it).
import type { Database, ScanEntry } from '../index.js';
import type { Keyspace } from './keyspace.js';
import { mtrLimits, splitMtrs, type BatchPort, type EngineLimits } from './mtr.js';
import { rebuild, type Rebuilt } from './rebuild.js';

export type KeyValue = ScanEntry;

/** Every live key of the volume with its value. */
export function scanAll(db: Database): AsyncIterable<KeyValue> {
  return db.scan();
}

export interface Loaded {
  ks: Keyspace;
  keys: number;
  records: number;
  expired: number;
  /** Journaled commands found committed and applied again, and found uncommitted and dropped. */
  journalReplayed: number;
  journalDropped: number;
}

/**
 * The keyspace from the log. A journaled command a crash cut short (journal.ts) is finished
 * first, durably, and the log read again; then keys found expired are deleted, in as many MTRs
 * as it takes (a big collection's fields first and its TTL record last, so a crash between them
 * leaves it expired, not resurrected).
 */
export async function loadKeyspace(db: BatchPort & EngineLimits, scan: () => AsyncIterable<KeyValue>, now = Date.now()): Promise<Loaded> {
  const limits = { keyBytesMax: db.config.keyBytesMax, valueBytesMax: db.config.valueBytesMax };
  let r: Rebuilt | null = await rebuild(scan(), limits, now);
  let replayed = 0;
  let dropped = 0;
  if (!r.journal.empty) {
    const journal = r.journal;
    r = null; // the keyspace read before the journal was finished is garbage: let it go before reading again
    ({ replayed, dropped } = await journal.finish(db, mtrLimits(db)));
    r = await rebuild(scan(), limits, now);
    if (!r.journal.empty) throw new Error('journal records left after the journal was finished');
  }
  // One at a time, not sendAll's window: an MTR the engine withdrew must not be followed by a
  // later one written (a TTL deleted while fields it should have outlived stay).
  for (const part of splitMtrs(r.ks.fx.ops, mtrLimits(db))) await db.batch(part);
  return { ks: r.ks, keys: r.keys, records: r.records, expired: r.expired, journalReplayed: replayed, journalDropped: dropped };
}
