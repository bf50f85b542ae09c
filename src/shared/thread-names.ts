// Which worker thread is which (threadId -> "node-3", "group-commit"), for `auroral profile`: Node
// names each thread's .cpuprofile by thread id only. The cluster registers every worker it starts;
// when AURORAL_THREAD_MAP names a file, the map is written there as the process exits. Without it
// nothing is kept: a long-lived process restarts nodes and attaches writers without bound, and a
// map nobody reads would grow with every one of them.
import * as fs from 'node:fs';

const names = new Map<number, string>([[0, 'writer']]);
/** Threads registered per base name, for the suffix of the next one (node-3.1, group-commit.2). */
const started = new Map<string, number>();
let hooked = false;

export function registerThread(threadId: number, name: string): void {
  const file = process.env['AURORAL_THREAD_MAP'];
  if (file === undefined) return;
  // A restarted node or a new writer's group-commit thread gets a suffix: node-3.1, group-commit.1.
  const k = started.get(name) ?? 0;
  started.set(name, k + 1);
  names.set(threadId, k === 0 ? name : `${name}.${k}`);
  if (!hooked) {
    hooked = true;
    process.once('exit', () => fs.writeFileSync(file, JSON.stringify(Object.fromEntries(names))));
  }
}

/** @internal threads named so far (tests: nothing is kept unless profiling). */
export function threadNamesHeld(): number {
  return names.size;
}
