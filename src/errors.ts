// Operating errors: typed, with a stable `code` that callers may switch on. Programmer errors are
// assertion failures (see assert.ts) and are never caught to carry on.
import { assert } from './assert.js';

export const ErrorCode = {
  INVALID_OPTION: 'INVALID_OPTION',
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  KEY_TOO_LARGE: 'KEY_TOO_LARGE',
  VALUE_TOO_LARGE: 'VALUE_TOO_LARGE',
  TRANSACTION_TOO_LARGE: 'TRANSACTION_TOO_LARGE',
  CLOSED: 'CLOSED',
  QUORUM_UNAVAILABLE: 'QUORUM_UNAVAILABLE',
  READ_UNAVAILABLE: 'READ_UNAVAILABLE',
  CORRUPT_FRAME: 'CORRUPT_FRAME',
  CORRUPT_RECORD: 'CORRUPT_RECORD',
  FENCED: 'FENCED',
  NODE_FAILED: 'NODE_FAILED',
  DISK_FULL: 'DISK_FULL',
  IO_ERROR: 'IO_ERROR',
  VOLUME_MISMATCH: 'VOLUME_MISMATCH',
  RECOVERY_FAILED: 'RECOVERY_FAILED',
  VOLUME_CORRUPT: 'VOLUME_CORRUPT',
  WRITER_KILLED: 'WRITER_KILLED',
  REBUILD_NEEDED: 'REBUILD_NEEDED',
  TRANSACTION_ABORTED: 'TRANSACTION_ABORTED',
  SNAPSHOT_RELEASED: 'SNAPSHOT_RELEASED',
  VOLUME_LOCKED: 'VOLUME_LOCKED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Plain facts an error carries besides its message (structured-clone safe). */
export type ErrorDetails = Readonly<Record<string, string | number | boolean | null>>;

export class AuroralError extends Error {
  readonly code: ErrorCode;
  /** The message without the code prefix. */
  readonly reason: string;
  readonly details: ErrorDetails | undefined;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: ErrorDetails }) {
    super(`${code}: ${message}`, options);
    this.name = 'AuroralError';
    this.code = code;
    this.reason = message;
    this.details = options?.details === undefined ? undefined : Object.freeze({ ...options.details });
  }
}

export function isAuroralError(e: unknown, code?: ErrorCode): e is AuroralError {
  return e instanceof Error && (e as AuroralError).name === 'AuroralError' &&
    (code === undefined || (e as AuroralError).code === code);
}

const codes = new Set<string>(Object.values(ErrorCode));

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && codes.has(code);
}

/** An error as it crosses a thread boundary (postMessage): data, never a "CODE: message" string. */
export interface SerializedError {
  code: ErrorCode;
  message: string;
  details?: ErrorDetails;
}

/**
 * Turns anything thrown into a SerializedError. An AuroralError keeps its code; an fs error gets one
 * by its errno (ENOSPC -> DISK_FULL, any other -> IO_ERROR) with the errno and syscall in details;
 * anything else (an assertion, a bug) gets `fallback`.
 */
export function serializeError(e: unknown, fallback: ErrorCode = ErrorCode.NODE_FAILED): SerializedError {
  if (isAuroralError(e) && isErrorCode(e.code)) {
    const reason = typeof e.reason === 'string' ? e.reason : e.message;
    return e.details === undefined ? { code: e.code, message: reason } : { code: e.code, message: reason, details: { ...e.details } };
  }
  const err = e as { code?: unknown; syscall?: unknown; message?: unknown } | null;
  const message = typeof err?.message === 'string' ? err.message : String(e);
  if (typeof err?.code === 'string' && /^E[A-Z0-9]+$/.test(err.code)) {
    const details: Record<string, string> = { errno: err.code };
    if (typeof err.syscall === 'string') details.syscall = err.syscall;
    return { code: err.code === 'ENOSPC' ? ErrorCode.DISK_FULL : ErrorCode.IO_ERROR, message, details };
  }
  return { code: fallback, message };
}

/**
 * The operating error `e` is, or null if it is a bug: an AuroralError as it is, an fs error (an
 * errno code) as DISK_FULL / IO_ERROR, as serializeError classifies it at a thread boundary. The
 * simulator uses it where a shell would catch and serialize, so both draw the line in one place.
 */
export function asOperatingError(e: unknown): AuroralError | null {
  if (isAuroralError(e)) return e;
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? deserializeError(serializeError(e)) : null;
}

/** Rebuilds the AuroralError a thread sent with serializeError. */
export function deserializeError(s: SerializedError): AuroralError {
  // Both sides run the same build (the layout fingerprint checks it): an unknown code is a bug.
  assert(isErrorCode(s.code) && typeof s.message === 'string', `not a serialized error: ${JSON.stringify(s)}`);
  return new AuroralError(s.code, s.message, s.details === undefined ? undefined : { details: s.details });
}

// Small factories keep messages uniform and the call sites short (hypercore-errors style).
export const errors = {
  invalidOption: (name: string, why: string) =>
    new AuroralError(ErrorCode.INVALID_OPTION, `option '${name}' ${why}`),
  invalidArgument: (name: string, why: string) =>
    new AuroralError(ErrorCode.INVALID_ARGUMENT, `argument '${name}' ${why}`),
  keyTooLarge: (bytes: number, max: number) =>
    new AuroralError(ErrorCode.KEY_TOO_LARGE, `key is ${bytes} bytes, limit is keyBytesMax=${max}`),
  valueTooLarge: (bytes: number, max: number) =>
    new AuroralError(ErrorCode.VALUE_TOO_LARGE, `value is ${bytes} bytes, limit is valueBytesMax=${max}`),
  transactionTooLarge: (bytes: number, max: number) =>
    new AuroralError(ErrorCode.TRANSACTION_TOO_LARGE,
      `transaction redo is ${bytes} bytes, limit is mtrBytesMax=${max}`),
  transactionTooManyRecords: (records: number, lal: number) =>
    new AuroralError(ErrorCode.TRANSACTION_TOO_LARGE,
      `transaction has ${records} records, limit is lsnAllocationLimit=${lal} (one LSN per record, all allocated at once)`),
  closed: () => new AuroralError(ErrorCode.CLOSED, 'the database is closed'),
  quorumUnavailable: (lsn: number, timeoutMs: number, durable: number) =>
    new AuroralError(ErrorCode.QUORUM_UNAVAILABLE,
      `LSN ${lsn} was not made durable on a write quorum within commitTimeoutMs=${timeoutMs} ` +
      `(VDL is ${durable}); its outcome is unknown: it may still become durable`),
  readUnavailable: (why: string) => new AuroralError(ErrorCode.READ_UNAVAILABLE, why),
  corruptFrame: (why: string) => new AuroralError(ErrorCode.CORRUPT_FRAME, why),
  corruptRecord: (why: string) => new AuroralError(ErrorCode.CORRUPT_RECORD, why),
  nodeFailed: (node: number, why: string) =>
    new AuroralError(ErrorCode.NODE_FAILED, `node ${node} failed: ${why}`),
  diskFull: (lsn: number, nodes: number) =>
    new AuroralError(ErrorCode.DISK_FULL, `LSN ${lsn} cannot become durable: ${nodes} node(s) failed with a full disk, ` +
      'so no write quorum is left; its outcome is unknown until space is freed and the nodes are rebuilt'),
  rebuildNeeded: (node: number, why: string) =>
    new AuroralError(ErrorCode.REBUILD_NEEDED, `node ${node} must be rebuilt from a peer: ${why}`),
  recoveryFailed: (why: string) => new AuroralError(ErrorCode.RECOVERY_FAILED, why),
  volumeCorrupt: (why: string) => new AuroralError(ErrorCode.VOLUME_CORRUPT, `${why}: beyond the fault model, the volume halts rather than guess`),
  fenced: (mine: number, theirs: number) =>
    new AuroralError(ErrorCode.FENCED, `this writer's epoch ${mine} was fenced by a newer writer (epoch ${theirs}); it can no longer commit`),
  writerKilled: () => new AuroralError(ErrorCode.WRITER_KILLED, 'the writer was killed (fault hook); attach a new writer to the volume'),
  volumeMismatch: (why: string) => new AuroralError(ErrorCode.VOLUME_MISMATCH, why),
  transactionAborted: (why: string) => new AuroralError(ErrorCode.TRANSACTION_ABORTED, why),
  volumeLocked: (dir: string, holder: { pid: number; hostname: string; startedAt: string; thisProcess: boolean }) =>
    new AuroralError(ErrorCode.VOLUME_LOCKED, `the volume at ${dir} is open in ${holder.thisProcess ? 'this process' : 'another process'} ` +
      `(pid ${holder.pid} on ${holder.hostname}, since ${holder.startedAt}); close it there first`, { details: holder }),
  volumeLockBlocked: (dir: string, why: string) => new AuroralError(ErrorCode.VOLUME_LOCKED, `the volume at ${dir} cannot be locked: ${why}`),
  snapshotReleased: (readPoint: number) =>
    new AuroralError(ErrorCode.SNAPSHOT_RELEASED, `the snapshot at read point ${readPoint} was released`),
};
