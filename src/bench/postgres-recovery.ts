// PostgreSQL 15's crash recovery, timed for `npm run bench:recovery -- --vs-postgres` (issue #12):
// the same question as the Auroral suite — after N bytes written under load and a SIGKILL, how long
// until a real query is answered again — asked of a stock PostgreSQL on the same machine.
//
// One throwaway cluster per run: initdb into a temp dir owned by the unprivileged `postgres` user
// (initdb and postgres refuse root), TCP on 127.0.0.1 on a free port, its unix socket in the temp
// dir, fsync=on, full_page_writes=on, checkpoint_timeout=1d and max_wal_size far above the largest
// size, so no checkpoint runs during a load (checked: the control file's redo LSN must not move).
// `pgbench -i -s <scale>` once, then CHECKPOINT. For each size:
//   load     pgbench tpcb-like, <clients> clients, until pg_wal_lsn_diff from the LSN at the start
//            is >= N MiB of WAL
//   crash    SIGKILL the postmaster (the crash), then its backends and pgbench; wait until all are
//            gone (a restart while the old postmaster is not reaped fails on postmaster.pid, and
//            one while a backend lives fails on the old shared memory segment)
//   restart  sync (the load's dirty pages are written back outside the clock; the same is done
//            before Auroral's restarts), for a cold figure also drop the page cache (root only);
//            start the clock, start postgres, run `select abalance from pgbench_accounts where
//            aid = 1` on a new connection every 5 ms until it answers (pg-wire.ts: a psql process
//            per attempt would add ~70 ms), stop the clock. This includes the
//            end-of-recovery checkpoint, which PostgreSQL completes before it lets clients in.
// Several restarts of one crash (warm x reps, then cold x reps) restore a copy of the crashed data
// directory (cp -a, taken after the crash) before each but the first; after the last, the
// recovered cluster is CHECKPOINTed so the next size's distance is only what its load wrote.
// The WAL actually replayed is read from the server log ("redo starts at" .. "redo done at").
// Everything (server, backends, pgbench, temp dir) is removed on success, on error and on Ctrl-C.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pgQuery } from './pg-wire.js';
import { childPids, dropPageCache, isRoot, killQuietly, onInterrupt, startGuardian, syncAll, waitGone } from './os-helpers.js';

export const PG_MAJOR = 15;
export const PG_BIN_DIR = `/usr/lib/postgresql/${PG_MAJOR}/bin`;
export const PG_PROBE_SQL = 'select abalance from pgbench_accounts where aid = 1';
const MIB = 1024 * 1024;
/** How long a restart may take before the run gives up (a cold 4 GB recovery takes well under this). */
const RESTART_TIMEOUT_MS = 30 * 60_000;
const POLL_LOAD_MS = 100;
const POLL_SERVE_MS = 5;

export interface PgRecoveryOptions {
  /** MiB of WAL written by the load before each SIGKILL. */
  sizes: number[];
  /** Restarts per size and kind (warm, cold); the figure is their median. */
  reps: number;
  scale: number;
  clients: number;
  /** Also time restarts with the page cache dropped (needs root). */
  cold: boolean;
  baseDir?: string;
  log?: (line: string) => void;
}

export interface PgRecoveryRow {
  mb: number;
  /** WAL between the LSN at the start of the load and the last poll before the SIGKILL. */
  walBytes: number;
  /** WAL the first restart replayed ("redo starts at" .. "redo done at" in the server log). */
  replayedBytes: number | null;
  warmMs: number;
  coldMs: number | null;
  warmRunsMs: number[];
  coldRunsMs: number[];
}

export interface PgRecoveryResult {
  /** Why there are no rows (PostgreSQL cannot be had here), or null. */
  skipped: string | null;
  version: string;
  scale: number;
  clients: number;
  /** Why there is no cold figure, or null. */
  coldSkipped: string | null;
  /** One connection + probe query against a running server (median of 5): the floor of every figure. */
  probeMs: number;
  rows: PgRecoveryRow[];
}

export type PgSetup =
  | { ok: true; bin: string; version: string; runAs: { uid: number; gid: number } | null }
  | { ok: false; reason: string };

// ---- pure parts (unit-tested) ----

export const walTargetBytes = (mb: number): number => mb * MIB;

/** max_wal_size (MB) far enough above the largest load that no checkpoint is triggered by WAL volume. */
export const maxWalSizeMb = (sizes: number[]): number => Math.max(16 * 1024, 4 * Math.max(...sizes));

/** 'X/Y' (hex halves of a 64-bit LSN) → bytes. */
export function lsnBytes(text: string): number {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (m === null) throw new Error(`not an LSN: '${text}'`);
  return parseInt(m[1]!, 16) * 2 ** 32 + parseInt(m[2]!, 16);
}

/** The WAL a crash recovery replayed, from its server log; null if the log does not say. */
export function replayedFromLog(log: string): number | null {
  const start = /redo starts at ([0-9A-F]+\/[0-9A-F]+)/.exec(log);
  const done = /redo done at ([0-9A-F]+\/[0-9A-F]+)/.exec(log);
  if (start === null || done === null) return null;
  return lsnBytes(done[1]!) - lsnBytes(start[1]!);
}

export function median(xs: number[]): number {
  if (xs.length === 0) throw new Error('median of nothing');
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The restarts of one crash, in order: warm first (files as the load left them), then cold. */
export const restartPlan = (reps: number, cold: boolean): ('warm' | 'cold')[] =>
  [...Array<'warm'>(reps).fill('warm'), ...Array<'cold'>(cold ? reps : 0).fill('cold')];

// ---- finding (or installing) PostgreSQL ----

/** PostgreSQL 15's binaries, installed from Debian when root and missing; or why it cannot be had. */
export function findPostgres(log: (line: string) => void): PgSetup {
  const postgres = path.join(PG_BIN_DIR, 'postgres');
  if (!fs.existsSync(postgres)) {
    if (!isRoot()) {
      return { ok: false, reason: `PostgreSQL ${PG_MAJOR} is not installed (${postgres} is missing) and this process is not root, so it cannot install it (as root: apt-get install -y postgresql-${PG_MAJOR})` };
    }
    const install = (): number | null => {
      log(`installing PostgreSQL ${PG_MAJOR}: apt-get install -y postgresql-${PG_MAJOR}`);
      const r = spawnSync('apt-get', ['install', '-y', `postgresql-${PG_MAJOR}`], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
      return r.error === undefined ? r.status : null;
    };
    if (install() !== 0) {
      spawnSync('apt-get', ['update'], { stdio: 'inherit' });
      if (install() !== 0 || !fs.existsSync(postgres)) return { ok: false, reason: `apt-get install -y postgresql-${PG_MAJOR} failed` };
    }
  }
  const v = spawnSync(postgres, ['--version'], { encoding: 'utf8' });
  const version = (v.stdout ?? '').trim();
  if (v.status !== 0 || !new RegExp(`\\) ${PG_MAJOR}\\.`).test(version)) return { ok: false, reason: `${postgres} --version did not report PostgreSQL ${PG_MAJOR}: '${version || v.stderr}'` };
  if (!isRoot()) return { ok: true, bin: PG_BIN_DIR, version, runAs: null };
  const id = (flag: string): number => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim() || NaN);
  const uid = id('-u'), gid = id('-g');
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid === 0) {
    return { ok: false, reason: "running as root, and there is no unprivileged 'postgres' user to own the throwaway cluster (initdb and postgres refuse root)" };
  }
  return { ok: true, bin: PG_BIN_DIR, version, runAs: { uid, gid } };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

class InitdbFailed extends Error {}

/** One throwaway cluster: its processes and the files under `dir`. */
class PgCluster {
  readonly data: string;
  readonly logFile: string;
  private server: ChildProcess | null = null;
  private serverExited: Promise<void> = Promise.resolve();
  /** pgbench (init or load) while it runs. */
  private client: ChildProcess | null = null;
  /** Set by destroy(): nothing starts after it (a Ctrl-C cleanup runs beside the benchmark's own flow). */
  private destroyed = false;

  constructor(private readonly setup: Extract<PgSetup, { ok: true }>, readonly dir: string, readonly port: number, private readonly maxWalMb: number) {
    this.data = path.join(dir, 'data');
    this.logFile = path.join(dir, 'server.log');
  }

  private exe(name: string): string {
    return path.join(this.setup.bin, name);
  }

  /** Spawn options for the cluster's owner (the unprivileged user when we are root). */
  private asOwner(): SpawnOptions {
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', TZ: 'UTC' };
    const ids = this.setup.runAs === null ? {} : { uid: this.setup.runAs.uid, gid: this.setup.runAs.gid };
    return { cwd: this.dir, env, ...ids };
  }

  private clientArgs(): string[] {
    return ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres'];
  }

  initdb(): void {
    const r = spawnSync(this.exe('initdb'), ['-D', this.data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C'], { ...this.asOwner(), encoding: 'utf8' });
    if (r.status !== 0) {
      const who = this.setup.runAs === null ? '' : ` (it runs as the 'postgres' user, who must be able to reach ${this.dir})`;
      throw new InitdbFailed(`initdb failed${who}, ${r.error?.message ?? `exit ${r.status}`}: ${(r.stderr ?? '').toString().trim().split('\n').slice(-3).join(' / ')}`);
    }
  }

  start(): void {
    if (this.destroyed) throw new Error('the cluster is being removed');
    const fd = fs.openSync(this.logFile, 'a');
    const conf = {
      listen_addresses: '127.0.0.1', port: String(this.port), unix_socket_directories: this.dir,
      fsync: 'on', full_page_writes: 'on', checkpoint_timeout: '1d', max_wal_size: `${this.maxWalMb}MB`, log_checkpoints: 'on',
    };
    try {
      // Own process group: a Ctrl-C at the terminal reaches us, and we take the server down.
      this.server = spawn(this.exe('postgres'), ['-D', this.data, ...Object.entries(conf).flatMap(([k, v]) => ['-c', `${k}=${v}`])],
        { ...this.asOwner(), stdio: ['ignore', fd, fd], detached: true });
    } finally {
      fs.closeSync(fd);
    }
    const server = this.server;
    this.serverExited = new Promise((r) => server.once('exit', () => r()));
  }

  get serverUp(): boolean {
    return this.server !== null && this.server.exitCode === null && this.server.signalCode === null;
  }

  /** One query on a new connection; → ok and the rows as 'a|b' lines, or the error. */
  async tryQuery(sql: string): Promise<{ ok: boolean; out: string; err: string }> {
    try {
      const rows = await pgQuery({ host: '127.0.0.1', port: this.port, user: 'postgres', database: 'postgres' }, sql);
      return { ok: true, out: rows.map((r) => r.join('|')).join('\n'), err: '' };
    } catch (e) {
      return { ok: false, out: '', err: (e as Error).message };
    }
  }

  async query(sql: string): Promise<string> {
    const r = await this.tryQuery(sql);
    if (!r.ok) throw new Error(`query '${sql}': ${r.err}`);
    return r.out;
  }

  /** Runs `sql` until it answers; throws if the server exits first or the timeout passes. */
  async untilServes(sql: string, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if ((await this.tryQuery(sql)).ok) return;
      if (!this.serverUp) throw new Error(`postgres exited during start-up; the end of ${this.logFile}:\n${this.logTail()}`);
      if (performance.now() > deadline) throw new Error(`postgres did not answer within ${timeoutMs / 1000} s`);
      await new Promise((r) => setTimeout(r, POLL_SERVE_MS));
    }
  }

  logSize(): number {
    return fs.existsSync(this.logFile) ? fs.statSync(this.logFile).size : 0;
  }

  logSince(offset: number): string {
    return fs.readFileSync(this.logFile).subarray(offset).toString('utf8');
  }

  logTail(): string {
    return this.logSince(0).split('\n').slice(-15).join('\n');
  }

  /** pgbench with these arguments (after the connection ones); resolves at its exit with the code. */
  pgbench(args: string[], logName: string): { done: Promise<number | null> } {
    if (this.destroyed) throw new Error('the cluster is being removed');
    const fd = fs.openSync(path.join(this.dir, logName), 'a');
    let child: ChildProcess;
    try {
      child = spawn(this.exe('pgbench'), [...this.clientArgs(), ...args, 'postgres'], { stdio: ['ignore', fd, fd], detached: true });
    } finally {
      fs.closeSync(fd);
    }
    this.client = child;
    return {
      done: new Promise((r) => child.once('exit', (code) => {
        if (this.client === child) this.client = null;
        r(code);
      })),
    };
  }

  /**
   * The crash: SIGKILL the postmaster, then its backends and any pgbench, and wait until all are
   * gone. → ms from the SIGKILL until the postmaster was reaped and the backends gone.
   */
  async crash(): Promise<number> {
    const server = this.server;
    if (server === null || server.pid === undefined) return 0;
    const backends = childPids(server.pid);
    const t = performance.now();
    killQuietly(server.pid, 'SIGKILL');
    for (const pid of backends) killQuietly(pid, 'SIGKILL');
    if (this.client?.pid !== undefined) killQuietly(this.client.pid, 'SIGKILL');
    await this.serverExited;
    const left = await waitGone(backends, 30_000);
    if (left.length > 0) throw new Error(`backends ${left.join(', ')} of the killed postmaster are still running after 30 s`);
    this.server = null;
    return performance.now() - t;
  }

  /**
   * Removes the SysV shared memory segment a SIGKILLed postmaster left, named in the data
   * directory's postmaster.pid (line 7: key, id). A restart on the same directory removes it
   * itself; one whose directory is about to be replaced or deleted would leak it.
   */
  dropStaleSegment(): void {
    if (this.serverUp) return;
    let lines: string[];
    try {
      lines = fs.readFileSync(path.join(this.data, 'postmaster.pid'), 'utf8').split('\n');
    } catch {
      return;
    }
    const id = lines[6]?.trim().split(/\s+/)[1];
    if (id !== undefined && /^\d+$/.test(id)) spawnSync('ipcrm', ['-m', id], { stdio: 'ignore' });
  }

  /** Takes everything down: pgbench, the server (immediate shutdown) and its backends. */
  async destroy(): Promise<void> {
    this.destroyed = true;
    if (this.client?.pid !== undefined) killQuietly(this.client.pid, 'SIGKILL');
    const pid = this.server?.pid;
    if (pid !== undefined && this.serverUp) {
      // Immediate shutdown (SIGQUIT) removes the shared memory segment, a SIGKILL would leak it.
      const backends = childPids(pid);
      killQuietly(pid, 'SIGQUIT');
      for (const p of await waitGone([pid, ...backends], 5000)) killQuietly(p, 'SIGKILL');
      await waitGone([pid, ...backends], 5000);
    }
    this.server = null;
    this.dropStaleSegment();
  }
}

/** Runs the PostgreSQL half: one cluster, every size, warm and cold. */
export async function runPostgresRecovery(setup: Extract<PgSetup, { ok: true }>, o: PgRecoveryOptions): Promise<PgRecoveryResult> {
  const log = o.log ?? ((line: string) => console.log(line));
  let coldSkipped: string | null = o.cold ? (isRoot() ? null : 'not root (dropping the page cache needs root)') : 'not asked';
  const result: PgRecoveryResult = { skipped: null, version: setup.version, scale: o.scale, clients: o.clients, coldSkipped, probeMs: 0, rows: [] };
  const dir = fs.mkdtempSync(path.join(o.baseDir ?? os.tmpdir(), 'auroral-pg-'));
  if (setup.runAs !== null) fs.chownSync(dir, setup.runAs.uid, setup.runAs.gid);
  const cluster = new PgCluster(setup, dir, await freePort(), maxWalSizeMb(o.sizes));
  const snapshot = path.join(dir, 'crashed');
  const cleanup = async (): Promise<void> => {
    await cluster.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const offInterrupt = onInterrupt(cleanup);
  // If we die before cleanup() is done: immediate shutdown of a postmaster still named in the pid
  // file (if that pid is still a postgres), wait for it, remove the directory.
  const guardian = startGuardian(`p=$(head -n 1 '${cluster.data}/postmaster.pid' 2>/dev/null); ` +
    `if [ -n "$p" ] && grep -q postgres /proc/$p/cmdline 2>/dev/null; then kill -QUIT $p; while alive $p; do sleep 0.2; done; fi; ` +
    `rm -rf '${dir}'`);
  try {
    try {
      cluster.initdb();
    } catch (e) {
      if (e instanceof InitdbFailed) return { ...result, skipped: e.message };
      throw e;
    }
    cluster.start();
    await cluster.untilServes('select 1', 60_000);
    let t = performance.now();
    log(`PostgreSQL: ${setup.version}, cluster in ${dir}, 127.0.0.1:${cluster.port}; pgbench -i -s ${o.scale} ...`);
    const init = await cluster.pgbench(['-i', '-q', '-s', String(o.scale)], 'pgbench-init.log').done;
    if (init !== 0) throw new Error(`pgbench -i exited with ${init}; see ${path.join(dir, 'pgbench-init.log')}`);
    await cluster.query('checkpoint');
    log(`PostgreSQL: initialized in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const probes: number[] = [];
    for (let i = 0; i < 5; i++) {
      t = performance.now();
      await cluster.query(PG_PROBE_SQL);
      probes.push(performance.now() - t);
    }
    result.probeMs = median(probes);

    for (const mb of o.sizes) {
      const [startLsn, redo] = (await cluster.query('select pg_current_wal_lsn(), redo_lsn from pg_control_checkpoint()')).split('|');
      const target = walTargetBytes(mb);
      t = performance.now();
      const load = cluster.pgbench(['-n', '-b', 'tpcb-like', '-c', String(o.clients), '-j', String(Math.min(o.clients, 2)), '-T', '86400'], 'pgbench-load.log');
      let loadExit: number | null | undefined;
      void load.done.then((c) => { loadExit = c; });
      let walBytes = 0;
      for (let lastLog = performance.now(); walBytes < target;) {
        await new Promise((r) => setTimeout(r, POLL_LOAD_MS));
        if (loadExit !== undefined) throw new Error(`pgbench exited with ${loadExit} during the load; see ${path.join(dir, 'pgbench-load.log')}`);
        const [diff, redoNow] = (await cluster.query(`select pg_wal_lsn_diff(pg_current_wal_lsn(), '${startLsn}')::bigint, redo_lsn from pg_control_checkpoint()`)).split('|');
        if (redoNow !== redo) throw new Error(`a checkpoint ran during the ${mb} MB load (redo ${redo} -> ${redoNow}); the distance would not be what was written`);
        walBytes = Number(diff);
        if (performance.now() - lastLog > 15_000) {
          lastLog = performance.now();
          log(`PostgreSQL ${mb} MB: ${(walBytes / MIB).toFixed(0)} MB of WAL after ${((lastLog - t) / 1000).toFixed(0)} s`);
        }
      }
      const loadS = (performance.now() - t) / 1000;
      const reapMs = await cluster.crash();
      await load.done;
      log(`PostgreSQL ${mb} MB: ${(walBytes / MIB).toFixed(1)} MB of WAL in ${loadS.toFixed(1)} s (${(walBytes / MIB / loadS).toFixed(1)} MB/s), then SIGKILL; postmaster reaped and backends gone after ${reapMs.toFixed(0)} ms`);

      const plan = restartPlan(o.reps, coldSkipped === null);
      if (plan.length > 1) copyTree(cluster.data, snapshot);
      const row: PgRecoveryRow = { mb, walBytes, replayedBytes: null, warmMs: 0, coldMs: null, warmRunsMs: [], coldRunsMs: [] };
      for (const [i, kind] of plan.entries()) {
        if (kind === 'cold' && coldSkipped !== null) break;
        if (i > 0) {
          await cluster.crash();
          cluster.dropStaleSegment();
          fs.rmSync(cluster.data, { recursive: true, force: true });
          if (i === plan.length - 1) fs.renameSync(snapshot, cluster.data);
          else copyTree(snapshot, cluster.data);
        }
        if (kind === 'cold') {
          const why = dropPageCache();
          if (why !== null) {
            coldSkipped = why;
            log(`PostgreSQL: no cold figure: ${why}`);
            await restartAndServe(cluster); // the cluster must be up for the next size
            break;
          }
        } else {
          syncAll();
        }
        const offset = cluster.logSize();
        const ms = await restartAndServe(cluster);
        const replayed = replayedFromLog(cluster.logSince(offset));
        row.replayedBytes ??= replayed;
        (kind === 'warm' ? row.warmRunsMs : row.coldRunsMs).push(ms);
        log(`PostgreSQL ${mb} MB: ${kind} restart to first query ${ms.toFixed(0)} ms (replayed ${replayed === null ? '?' : (replayed / MIB).toFixed(1)} MB of WAL)`);
      }
      fs.rmSync(snapshot, { recursive: true, force: true });
      row.warmMs = median(row.warmRunsMs);
      row.coldMs = row.coldRunsMs.length > 0 ? median(row.coldRunsMs) : null;
      result.rows.push(row);
      await cluster.query('checkpoint');
    }
    result.coldSkipped = coldSkipped;
    return result;
  } finally {
    offInterrupt();
    await cleanup();
    guardian.stop();
  }
}

/** Starts the server on a crashed data directory; → ms from the start until the probe query answered. */
async function restartAndServe(cluster: PgCluster): Promise<number> {
  const t0 = performance.now();
  cluster.start();
  await cluster.untilServes(PG_PROBE_SQL, RESTART_TIMEOUT_MS);
  return performance.now() - t0;
}

/** cp -a (owner, modes and the stale postmaster.pid kept, as a crash leaves them). */
function copyTree(from: string, to: string): void {
  const r = spawnSync('cp', ['-a', '--reflink=auto', from, to], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cp -a ${from} ${to}: ${r.stderr}`);
}
