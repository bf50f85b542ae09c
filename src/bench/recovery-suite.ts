// Crash-recovery timing suite (`auroral crash-test`, `npm run bench:recovery`): time to serve again
// after writing N MB, for the three recovery paths, against a full-replay baseline in the same run.
//
// For each size: a child process opens a fresh volume and overwrites a fixed key space until that
// many MB of values are acknowledged, then is killed with SIGKILL mid-flight (nothing closed).
//   process restart  a new process (restart-child.ts): openVolume() + attachWriter() + the first
//                    get answered (nodes scan their hot logs, fence, truncate, rebuild their indexes
//                    from page images + the log tail); that process is SIGKILLed in turn, leaving
//                    the volume crashed again, so it is timed `processReps` times warm (median) and
//                    once more with the page cache dropped (cold; root only). Two clocks: inside
//                    the process (open → get) and from its fork (Node start-up and module loading
//                    included: the figure compared with PostgreSQL's restart, which starts a process too)
//   node restart     one node crashed and restarted under the open volume, until its SCL is VDL
//                    (300 ms apart: the restart finds the spare node thread up, as in steady state)
//   writer restart   db.faults.killWriter() then volume.attachWriter() + the first get (nodes stay up)
//   full replay      what an engine without this architecture must do at restart: read the whole
//                    redo log of the same writes, CRC-check and decode every frame, apply every
//                    record (parallel over `threads` piscina workers, merged in LSN order)
// Before every process restart the page cache is written back (sync) outside the clock. Node and
// writer restart and full replay run warm (the same machine just wrote and read the files).
import { fork, type ChildProcess } from 'node:child_process';
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
import { dropPageCache, isRoot, killQuietly, onInterrupt, syncAll } from './os-helpers.js';
import { median } from './postgres-recovery.js';

/** Pause before each timed node restart (not timed): the previous restart's spare thread starts. */
const NODE_RESTART_SETTLE_MS = 300;

export interface RecoverySuiteOptions {
  /** Megabytes of values written before each SIGKILL. */
  sizes: number[];
  keys: number;
  valueBytes: number;
  /** Threads of the full-replay baseline. */
  threads: number;
  /** Parent of the temporary volume directories. */
  baseDir?: string;
  /** Warm process restarts per size (the figure is their median). */
  processReps?: number;
  /** Also time a process restart with the page cache dropped (needs root). */
  cold?: boolean;
  log?: (line: string) => void;
}

export interface RecoveryRow {
  mb: number;
  writes: number;
  /** Process restart, warm, median: openVolume → first get, timed inside the new process. */
  processMs: number;
  /** The same restarts timed from the fork of the process (Node start-up included). */
  processExecMs: number;
  /** One process restart with the page cache dropped (null: not measured). */
  processColdMs: number | null;
  processExecColdMs: number | null;
  /** Every warm restart, open → get, in order (a drift would show recovery leaving less to do). */
  processRunsMs: number[];
  nodeMs: number;
  writerMs: number;
  replayMs: number;
  hitRatio: number;
}

function p50(bench: Bench, task: string): number {
  const r = bench.getTask(task)?.result;
  if (r === undefined || !('latency' in r)) throw new Error(`${task}: no result`);
  return r.latency.p50!;
}

export async function runRecoverySuite(o: RecoverySuiteOptions): Promise<RecoveryRow[]> {
  const { keys, valueBytes, threads } = o;
  const log = o.log ?? ((line: string) => console.log(line));
  const processReps = o.processReps ?? 3;
  let coldSkipped: string | null = o.cold !== false ? (isRoot() ? null : 'not root (dropping the page cache needs root)') : 'not asked';
  if (o.cold !== false && coldSkipped !== null) log(`process restart: no cold figure: ${coldSkipped}`);
  const live = new Set<ChildProcess>();
  let liveDir: string | null = null;
  const offInterrupt = onInterrupt(() => {
    for (const c of live) if (c.pid !== undefined) killQuietly(c.pid, 'SIGKILL');
    if (liveDir !== null) fs.rmSync(liveDir, { recursive: true, force: true });
  });
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
    live.add(child);
    const filled = await new Promise<number>((resolve, reject) => {
      child.once('message', (m: { filled: number }) => resolve(m.filled));
      child.once('exit', (code) => reject(new Error(`fill child exited with ${code}`)));
    }).catch((e: unknown) => {
      live.delete(child);
      throw e;
    });
    child.removeAllListeners('exit');
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    live.delete(child);
    return filled;
  }

  /** One process restart in a new process, SIGKILLed once it answered. */
  async function restart(dir: string, writes: number): Promise<{ openMs: number; execMs: number }> {
    const t0 = performance.now();
    // No execArgv: the bench itself may run under tsx, whose loader would slow the child's start-up.
    const child = fork(fileURLToPath(workerUrl('bench/restart-child.js')), [dir, fillKey(writes - 1, keys), String(writes - 1), String(valueBytes)],
      { stdio: 'inherit', execArgv: [] });
    live.add(child);
    const exited = new Promise((r) => child.once('exit', r));
    try {
      type Report = { openMs?: number; error?: string };
      const m = await Promise.race([
        new Promise<Report>((r) => child.once('message', r)),
        exited.then((): Report => ({ error: `restart child exited with ${child.exitCode ?? child.signalCode}` })),
      ]);
      const execMs = performance.now() - t0;
      if (m.error !== undefined || m.openMs === undefined) throw new Error(`process restart: ${m.error}`);
      return { openMs: m.openMs, execMs };
    } finally {
      child.kill('SIGKILL');
      await exited;
      live.delete(child);
    }
  }

  try {
    for (const mb of o.sizes) {
      const dir = fs.mkdtempSync(path.join(o.baseDir ?? os.tmpdir(), 'auroral-recovery-'));
      liveDir = dir;
      try {
        const t = performance.now();
        const writes = await fill(dir, mb);
        log(`${mb} MB: ${writes} writes acknowledged in ${((performance.now() - t) / 1000).toFixed(1)} s, then SIGKILL`);
        const lastKey = fillKey(writes - 1, keys);
        const want = fillValue(writes - 1, valueBytes);
        const check = (got: Uint8Array | undefined | null, what: string): void => {
          if (got === undefined || got === null || Buffer.compare(got, want) !== 0) throw new Error(`${what}: ${lastKey} does not hold its last acknowledged value`);
        };

        // Process restarts: each new process is SIGKILLed after its first get, leaving a crashed volume again.
        const warm: { openMs: number; execMs: number }[] = [];
        for (let r = 0; r < processReps; r++) {
          syncAll();
          warm.push(await restart(dir, writes));
        }
        let cold: { openMs: number; execMs: number } | null = null;
        if (coldSkipped === null) {
          coldSkipped = dropPageCache();
          if (coldSkipped === null) cold = await restart(dir, writes);
          else log(`process restart: no cold figure: ${coldSkipped}`);
        }
        log(`${mb} MB: process restart warm ${warm.map((w) => `${w.openMs.toFixed(0)}/${w.execMs.toFixed(0)}`).join(', ')}` +
          `${cold === null ? '' : `, cold ${cold.openMs.toFixed(0)}/${cold.execMs.toFixed(0)}`} ms (open → get / from fork)`);

        const volume = await openVolume({ dir });
        let db = await volume.attachWriter();
        check(await db.get(lastKey), 'open for the node and writer restarts');

        const bench = new Bench({ name: `recovery ${mb} MB`, iterations: 5, time: 0, warmup: false, throws: true });
        let hitRatio = 0;
        bench.add('node restart', async () => {
          await db.faults.crashNode(3);
          await db.faults.restartNode(3);
          while (db.stats().nodes[3]!.scl < db.vdl) await new Promise((r) => setTimeout(r, 1));
        }, {
          // A node crash in steady state, not right after the last one: the spare node thread a
          // restart starts (Cluster.scheduleSpareNode) is up again by then.
          beforeEach: () => new Promise<void>((r) => setTimeout(r, NODE_RESTART_SETTLE_MS)),
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
          const t0 = performance.now();
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
        rows.push({
          mb, writes, processMs: median(warm.map((w) => w.openMs)), processExecMs: median(warm.map((w) => w.execMs)),
          processColdMs: cold?.openMs ?? null, processExecColdMs: cold?.execMs ?? null, processRunsMs: warm.map((w) => w.openMs),
          nodeMs, writerMs: writerRuns[2]!, replayMs, hitRatio,
        });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
        liveDir = null;
      }
    }
  } finally {
    offInterrupt();
    await pool.destroy();
  }
  return rows;
}
