// Goal: the pure parts of `npm run bench:recovery -- --vs-postgres` are right without running
// PostgreSQL: option checking, the WAL arithmetic (targets, max_wal_size, LSNs, the replayed
// distance read from a server log), medians, the restart plan, /proc parsing, the tables and
// ratios, and the wire-protocol probe against a fake server that first refuses, then answers.
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseRecoveryBenchArgs } from '../src/bench/recovery-args.js';
import { lsnBytes, maxWalSizeMb, median, replayedFromLog, restartPlan, walTargetBytes, type PgRecoveryResult } from '../src/bench/postgres-recovery.js';
import { ratioText, recoveryPlot, vsPostgresRows, vsPostgresTable } from '../src/bench/recovery-report.js';
import type { RecoveryRow } from '../src/bench/recovery-suite.js';
import { parseProcStat } from '../src/bench/os-helpers.js';
import { pgQuery } from '../src/bench/pg-wire.js';

const row = (mb: number, execMs: number, execColdMs: number | null): RecoveryRow => ({
  mb, writes: mb * 256, processMs: execMs - 300, processExecMs: execMs, processColdMs: execColdMs === null ? null : execColdMs - 300,
  processExecColdMs: execColdMs, processRunsMs: [execMs - 300], nodeMs: 300, writerMs: 8, replayMs: 100 * mb, hitRatio: 1,
});

describe('bench:recovery options', () => {
  it('defaults to 64,256,1024 and to 64,1024,4096 with --vs-postgres', () => {
    expect(parseRecoveryBenchArgs([]).sizes).toEqual([64, 256, 1024]);
    const v = parseRecoveryBenchArgs(['--vs-postgres']);
    expect(v).toMatchObject({ sizes: [64, 1024, 4096], vsPostgres: true, pgReps: 1, pgScale: 100, pgClients: 8, processReps: 3, cold: true });
    expect(parseRecoveryBenchArgs(['--vs-postgres', '--sizes', '64, 1024', '--pg-reps', '3', '--warm-only'])).toMatchObject({ sizes: [64, 1024], pgReps: 3, cold: false });
  });

  it('refuses bad values with a message naming the flag', () => {
    expect(() => parseRecoveryBenchArgs(['--sizes', '64,x'])).toThrow(/--sizes must be an integer/);
    expect(() => parseRecoveryBenchArgs(['--sizes', '64,64'])).toThrow(/--sizes must not repeat/);
    expect(() => parseRecoveryBenchArgs(['--sizes', '0'])).toThrow(/--sizes must be an integer from 1/);
    expect(() => parseRecoveryBenchArgs(['--pg-reps', '3'])).toThrow(/--pg-reps needs --vs-postgres/);
    expect(() => parseRecoveryBenchArgs(['--vs-postgres', '--pg-reps', '0'])).toThrow(/--pg-reps must be an integer from 1 to 20/);
    expect(() => parseRecoveryBenchArgs(['--vs-postgres', '--pg-scale', '1.5'])).toThrow(/--pg-scale/);
    expect(() => parseRecoveryBenchArgs(['--process-reps', '-1'])).toThrow(/--process-reps/);
    expect(() => parseRecoveryBenchArgs(['--vs-postgress'])).toThrow(/Unknown option '--vs-postgress'/);
  });
});

describe('PostgreSQL WAL arithmetic', () => {
  it('targets MiB of WAL and keeps max_wal_size far above the largest load', () => {
    expect(walTargetBytes(64)).toBe(64 * 1024 * 1024);
    expect(maxWalSizeMb([64, 1024])).toBe(16 * 1024);
    expect(maxWalSizeMb([64, 4096, 8192])).toBe(32 * 1024);
  });

  it('reads LSNs and the distance a recovery replayed from its log', () => {
    expect(lsnBytes('0/16B3740')).toBe(0x16b3740);
    expect(lsnBytes('1/0')).toBe(2 ** 32);
    expect(() => lsnBytes('16B3740')).toThrow(/not an LSN/);
    const log = [
      'LOG:  database system was interrupted; last known up at 2026-12-02 15:53:20 UTC',
      'LOG:  database system was not properly shut down; automatic recovery in progress',
      'LOG:  redo starts at 0/FF000028',
      'LOG:  redo done at 1/3F000100 system usage: CPU: user: 0.50 s, system: 0.20 s, elapsed: 0.80 s',
    ].join('\n');
    expect(replayedFromLog(log)).toBe(2 ** 32 + 0x3f000100 - 0xff000028);
    expect(replayedFromLog('LOG:  database system is ready to accept connections')).toBeNull();
  });

  it('takes medians and plans warm restarts before cold ones', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow();
    expect(restartPlan(2, true)).toEqual(['warm', 'warm', 'cold', 'cold']);
    expect(restartPlan(1, false)).toEqual(['warm']);
  });

  it('parses /proc/<pid>/stat even when the command name holds spaces and parentheses', () => {
    expect(parseProcStat('4242 (postgres: a (b) c) S 4200 4242 4242 0 -1')).toEqual({ pid: 4242, ppid: 4200, state: 'S' });
    expect(parseProcStat('garbage')).toBeNull();
  });
});

describe('tables and plot', () => {
  const pg: PgRecoveryResult = {
    skipped: null, version: 'postgres (PostgreSQL) 15.18', scale: 100, clients: 8, coldSkipped: null, probeMs: 2.5,
    rows: [
      { mb: 64, walBytes: 65 * 1024 * 1024, replayedBytes: 66 * 1024 * 1024, warmMs: 470, coldMs: 700, warmRunsMs: [470], coldRunsMs: [700] },
      { mb: 1024, walBytes: 1030 * 1024 * 1024, replayedBytes: null, warmMs: 5000, coldMs: 7200, warmRunsMs: [5000], coldRunsMs: [7200] },
    ],
  };
  const rows = [row(64, 50, 100), row(1024, 250, null)];

  it('pairs sizes and divides PostgreSQL by Auroral (from-fork figures)', () => {
    expect(ratioText(5000, 250)).toBe('20.0x');
    expect(ratioText(null, 250)).toBe('n/a');
    expect(ratioText(5000, null)).toBe('n/a');
    expect(vsPostgresRows(rows, pg.rows)).toEqual([
      { mb: 64, walMb: 66, auroralWarmMs: 50, auroralColdMs: 100, pgWarmMs: 470, pgColdMs: 700 },
      { mb: 1024, walMb: 1030, auroralWarmMs: 250, auroralColdMs: null, pgWarmMs: 5000, pgColdMs: 7200 },
    ]);
    const t = vsPostgresTable(rows, pg, 1, 3).split('\n');
    expect(t.find((l) => /^ +64 /.test(l))).toMatch(/64 +66 +50 +470 +9\.4x +100 +700 +7\.0x$/);
    expect(t.find((l) => /^ +1024 /.test(l))).toMatch(/1024 +1030 +250 +5000 +20\.0x +n\/a +7200 +n\/a$/);
  });

  it('draws PostgreSQL lines only when given, and skips missing points', () => {
    expect(recoveryPlot(rows)).not.toMatch(/PostgreSQL/);
    const svg = recoveryPlot(rows, pg.rows);
    expect(svg).toMatch(/PostgreSQL 15, warm/);
    expect(svg).toMatch(/PostgreSQL 15, cold/);
    expect(svg.match(/<polyline/g)).toHaveLength(7);
    expect(svg).not.toMatch(/NaN/);
  });
});

describe('wire-protocol probe', () => {
  let server: net.Server | null = null;
  afterEach(() => new Promise<void>((r) => (server === null ? r() : server.close(() => r()))));

  const msg = (type: string, body: Buffer): Buffer => {
    const head = Buffer.alloc(5);
    head.write(type, 0);
    head.writeInt32BE(4 + body.length, 1);
    return Buffer.concat([head, body]);
  };

  it('reports "starting up" as an error, then returns the row once the server answers', async () => {
    let starting = true;
    server = net.createServer((s) => {
      let queried = false;
      s.on('data', (d: Buffer) => {
        if (starting) {
          s.end(msg('E', Buffer.from('SFATAL\0C57P03\0Mthe database system is starting up\0\0')));
          return;
        }
        if (!queried && d[0] !== 0x51) {
          s.write(Buffer.concat([msg('R', Buffer.from([0, 0, 0, 0])), msg('S', Buffer.from('server_version\u000015.18\0')), msg('Z', Buffer.from('I'))]));
          return;
        }
        queried = true;
        const data = Buffer.alloc(2 + 4 + 1 + 4);
        data.writeInt16BE(2, 0);
        data.writeInt32BE(1, 2);
        data.write('0', 6);
        data.writeInt32BE(-1, 7);
        s.write(Buffer.concat([msg('T', Buffer.alloc(2)), msg('D', data), msg('C', Buffer.from('SELECT 1\0')), msg('Z', Buffer.from('I'))]));
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const a = { host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, user: 'postgres', database: 'postgres' };
    await expect(pgQuery(a, 'select 1')).rejects.toThrow(/FATAL: the database system is starting up/);
    starting = false;
    expect(await pgQuery(a, 'select abalance, null')).toEqual([['0', null]]);
  });
});
