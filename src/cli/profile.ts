// `auroral profile`: runs one bench point in a child process under 0x (a flamegraph of the writer,
// i.e. the main thread) with --cpu-prof (a .cpuprofile of every thread), names each profile after
// its thread (writer, group-commit, node-0..5) and prints where each thread spends its time.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { workerUrl } from '../shared/paths.js';
import { workloadNames } from '../workload/index.js';
import { numberFlag, oneOfFlag, parseFlags, UsageError } from './args.js';

export const profileUsage = `usage: auroral profile [--workload NAME] [--seconds N] [--out DIR] [workload flags]

Runs one bench point (see auroral bench --help) in a child process under 0x and node --cpu-prof:
  DIR/writer-flamegraph/flamegraph.html   0x flamegraph of the writer (main) thread
  DIR/threads/<thread>.cpuprofile         CPU profile of every thread: writer, group-commit,
                                          node-0 .. node-5 (open in Chrome DevTools > Performance,
                                          or speedscope); a summary of each is printed
  --workload NAME   ${workloadNames.join(' | ')} (default put)
  --seconds N       measured seconds (default 10)
  --out DIR         output directory (default profiles/<time>)
  --top N           functions listed per thread (default 8)
Workload flags passed on to the bench: --inflight --value-bytes --keys --tables --scale
--read-percent --seed --set --fsync --warmup.`;

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

export interface ThreadSummary {
  thread: string;
  file: string;
  sampledMs: number;
  /** Running JavaScript or native code (not idle in the event loop, not blocked in Atomics.wait). */
  busyPercent: number;
  /** Blocked in Atomics.wait: the profiler charges it to the caller, Control.park (shared/control). */
  parkedPercent: number;
  top: { percent: number; name: string }[];
}

/** Per thread: the share of samples that were idle, and the top functions by self time. */
export function summarizeProfile(file: string, thread: string, top: number): ThreadSummary {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    const n = byId.get(id)!;
    const where = n.callFrame.url === '' ? '' : ` ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}`;
    const name = `${n.callFrame.functionName || '(anonymous)'}${where}`;
    self.set(name, (self.get(name) ?? 0) + dt);
    total += dt;
  });
  const idle = self.get('(idle)') ?? 0;
  const isPark = (k: string): boolean => k.startsWith('park ') && k.includes('shared/control');
  const parked = [...self.entries()].filter(([k]) => isPark(k)).reduce((a, [, v]) => a + v, 0);
  const pct = (v: number): number => (total === 0 ? 0 : (100 * v) / total);
  return {
    thread, file, sampledMs: total / 1000, busyPercent: pct(total - idle - parked), parkedPercent: pct(parked),
    top: [...self.entries()].filter(([k]) => k !== '(idle)' && !isPark(k)).sort((a, b) => b[1] - a[1]).slice(0, top)
      .map(([name, us]) => ({ percent: (100 * us) / Math.max(1, total), name })),
  };
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'inherit', env });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
  });
}

export async function profile(args: string[]): Promise<void> {
  const { values: a } = parseFlags(args, {
    workload: { type: 'string' }, seconds: { type: 'string' }, out: { type: 'string' }, top: { type: 'string' },
    inflight: { type: 'string' }, 'value-bytes': { type: 'string' }, keys: { type: 'string' }, tables: { type: 'string' },
    scale: { type: 'string' }, 'read-percent': { type: 'string' }, seed: { type: 'string' }, set: { type: 'string', multiple: true },
    fsync: { type: 'string' }, warmup: { type: 'string' },
  });
  if (a.help === true) {
    console.log(profileUsage);
    return;
  }
  const workload = oneOfFlag('workload', a.workload, workloadNames, 'put');
  const seconds = numberFlag('seconds', a.seconds, 10, 0.1, 3600);
  const top = numberFlag('top', a.top, 8, 1, 100);
  let zeroX: string;
  try {
    zeroX = createRequire(import.meta.url).resolve('0x/cmd.js');
  } catch {
    throw new UsageError('0x is not installed: run `npm install` in the auroral checkout (it is a development dependency)');
  }
  const out = path.resolve(a.out ?? path.join('profiles', new Date().toISOString().replace(/[:]/g, '-').replace(/\..*/, '')));
  const flameDir = path.join(out, 'writer-flamegraph');
  const threadsDir = path.join(out, 'threads');
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(threadsDir, { recursive: true });
  const mapFile = path.join(threadsDir, 'threads.json');

  const forwarded = ['--workload', workload, '--seconds', String(seconds), '--no-report'];
  for (const f of ['inflight', 'value-bytes', 'keys', 'tables', 'scale', 'read-percent', 'seed', 'fsync', 'warmup'] as const) {
    if (a[f] !== undefined) forwarded.push(`--${f}`, a[f]);
  }
  for (const s of a.set ?? []) forwarded.push('--set', s);
  // The child is the built CLI (workers must be JavaScript), whether this runs from dist or src.
  const mainJs = fileURLToPath(workerUrl('cli/main.js'));
  console.log(`auroral profile: ${workload} for ${seconds} s under 0x and --cpu-prof, into ${out}`);
  const code = await run(process.execPath, [zeroX, '--quiet', '-D', flameDir, '--', process.execPath, '--cpu-prof', `--cpu-prof-dir=${threadsDir}`,
    mainJs, 'bench', '--no-baselines', ...forwarded], { ...process.env, AURORAL_THREAD_MAP: mapFile });
  if (code !== 0) throw new Error(`the profiled bench exited with status ${code}`);

  // CPU.<date>.<time>.<pid>.<threadId>.<seq>.cpuprofile -> <thread>.cpuprofile
  const names = fs.existsSync(mapFile) ? (JSON.parse(fs.readFileSync(mapFile, 'utf8')) as Record<string, string>) : {};
  const summaries: ThreadSummary[] = [];
  for (const f of fs.readdirSync(threadsDir).filter((x) => x.startsWith('CPU.') && x.endsWith('.cpuprofile'))) {
    const tid = f.split('.')[4]!;
    const thread = names[tid] ?? `thread-${tid}`;
    const file = path.join(threadsDir, `${thread}.cpuprofile`);
    fs.renameSync(path.join(threadsDir, f), file);
    summaries.push(summarizeProfile(file, thread, top));
  }
  const order = (t: string): string => (t === 'writer' ? '0' : t.startsWith('group') ? '1' : `2${t}`);
  summaries.sort((x, y) => order(x.thread).localeCompare(order(y.thread)));
  for (const s of summaries) {
    console.log(`\n${s.thread}: ${s.sampledMs.toFixed(0)} ms sampled, busy ${s.busyPercent.toFixed(1)}%, parked in Atomics.wait ${s.parkedPercent.toFixed(1)}%   (${s.file})`);
    for (const t of s.top) console.log(`  ${t.percent.toFixed(1).padStart(5)}%  ${t.name}`);
  }
  fs.writeFileSync(path.join(out, 'summary.json'), `${JSON.stringify(summaries, null, 1)}\n`);
  const flame = path.join(flameDir, 'flamegraph.html');
  console.log(`\nwriter flamegraph: ${fs.existsSync(flame) ? flame : `(0x wrote no ${flame})`}`);
  console.log(`thread profiles:   ${threadsDir}/{${summaries.map((s) => s.thread).join(',')}}.cpuprofile`);
  console.log(`summary:           ${path.join(out, 'summary.json')}`);
}
