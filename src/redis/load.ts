// Reading the whole dataset back at start-up (and after a failed write): every live Auroral key
// with its value, as of one snapshot at the current VDL (db.scan(): only durable values, each
// checked against its checksum by the node that serves it).
import type { Database, ScanEntry } from '../index.js';

export type KeyValue = ScanEntry;

/** Every live key of the volume with its value. */
export function scanAll(db: Database): AsyncIterable<KeyValue> {
  return db.scan();
}
