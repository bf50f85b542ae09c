// Goal: the auroral CLI answers --help for every command, refuses bad flags with a clear message
// and exit status 2, runs a sweep into a table + results.json + report.html, reports tpcb-like
// transactions with consistent balances, and inspect finds every frame's CRC (and a damaged one).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { open } from '../src/index.js';
import { EPOCH_FILE, EPOCH_SLOT_BYTES } from '../src/node/epoch-store.js';
import type { BenchReport } from '../src/report/html.js';
import { smallOptions, tempDir } from './helpers.js';

const MAIN = path.resolve('dist/cli/main.js');
/** Small volumes so each point starts fast (the size options are coupled; see docs/tuning.md). */
const SMALL = ['--set', 'segmentBytes=1048576', '--set', 'valueBytesMax=16384', '--set', 'mtrBytesMax=65536',
  '--set', 'groupCommit.batchBytesMax=65536', '--set', 'nodeRingBytes=1048576', '--set', 'logRingBytes=1048576'];

function auroral(...args: string[]): { status: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

describe('auroral CLI', () => {
  it('prints --help for the tool and each command', () => {
    expect(auroral('--help').out).toMatch(/usage: auroral <command>/);
    for (const cmd of ['bench', 'profile', 'crash-test', 'inspect']) {
      const r = auroral(cmd, '--help');
      expect(r.status).toBe(0);
      expect(r.out).toMatch(new RegExp(`usage: auroral ${cmd}`));
    }
    expect(auroral('help', 'bench').out).toMatch(/--sweep PATH=V/);
  });

  it('refuses bad input with a message naming it and exit status 2', () => {
    const cases: [string[], RegExp][] = [
      [['bench', '--bogus'], /Unknown option '--bogus'/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['bench', '--seconds', 'x'], /--seconds must be a number/],
      [['bench', '--workload', 'tpcc'], /--workload must be one of put, write-only, tpcb-like, read-mostly/],
      [['bench', '--sweep', 'groupCommit.waitMicro=1,2'], /option 'groupCommit\.waitMicro' is not a known option/],
      [['bench', '--sweep', 'groupCommit.waitMicrosMax=-5'], /option 'groupCommit\.waitMicrosMax' must be between/],
      [['bench', '--sweep', 'inflight=0,4'], /inflight.*must be a positive integer/],
      [['bench', '--sweep', 'inflight'], /must look like path=value/],
      [['bench', '--sweep', 'inflight=1,1'], /lists a value twice/],
      [['bench', '--set', 'fsync=none,fsync'], /takes one value/],
      [['crash-test', '--sizes', '64,x'], /--sizes must be an integer/],
      [['inspect'], /DIR is required/],
      [['inspect', '/nonexistent-auroral'], /does not exist/],
    ];
    for (const [args, want] of cases) {
      const r = auroral(...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).toMatch(want);
    }
  });

  it('runs a sweep: table, results.json with every point, a self-contained report', () => {
    const out = tempDir();
    const r = auroral('bench', '--workload', 'put', '--sweep', 'groupCommit.waitMicrosMax=0,500', '--sweep', 'inflight=1,8',
      // Every commit sampled: at 1 in flight on a loaded machine 0.3 s may hold fewer than 32 LSNs.
      '--seconds', '0.3', '--warmup', '0.1', '--keys', '1000', '--set', 'metrics.sampleLsns=1', '--out', out, ...SMALL);
    expect(r.status, r.err).toBe(0);
    expect(r.out).toMatch(/groupCommit\.waitMicrosMax=500 inflight=8\s+[\d,]+/);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as BenchReport;
    expect(report.points.map((p) => p.label)).toEqual([
      'groupCommit.waitMicrosMax=0 inflight=1', 'groupCommit.waitMicrosMax=0 inflight=8',
      'groupCommit.waitMicrosMax=500 inflight=1', 'groupCommit.waitMicrosMax=500 inflight=8',
    ]);
    for (const p of report.points) {
      expect(p.ops).toBeGreaterThan(0);
      expect(p.commits.acknowledged).toBe(p.ops); // one put per op, every one durable
      expect(p.stages.samples).toBeGreaterThan(0);
      expect(p.options.segmentBytes).toBe(1048576);
    }
    expect(report.points[1]!.params.inflight).toBe(8);
    expect(report.points[2]!.options.groupCommit?.waitMicrosMax).toBe(500);
    // Baseline (b) once per in-flight level, measured in the same run; CPU per put of every thread.
    expect(report.baselines?.map((b) => b.inflight)).toEqual([1, 8]);
    for (const b of report.baselines!) expect(b.opsPerSec).toBeGreaterThan(0);
    if (fs.existsSync('/proc/thread-self')) {
      for (const p of report.points) {
        expect(p.cpuMicrosPerOp.map((t) => t.thread)).toEqual(['writer', 'group-commit', 'node-0', 'node-1', 'node-2', 'node-3', 'node-4', 'node-5', 'helpers']);
        for (const t of p.cpuMicrosPerOp.slice(0, 8)) expect(t.micros, t.thread).toBeGreaterThan(0);
      }
      expect(r.out).toMatch(/baseline \(b\) naive group commit, 8 in flight: [\d,]+ puts\/s.*auroral at 8 in flight = [\d.]+x, [\d.]+x of it/);
    }
    const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
    expect(html).not.toMatch(/<script src|<link |<img |(src|href)="?https?:|url\(/); // nothing fetched
    expect(html.match(/<svg /g)?.length).toBeGreaterThanOrEqual(9);
    expect(html).toMatch(/baseline \(b\) naive group commit/); // a line of the throughput chart
  });

  it('runs tpcb-like and reports transactions/s, percentiles and a consistency check', () => {
    const r = auroral('bench', '--workload', 'tpcb-like', '--scale', '2', '--inflight', '16', '--seconds', '0.5', '--warmup', '0', '--no-report', ...SMALL);
    expect(r.status, r.err).toBe(0);
    expect(r.out).toMatch(/tx\/s [\d,]+ +latency p50 [\d.]+ +p90 [\d.]+ +p99 [\d.]+/);
    expect(r.out).toMatch(/balances consistent \(\d+ transactions/);
  });

  it('crash-test times the three recovery paths and the replay baseline', () => {
    const out = tempDir();
    const r = spawnSync(process.execPath, [MAIN, 'crash-test', '--sizes', '2', '--keys', '256', '--value-bytes', '1024', '--threads', '1', '--out', out],
      { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/written MB +process restart +node restart +writer restart/);
    const res = JSON.parse(fs.readFileSync(path.join(out, 'recovery.json'), 'utf8')) as { rows: { mb: number; writes: number; processMs: number; nodeMs: number; writerMs: number; replayMs: number }[] };
    expect(res.rows).toHaveLength(1);
    const row = res.rows[0]!;
    expect(row.mb).toBe(2);
    expect(row.writes).toBe(2048);
    for (const ms of [row.processMs, row.nodeMs, row.writerMs, row.replayMs]) expect(ms).toBeGreaterThan(0);
    expect(fs.readFileSync(path.join(out, 'recovery-plot.svg'), 'utf8')).toMatch(/<polyline/);
  }, 120_000);

  it('inspect checks every frame and finds damage in the middle of a log', async () => {
    const dir = tempDir();
    const db = await open(smallOptions(dir));
    for (let i = 0; i < 50; i++) await db.put(`k${i}`, `v${i}`);
    await db.close();
    const ok = auroral('inspect', dir, '--json');
    expect(ok.status, ok.err).toBe(0);
    const v = JSON.parse(ok.out) as { epoch: number; quorumScl: number; perNode: { scl: number; framesChecked: number; scan: string }[] };
    expect(v.perNode).toHaveLength(6);
    for (const n of v.perNode) expect([n.scl, n.scan, n.framesChecked]).toEqual([50, 'clean', 50]);
    expect(v.quorumScl).toBe(50);
    // Flip a byte inside node 2's first frame: frames after it are intact, so this is corruption in the middle.
    const seg = path.join(dir, 'node-2', 'log', fs.readdirSync(path.join(dir, 'node-2', 'log')).filter((f) => f.endsWith('.log')).sort()[0]!);
    const fd = fs.openSync(seg, 'r+');
    fs.writeSync(fd, Buffer.from([0xff]), 0, 1, 70);
    fs.closeSync(fd);
    const bad = auroral('inspect', dir);
    expect(bad.status).toBe(1);
    expect(bad.out).toMatch(/node 2 \(AZ 1\): epoch \d+, SCL 0, scan corrupt-middle/);
    expect(bad.out).toMatch(/DAMAGED/);
    // An epoch file with neither slot intact is that node's damage, not a failure of the whole report.
    const epochFile = path.join(dir, 'node-5', EPOCH_FILE);
    const bytes = fs.readFileSync(epochFile);
    bytes[40]! ^= 1;
    bytes[EPOCH_SLOT_BYTES + 40]! ^= 1;
    fs.writeFileSync(epochFile, bytes);
    const both = auroral('inspect', dir);
    expect(both.status, both.err).toBe(1);
    expect(both.out).toMatch(/node 5 \(AZ 2\): epoch DAMAGED \(.*neither epoch slot is intact\), SCL 50, scan clean/);
  });
});
