// Summarises .cpuprofile files (one per thread, from `node --cpu-prof`): per thread, the share of
// samples that were idle, in GC, or in each of the top functions by self time.
//   tsx native-free-bench/profile-summary.ts DIR [--top 12]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '12' } }, allowPositionals: true });
const dir = positionals[0];
if (dir === undefined) throw new Error('usage: profile-summary DIR');
for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.cpuprofile')).sort()) {
  const p = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    const n = byId.get(id)!;
    const file = n.callFrame.url.split('/').slice(-2).join('/');
    const name = `${n.callFrame.functionName || '(anonymous)'} ${file}:${n.callFrame.lineNumber + 1}`;
    self.set(name, (self.get(name) ?? 0) + dt);
    total += dt;
  });
  const idle = [...self.entries()].filter(([k]) => k.startsWith('(idle)')).reduce((s, [, v]) => s + v, 0);
  console.log(`\n== ${f}: ${(total / 1000).toFixed(0)} ms sampled, busy ${(100 * (1 - idle / total)).toFixed(1)}%`);
  for (const [name, us] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) {
    console.log(`  ${(100 * us / total).toFixed(1).padStart(5)}%  ${name}`);
  }
}
