// CPU time per thread, from the kernel's own accounting, so a benchmark can show the cost model
// (microseconds of CPU per put on the writer, the group-commit thread, each node, and V8's / libuv's
// helper threads) rather than throughput alone. Node does not name its threads (every one is
// "node" in /proc), so each Auroral worker publishes its kernel thread id (tid) in its stats block
// and everything else in the process is counted as "helpers" (V8's platform workers and GC, libuv's
// pool, the inspector).
//
// Source: /proc/self/task/<tid>/schedstat, first field = nanoseconds on CPU (exact, unlike
// /proc/.../stat's utime+stime in 10 ms ticks, which is the fallback). Linux only: elsewhere
// ownTid() is -1 and readThreadCpu() is empty, and callers print nothing.
import * as fs from 'node:fs';

/** This thread's kernel tid (the main thread's is the pid), or -1 where /proc is not there. */
export function ownTid(): number {
  try {
    const link = fs.readlinkSync('/proc/thread-self'); // "<pid>/task/<tid>"
    const tid = Number(link.slice(link.lastIndexOf('/') + 1));
    return Number.isInteger(tid) && tid > 0 ? tid : -1;
  } catch {
    return -1;
  }
}

const TICK_NANOS = 1e7; // USER_HZ is 100 on every Linux we run on

/** Nanoseconds on CPU so far of every live thread of this process, by tid (empty off Linux). */
export function readThreadCpu(): Map<number, number> {
  const out = new Map<number, number>();
  let tids: string[];
  try {
    tids = fs.readdirSync('/proc/self/task');
  } catch {
    return out;
  }
  for (const t of tids) {
    const tid = Number(t);
    try {
      const s = fs.readFileSync(`/proc/self/task/${t}/schedstat`, 'latin1');
      out.set(tid, Number(s.slice(0, s.indexOf(' '))));
    } catch {
      try { // no schedstat (kernel without CONFIG_SCHED_INFO): utime + stime in ticks
        const s = fs.readFileSync(`/proc/self/task/${t}/stat`, 'latin1');
        const f = s.slice(s.lastIndexOf(')') + 2).split(' '); // comm may hold spaces
        out.set(tid, (Number(f[11]) + Number(f[12])) * TICK_NANOS);
      } catch {
        // the thread exited between readdir and read: its time is lost, as it would be anyway
      }
    }
  }
  return out;
}

/** A thread's share of a measured interval. */
export interface ThreadCpuShare {
  /** 'writer', 'group-commit', 'node-3', or 'helpers' (every other thread of the process). */
  thread: string;
  /** CPU microseconds spent in the interval. */
  micros: number;
}

/**
 * CPU spent by each named thread between two readThreadCpu() samples, plus one 'helpers' row for
 * every other thread of the process. A thread that exited between the samples is not counted; one
 * started between them counts from zero.
 */
export function cpuBetween(before: Map<number, number>, after: Map<number, number>, names: ReadonlyMap<number, string>): ThreadCpuShare[] {
  const named = new Map<string, number>();
  for (const name of names.values()) named.set(name, 0);
  let helpers = 0;
  for (const [tid, ns] of after) {
    const d = (ns - (before.get(tid) ?? 0)) / 1000;
    const name = names.get(tid);
    if (name === undefined) helpers += d;
    else named.set(name, named.get(name)! + d);
  }
  return [...[...named].map(([thread, micros]) => ({ thread, micros })), { thread: 'helpers', micros: helpers }];
}
