// Bundles each worker thread's entry module, with every module of ours it imports, into one file
// beside it (`npm run build` runs this after tsc). An open starts seven threads on two cores, and a
// thread that loads ~36 modules one by one spent ~50 ms of CPU on it, against ~12 ms for one
// bundled file (measured per thread, docs/results.md). Packages stay imports from node_modules.
// workerUrl (shared/paths.ts) takes a bundle only if it is newer than its entry, so a plain `tsc`
// after a change never runs a stale bundle.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { BUNDLED_WORKERS } from '../shared/paths.js';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
for (const entry of BUNDLED_WORKERS) {
  await build({
    entryPoints: [path.join(dist, entry)],
    outfile: path.join(dist, entry.replace(/\.js$/, '.bundle.js')),
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true, // profiles (0x, --cpu-prof) map back to the modules
    logLevel: 'warning',
  });
}
