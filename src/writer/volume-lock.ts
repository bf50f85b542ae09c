// The volume lock: at most one open of a volume at a time, across processes and within one. Two
// opens of one directory would run two sets of storage nodes over the same hot logs, each
// truncating and appending by its own idea of the chain.
//
// `<dir>/volume.lock` holds {pid, hostname, startedAt, procStart, nonce}. It appears complete or not
// at all: the record is written to a private temp file, fsynced, then hard-linked to the lock's
// name (link fails with EEXIST exactly like O_CREAT|O_EXCL, and nobody reads a half-written lock,
// even after a power cut). It is not made durable beyond that: after a crash every holder is gone.
// Within a process a registry keyed by the directory's real path refuses a second open too (a file
// naming our own pid could also be a lock left by an earlier process that had the same pid).
//
// What an open finds, and does:
//   no lock file                                  -> take it (link)
//   our pid, registered in this process           -> VOLUME_LOCKED (thisProcess)
//   our pid, not registered, same start time      -> VOLUME_LOCKED (thisProcess: another thread of ours)
//   our pid, another start time                   -> stale (an earlier process had our pid): take over
//   same host, pid alive (kill(pid, 0) succeeds
//     or EPERM) and, where /proc tells, the same
//     process (start time) and not a zombie       -> VOLUME_LOCKED (pid, hostname, startedAt)
//   same host, pid gone (ESRCH), reused or zombie -> stale: take over
//   another host                                  -> VOLUME_LOCKED (its liveness cannot be checked here)
//   unreadable lock file                          -> VOLUME_LOCKED (never guess: the operator removes it)
//
// Taking over is a decision about one lock (its nonce). The taker first creates
// `volume.lock.takeover-<nonce>` exclusively, so of several processes that judged the same lock
// stale only one goes on; it re-reads the lock, removes it only if it still has that nonce (only a
// takeover winner ever removes a lock it does not hold, and there is one per nonce, so what it
// removes is the stale lock and never a newer live one), removes its marker, and everyone retries
// from the top, a bounded number of times with a short backoff. A taker killed between its marker and its unlink leaves
// the marker behind: later opens then refuse with VOLUME_LOCKED naming the marker file.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { assert } from '../assert.js';
import { errors } from '../errors.js';

export const LOCK_FILE = 'volume.lock';
/** Attempts to take the lock (each may lose a race with another opener or take over a stale lock). */
const ACQUIRE_ATTEMPTS_MAX = 8;
/** Backoff before attempt k (k >= 2) is this times 2^(k-2) ms: 127 ms in all, far above a takeover's. */
const ACQUIRE_BACKOFF_MS = 1;

/** A nonce is a short token (it becomes part of a file name). */
const NONCE = /^[0-9a-z]{1,64}$/i;

interface LockRecord {
  pid: number;
  hostname: string;
  startedAt: string;
  /** Start time of the holder (field 22 of /proc/<pid>/stat), or null where /proc is absent. */
  procStart: string | null;
  nonce: string;
}

/** Real paths of the volumes this process holds (shared by every copy of this module). */
const registry: Map<string, string> = ((globalThis as Record<symbol, unknown>)[Symbol.for('auroral.volumeLocks')] ??= new Map<string, string>()) as Map<string, string>;

export class VolumeLock {
  private released = false;
  private constructor(private readonly dir: string, private readonly realDir: string, private readonly nonce: string) {}

  /** Takes the lock of the volume at `dir` (which must exist) or throws VOLUME_LOCKED. */
  static async acquire(dir: string): Promise<VolumeLock> {
    const realDir = fs.realpathSync(dir);
    const file = path.join(realDir, LOCK_FILE);
    if (registry.has(realDir)) throw errors.volumeLocked(dir, { ...holderOf(readLock(file)), thisProcess: true });
    const mine: LockRecord = { pid: process.pid, hostname: os.hostname(), startedAt: new Date().toISOString(), procStart: procStart(process.pid), nonce: randomBytes(12).toString('hex') };
    for (let attempt = 1; attempt <= ACQUIRE_ATTEMPTS_MAX; attempt++) {
      if (attempt > 1) await new Promise((r) => setTimeout(r, ACQUIRE_BACKOFF_MS << (attempt - 2)));
      if (registry.has(realDir)) throw errors.volumeLocked(dir, { ...holderOf(readLock(file)), thisProcess: true });
      if (tryCreate(file, mine)) {
        registry.set(realDir, mine.nonce);
        return new VolumeLock(dir, realDir, mine.nonce);
      }
      const held = readLock(file);
      if (held === 'gone') continue; // released between our link and our read: try again
      if (held === 'unreadable') throw errors.volumeLockBlocked(dir, `${file} cannot be read as a lock; if no process has the volume open, remove it`);
      if (held.pid === process.pid && held.hostname === mine.hostname && (held.procStart === null || held.procStart === mine.procStart)) {
        throw errors.volumeLocked(dir, { ...holderOf(held), thisProcess: true });
      }
      if (!isStale(held)) throw errors.volumeLocked(dir, { ...holderOf(held), thisProcess: false });
      takeOver(file, held.nonce, dir);
    }
    throw errors.volumeLockBlocked(dir, `${file} changed hands during all ${ACQUIRE_ATTEMPTS_MAX} attempts to take it`);
  }

  /** Removes the lock (if it is still ours). Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    assert(registry.get(this.realDir) === this.nonce, `volume lock of ${this.dir} released twice or by another owner`);
    registry.delete(this.realDir);
    const file = path.join(this.realDir, LOCK_FILE);
    const held = readLock(file);
    if (typeof held === 'object' && held.nonce === this.nonce) unlinkIfPresent(file);
  }
}

function holderOf(r: LockRecord | 'gone' | 'unreadable'): { pid: number; hostname: string; startedAt: string } {
  return typeof r === 'object' ? { pid: r.pid, hostname: r.hostname, startedAt: r.startedAt } : { pid: process.pid, hostname: os.hostname(), startedAt: '?' };
}

/** Creates the lock file complete, or returns false if one exists. */
function tryCreate(file: string, rec: LockRecord): boolean {
  const tmp = `${file}.${rec.pid}.${rec.nonce}.tmp`;
  const fd = fs.openSync(tmp, 'wx');
  try {
    fs.writeSync(fd, JSON.stringify(rec));
    fs.fsyncSync(fd); // the name must never point at an empty file, even after a power cut
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    fs.unlinkSync(tmp);
  }
}

function readLock(file: string): LockRecord | 'gone' | 'unreadable' {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw e;
  }
  try {
    const r = JSON.parse(text) as Partial<LockRecord>;
    if (typeof r.pid !== 'number' || !Number.isInteger(r.pid) || r.pid <= 0 || typeof r.hostname !== 'string' ||
      typeof r.nonce !== 'string' || !NONCE.test(r.nonce)) return 'unreadable';
    return { pid: r.pid, hostname: r.hostname, startedAt: String(r.startedAt ?? '?'), procStart: typeof r.procStart === 'string' ? r.procStart : null, nonce: r.nonce };
  } catch {
    return 'unreadable';
  }
}

/** True if the holder of `r` is certainly gone (see the table at the top). */
function isStale(r: LockRecord): boolean {
  if (r.hostname !== os.hostname()) return false;
  if (r.pid === process.pid) return true; // another start time (checked by the caller): an earlier process had our pid
  try {
    process.kill(r.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return true;
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') throw e;
  }
  const stat = procStat(r.pid);
  if (stat === null) return false; // no /proc: alive as far as we can tell
  if (stat.state === 'Z') return true; // killed, not yet reaped: it holds nothing any more
  return r.procStart !== null && stat.start !== r.procStart; // the pid now names another process
}

function takeOver(file: string, nonce: string, dir: string): void {
  assert(NONCE.test(nonce), 'lock nonce'); // it names the marker file
  const marker = `${file}.takeover-${nonce}`;
  try {
    fs.writeFileSync(marker, String(process.pid), { flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    // Another opener is taking this lock over right now (or was killed doing it).
    let other: number;
    try {
      other = Number(fs.readFileSync(marker, 'utf8'));
    } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code === 'ENOENT') return; // that takeover just finished
      throw e2;
    }
    // Being written (empty for a moment), or another open in this process is at it: retry.
    if (!Number.isInteger(other) || other <= 0 || other === process.pid) return;
    if (!isStale({ pid: other, hostname: os.hostname(), startedAt: '', procStart: null, nonce })) return;
    throw errors.volumeLockBlocked(dir, `a takeover of a stale lock was interrupted (process ${other} is gone); remove ${marker}`);
  }
  const held = readLock(file);
  if (typeof held === 'object' && held.nonce === nonce) unlinkIfPresent(file);
  unlinkIfPresent(marker);
}

function unlinkIfPresent(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/** State and start time of a process from /proc (Linux), or null where that cannot be read. */
function procStat(pid: number): { state: string; start: string } | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const start = fields[19]; // field 22 overall: starttime
  return state === undefined || start === undefined ? null : { state, start };
}

function procStart(pid: number): string | null {
  return procStat(pid)?.start ?? null;
}
