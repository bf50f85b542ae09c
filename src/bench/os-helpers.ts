// Host helpers for the recovery benchmarks: dropping the page cache (for cold figures), finding a
// process's children and waiting until processes are gone (a SIGKILLed server's backends), and
// cleanup that also runs on Ctrl-C (servers, children and temp dirs must not outlive a benchmark).
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

export const isRoot = (): boolean => process.getuid?.() === 0;

/**
 * `sync; echo 3 > /proc/sys/vm/drop_caches`, so the next restart reads every file from disk.
 * → null when done, else why not (not root, or /proc/sys read-only in a container).
 */
export function dropPageCache(): string | null {
  if (!isRoot()) return 'not root (dropping the page cache needs root)';
  spawnSync('sync');
  try {
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
    return null;
  } catch (e) {
    return `cannot write /proc/sys/vm/drop_caches: ${(e as Error).message}`;
  }
}

/** Dirty pages written back before a timed restart, so the clock measures recovery, not the load's writeback. */
export function syncAll(): void {
  spawnSync('sync');
}

/** The pid, parent pid and state of a /proc/<pid>/stat line (the command name may hold spaces and parentheses). */
export function parseProcStat(line: string): { pid: number; ppid: number; state: string } | null {
  const close = line.lastIndexOf(')');
  if (close < 0) return null;
  const rest = line.slice(close + 2).split(' ');
  const pid = Number(line.slice(0, line.indexOf(' ')));
  const ppid = Number(rest[1]);
  if (!Number.isInteger(pid) || !Number.isInteger(ppid) || rest[0] === undefined) return null;
  return { pid, ppid, state: rest[0] };
}

function procStat(pid: number): { pid: number; ppid: number; state: string } | null {
  try {
    return parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** Live children of `pid` (Linux /proc). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = procStat(Number(name));
    if (s !== null && s.ppid === pid && s.state !== 'Z') out.push(s.pid);
  }
  return out;
}

/** Gone or a zombie (a zombie holds no memory, files or locks; pid 1 here may never reap it). */
export function isGone(pid: number): boolean {
  const s = procStat(pid);
  return s === null || s.state === 'Z';
}

export function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Waits until every pid is gone, up to `timeoutMs`; → the pids still there. */
export async function waitGone(pids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const left = pids.filter((p) => !isGone(p));
    if (left.length === 0 || performance.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * A detached shell that runs `script` once this process is gone, however it went (a SIGKILL, or a
 * wrapper such as tsx or npm killing it in the middle of its own cleanup); stop() ends it after a
 * normal cleanup. It is what takes down a server started detached, which would otherwise outlive us.
 */
export function startGuardian(script: string): { stop(): void } {
  // alive: exists and is not a zombie (pid 1 here may never reap one). `script` may call it.
  const alive = `alive() { [ -e /proc/$1/stat ] && ! grep -q ') Z ' /proc/$1/stat; }; `;
  const child = spawn('sh', ['-c', `${alive}while alive ${process.pid}; do sleep 0.2; done; ${script}`], { detached: true, stdio: 'ignore' });
  child.unref();
  return { stop: () => (child.pid === undefined || child.exitCode !== null ? undefined : killQuietly(child.pid, 'SIGKILL')) };
}

type Cleanup = () => void | Promise<void>;
const cleanups = new Set<Cleanup>();
let installed = false;
let exiting = false;

/** A SIGINT or SIGTERM arrived and the cleanups run: errors of the interrupted work are expected then. */
export const interrupted = (): boolean => exiting;

/**
 * Runs `f` if the process gets SIGINT or SIGTERM before the returned function is called; the
 * process then exits with 130 or 143. Cleanups run one at a time, newest first, and must not block
 * the event loop for long: under tsx the parent waits ~30 ms for the child's IPC word that the
 * signal arrived, and SIGKILLs it otherwise (a blocking cleanup was cut short that way).
 */
export function onInterrupt(f: Cleanup): () => void {
  if (!installed) {
    installed = true;
    for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
      process.on(signal, () => {
        if (exiting) return;
        exiting = true;
        console.error(`\n${signal}: cleaning up`);
        void (async () => {
          for (const c of [...cleanups].reverse()) {
            try {
              await c();
            } catch (e) {
              console.error(`cleanup: ${(e as Error).message}`);
            }
          }
          process.exit(code);
        })();
      });
    }
  }
  cleanups.add(f);
  return () => cleanups.delete(f);
}
