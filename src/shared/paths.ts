// Worker entry points must be JavaScript at run time (Node 20 cannot start a .ts worker), so when
// this module runs from src/ (under vitest or tsx) the workers are taken from the build in dist/.
// The storage-node and group-commit threads start from their bundle (build/bundle-workers.ts) when
// it is at least as new as the entry it was built from.
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The worker entries built into one file each (build/bundle-workers.ts). */
export const BUNDLED_WORKERS: readonly string[] = ['node/worker.js', 'commit/worker.js'];

export function workerUrl(relative: string): URL {
  const here = new URL(import.meta.url);
  const url = here.pathname.endsWith('.ts') ? new URL(`../../dist/${relative}`, here) : new URL(`../${relative}`, here);
  if (!BUNDLED_WORKERS.includes(relative)) return url;
  const bundle = new URL(url.href.replace(/\.js$/, '.bundle.js'));
  try {
    if (statSync(fileURLToPath(bundle)).mtimeMs >= statSync(fileURLToPath(url)).mtimeMs) return bundle;
  } catch {
    // no bundle (a plain tsc build): the entry and its modules
  }
  return url;
}
