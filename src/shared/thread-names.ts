// Which worker thread is which (threadId -> "node-3", "group-commit"), for `auroral profile`: Node
// names each thread's .cpuprofile by thread id only. The cluster registers every worker it starts;
// when AURORAL_THREAD_MAP names a file, the map is written there as the process exits.
import * as fs from 'node:fs';

const names = new Map<number, string>([[0, 'writer']]);
let hooked = false;

export function registerThread(threadId: number, name: string): void {
  // A restarted node or a new writer's group-commit thread gets a suffix: node-3.1, group-commit.1.
  let n = name;
  for (let k = 1; [...names.values()].includes(n); k++) n = `${name}.${k}`;
  names.set(threadId, n);
  const file = process.env['AURORAL_THREAD_MAP'];
  if (file !== undefined && !hooked) {
    hooked = true;
    process.once('exit', () => fs.writeFileSync(file, JSON.stringify(Object.fromEntries(names))));
  }
}
