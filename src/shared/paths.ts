// Worker entry points must be JavaScript at run time (Node 20 cannot start a .ts worker), so when
// this module runs from src/ (under vitest or tsx) the workers are taken from the build in dist/.
export function workerUrl(relative: string): URL {
  const here = new URL(import.meta.url);
  if (here.pathname.endsWith('.ts')) return new URL(`../../dist/${relative}`, here);
  return new URL(`../${relative}`, here);
}
