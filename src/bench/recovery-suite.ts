// Crash-recovery timing suite (`auroral crash-test`, `npm run bench:recovery`): time to serve again
// after writing N MB, for the three recovery paths, against a full-replay baseline in the same run.
//
// For each size: a child process opens a fresh volume and overwrites a fixed key space until that
// many MB of values are acknowledged, then is killed with SIGKILL mid-flight (nothing closed).
//   process restart  openVolume() + attachWriter() + the first get answered (nodes scan their hot
//                    logs, fence, truncate, rebuild their indexes from page images + the log tail)
//   node restart     one node crashed and restarted under the open volume, until its SCL is VDL
//   writer restart   db.faults.killWriter() then volume.attachWriter() + the first get (nodes stay up)
//   full replay      what an engine without this architecture must do at restart: read the whole
//                    redo log of the same writes, CRC-check and decode every frame, apply every
//                    record (parallel over `threads` piscina workers, merged in LSN order)
// Files are warm in the page cache for every path (the same machine just wrote them).
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Piscina } from 'piscina';
import { Bench } from 'tinybench';
import { openVolume } from '../writer/volume.js';
import { fillKey, fillValue } from '../cli/fill.js';
import { workerUrl } from '../shared/paths.js';
import { FRAME_HEADER_BYTES } from '../config.js';
import { encodeRecord, Op, pageIdOf, recordBytes } from '../log/record.js';
import { sealFrame } from '../log/frame.js';

export interface RecoverySuiteOptions {
  /** Megabytes of values written before each SIGKILL. */
  sizes: number[];
  keys: number;
  valueBytes: number;
  /** Threads of the full-replay baseline. */
  threads: number;
  /** Parent of the temporary volume directories. */
  baseDir?: string;
  log?: (line: string) => void;
}

export interface RecoveryRow { mb: number; writes: number; processMs: number; nodeMs: number; writerMs: number; replayMs: number; hitRatio: number }

function p50(bench: Bench, task: string): number {
  const r = bench.getTask(task)?.result;
  if (r === undefined || !('latency' in r)) throw new Error(`${task}: no result`);
  return r.latency.p50!;
}

export async function runRecoverySuite(o: RecoverySuiteOptions): Promise<RecoveryRow[]> {
  const { keys, valueBytes, threads } = o;
  const log = o.log ?? ((line: string) => console.log(line));
  const rows: RecoveryRow[] = [];
  const pool = new Piscina({ filename: workerUrl('bench/replay-worker.js').href, maxThreads: threads, minThreads: threads });
  /** The same writes, as a plain redo log of 1 MiB frames (the baseline's input). */
  function writeRedoLog(file: string, writes: number): void {
    const fd = fs.openSync(file, 'w');
    const buf = new Uint8Array(FRAME_HEADER_BYTES + (1 << 20) + recordBytes(32, valueBytes));
    const view = new DataView(buf.buffer);
    let at = FRAME_HEADER_BYTES;
    let lsn = 1;
    let lsnFirst = 1;
    let lsnPrev = 0;
    let count = 0;
    const flush = (): void => {
      sealFrame(buf, view, 0, { payloadBytes: at - FRAME_HEADER_BYTES, recordCount: count, epoch: 1, batchSeq: 0, lsnPrev, lsnFirst, lsnLast: lsn - 1, lsnReadMin: 0, vdlLag: lsnPrev });
      fs.writeSync(fd, buf, 0, at);
      lsnPrev = lsn - 1;
      lsnFirst = lsn;
      at = FRAME_HEADER_BYTES;
      count = 0;
    };
    for (let i = 0; i < writes; i++) {
      const k = Buffer.from(fillKey(i, keys));
      at += encodeRecord(buf, view, at, Op.PUT, true, lsn++, pageIdOf(k, 1 << 16), k, fillValue(i, valueBytes));
      count++;
      if (at - FRAME_HEADER_BYTES >= 1 << 20) flush();
    }
    if (count > 0) flush();
    fs.fsyncSync(fd);
    fs.closeSync(fd);
  }

  /** Splits the log into `threads` ranges of whole frames, replays them in parallel, merges in order. */
  async function fullReplay(file: string): Promise<Map<string, Uint8Array | null>> {
    const size = fs.statSync(file).size;
    const fd = fs.openSync(file, 'r');
    const cuts = [0];
    const head = Buffer.alloc(12);
    for (let pos = 0; pos < size;) {
      fs.readSync(fd, head, 0, 12, pos);
      pos += FRAME_HEADER_BYTES + head.readUInt32LE(8);
      if (pos < size && pos >= (size / threads) * cuts.length) cuts.push(pos);
    }
    fs.closeSync(fd);
    cuts.push(size);
    const parts = await Promise.all(cuts.slice(0, -1).map((start, i) => pool.run({ file, start, end: cuts[i + 1]! })));
    const state = new Map<string, Uint8Array | null>();
    for (const p of parts as { state: Map<string, Uint8Array | null> }[]) for (const [k, v] of p.state) state.set(k, v);
    return state;
  }

  async function fill(dir: string, mb: number): Promise<number> {
    const child = fork(fileURLToPath(workerUrl('cli/fill.js')), [dir, String(mb), String(keys), String(valueBytes), '{}'], { stdio: 'inherit' });
    const filled = await new Promise<number>((resolve, reject) => {
      child.once('message', (m: { filled: number }) => resolve(m.filled));
      child.once('exit', (code) => reject(new Error(`fill child exited with ${code}`)));
    });
    child.removeAllListeners('exit');
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    return filled;
  }

  try {
    for (const mb of o.sizes) {
      const dir = fs.mkdtempSync(path.join(o.baseDir ?? os.tmpdir(), 'auroral-recovery-'));
      try {
        const t = performance.now();
        const writes = await fill(dir, mb);
        log(`${mb} MB: ${writes} writes acknowledged in ${((performance.now() - t) / 1000).toFixed(1)} s, then SIGKILL`);
        const lastKey = fillKey(writes - 1, keys);
        const want = fillValue(writes - 1, valueBytes);
        const check = (got: Uint8Array | undefined | null, what: string): void => {
          if (got === undefined || got === null || Buffer.compare(got, want) !== 0) throw new Error(`${what}: ${lastKey} does not hold its last acknowledged value`);
        };

        // Process restart (one shot: it needs a fresh SIGKILL each time).
        let t0 = performance.now();
        const volume = await openVolume({ dir });
        let db = await volume.attachWriter();
        check(await db.get(lastKey), 'process restart');
        const processMs = performance.now() - t0;

        const bench = new Bench({ name: `recovery ${mb} MB`, iterations: 5, time: 0, warmup: false, throws: true });
        let hitRatio = 0;
        bench.add('node restart', async () => {
          await db.faults.crashNode(3);
          await db.faults.restartNode(3);
          while (db.stats().nodes[3]!.scl < db.vdl) await new Promise((r) => setTimeout(r, 1));
        });
        bench.add('writer restart', async () => {
          for (let i = 0; i < 512; i++) await db.get(fillKey(writes - 1 - i, keys)); // the working set, cached
          const inflight = Array.from({ length: 64 }, (_, i) => db.put(fillKey(i, keys), fillValue(i, valueBytes)).catch(() => {}));
          await db.faults.killWriter();
          await Promise.all(inflight);
          db = await volume.attachWriter();
          check(await db.get(lastKey), 'writer restart');
          const before = db.stats().cache;
          for (let i = 0; i < 512; i++) await db.get(fillKey(writes - 1 - i, keys));
          const after = db.stats().cache;
          hitRatio = (after.hits - before.hits) / Math.max(1, after.hits - before.hits + after.misses - before.misses);
        });
        await bench.run();
        const nodeMs = p50(bench, 'node restart');
        // The attach itself (kill, attach, first get), not the cache warm-up reads around it.
        const writerRuns: number[] = [];
        for (let r = 0; r < 5; r++) {
          await db.faults.killWriter();
          t0 = performance.now();
          db = await volume.attachWriter();
          check(await db.get(lastKey), 'writer restart');
          writerRuns.push(performance.now() - t0);
        }
        writerRuns.sort((x, y) => x - y);
        await volume.close();

        const redo = path.join(dir, 'redo.log');
        writeRedoLog(redo, writes);
        const replay = new Bench({ name: `full replay ${mb} MB`, iterations: 3, time: 0, warmup: true, warmupIterations: 1, throws: true });
        replay.add('full replay', async () => {
          const state = await fullReplay(redo);
          check(state.get(lastKey), 'full replay');
        });
        await replay.run();
        const replayMs = p50(replay, 'full replay');
        rows.push({ mb, writes, processMs, nodeMs, writerMs: writerRuns[2]!, replayMs, hitRatio });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await pool.destroy();
  }
  return rows;
}

/** The rows as printed by both front ends. */
export function recoveryTable(rows: RecoveryRow[], threads: number): string {
  const head = ['written MB', 'process restart', 'node restart', 'writer restart', 'cache hits after writer restart', 'full replay', 'replay / process restart'];
  const cells = rows.map((r) => [String(r.mb), r.processMs.toFixed(0), r.nodeMs.toFixed(0), r.writerMs.toFixed(1), `${(r.hitRatio * 100).toFixed(0)}%`,
    r.replayMs.toFixed(0), `${(r.replayMs / r.processMs).toFixed(1)}x`]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => c.map((x, i) => x.padStart(widths[i]!)).join('  ');
  return [`recovery time to serve again (ms; node and writer restart: median of 5; full replay: median of 3, ${threads} threads)`,
    line(head), ...cells.map(line)].join('\n');
}

/** Recovery time against data written, one line per path, log-scaled time axis (SVG). */
export function recoveryPlot(rows: RecoveryRow[]): string {
  type Row = RecoveryRow;
  // The plot: recovery time against data written, one line per path, log-scaled time axis.
  const W = 640, H = 360, L = 70, R = 150, T = 30, B = 50;
  const maxMb = Math.max(...rows.map((r) => r.mb));
  const all = rows.flatMap((r) => [r.processMs, r.nodeMs, r.writerMs, r.replayMs]).filter((v) => v > 0);
  const lo = Math.log10(Math.max(0.1, Math.min(...all) / 2)), hi = Math.log10(Math.max(...all) * 2);
  const x = (mb: number) => L + (mb / maxMb) * (W - L - R);
  const y = (ms: number) => T + (1 - (Math.log10(Math.max(ms, 0.1)) - lo) / (hi - lo)) * (H - T - B);
  const series: [string, string, (r: Row) => number][] = [
    ['full replay', '#d62728', (r) => r.replayMs], ['process restart', '#1f77b4', (r) => r.processMs],
    ['node restart', '#2ca02c', (r) => r.nodeMs], ['writer restart', '#9467bd', (r) => r.writerMs],
  ];
  const ticks: string[] = [];
  for (let e = Math.ceil(lo); e <= Math.floor(hi); e++) ticks.push(`<line x1="${L}" x2="${W - R}" y1="${y(10 ** e)}" y2="${y(10 ** e)}" stroke="#ddd"/><text x="${L - 6}" y="${y(10 ** e) + 4}" text-anchor="end" font-size="11">${10 ** e >= 1 ? 10 ** e : (10 ** e).toFixed(1)}</text>`);
  for (const r of rows) ticks.push(`<text x="${x(r.mb)}" y="${H - B + 16}" text-anchor="middle" font-size="11">${r.mb}</text>`);
  const lines = series.map(([name, color, f], k) => {
    const pts = rows.map((r) => `${x(r.mb).toFixed(1)},${y(f(r)).toFixed(1)}`).join(' ');
    return `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts}"/>` +
      rows.map((r) => `<circle cx="${x(r.mb).toFixed(1)}" cy="${y(f(r)).toFixed(1)}" r="3" fill="${color}"/>`).join('') +
      `<text x="${W - R + 10}" y="${T + 16 + k * 18}" font-size="12" fill="${color}">${name}</text>`;
  }).join('\n');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
  <rect width="100%" height="100%" fill="white"/>
  <text x="${L}" y="18" font-size="13">Time to serve again after a crash (ms, log scale) vs data written (MB)</text>
  ${ticks.join('\n')}
  <line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#333"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#333"/>
  <text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle" font-size="12">MB written</text>
  ${lines}
  </svg>\n`;
  return svg;
}
