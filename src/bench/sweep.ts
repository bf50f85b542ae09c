// Knob sweeps: `--sweep path=v1,v2,...` (repeatable) spans a grid; `--set path=value` fixes one
// knob. A path is a workload parameter (inflight, valueBytes, keys, tables, scale, readPercent,
// seed) or any option of open() by its dotted path (groupCommit.waitMicrosMax, fsync,
// metrics.stages, ...). Every point's options are validated by open()'s own checks before
// anything runs, so a typo fails at once with the option's name.
import { resolveConfig, type OpenOptions } from '../config.js';
import { errors } from '../errors.js';
import { defaultParams, type WorkloadParams } from '../workload/index.js';

export type KnobValue = number | string | boolean;

export interface Knob {
  path: string;
  values: KnobValue[];
}

/** One point of the grid: its knob values, the workload parameters and the open() options. */
export interface Point {
  knobs: Record<string, KnobValue>;
  params: WorkloadParams;
  options: Omit<OpenOptions, 'dir'>;
}

const paramNames = new Set(Object.keys(defaultParams));
/** Options a sweep must not set: the driver owns them. */
const reserved = new Set(['dir']);
/** Largest grid: a sweep is meant to be run and looked at, not to run for a day. */
export const GRID_POINTS_MAX = 256;
const VALUES_MAX = 64;

export function parseValue(text: string): KnobValue {
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (text.trim() !== '' && Number.isFinite(Number(text))) return Number(text);
  return text;
}

/** Parses "path=v1,v2,..." (a sweep) or "path=value" (a --set). */
export function parseKnob(flag: string, spec: string): Knob {
  const eq = spec.indexOf('=');
  if (eq <= 0 || eq === spec.length - 1) throw errors.invalidArgument(flag, `must look like path=value[,value...], got '${spec}'`);
  const path = spec.slice(0, eq).trim();
  if (!/^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$/.test(path)) throw errors.invalidArgument(flag, `'${path}' is not a dotted option path`);
  if (reserved.has(path)) throw errors.invalidArgument(flag, `'${path}' is set by the bench driver and cannot be swept`);
  const values = spec.slice(eq + 1).split(',').map((v) => parseValue(v.trim()));
  if (values.length > VALUES_MAX) throw errors.invalidArgument(flag, `at most ${VALUES_MAX} values per knob, got ${values.length}`);
  if (new Set(values.map(String)).size !== values.length) throw errors.invalidArgument(flag, `'${path}' lists a value twice`);
  return { path, values };
}

/** Sets `path` in a nested options object (creating the objects on the way). */
export function setPath(target: Record<string, unknown>, path: string, value: KnobValue): void {
  const parts = path.split('.');
  let o = target;
  for (const p of parts.slice(0, -1)) {
    if (o[p] === undefined) o[p] = {};
    if (typeof o[p] !== 'object' || o[p] === null) throw errors.invalidArgument('--sweep', `'${path}': '${p}' is not an object option`);
    o = o[p] as Record<string, unknown>;
  }
  o[parts[parts.length - 1]!] = value;
}

function applyKnob(point: Point, path: string, value: KnobValue): void {
  if (paramNames.has(path)) {
    const want = typeof defaultParams[path as keyof WorkloadParams];
    if (typeof value !== want || !Number.isInteger(value) || (value as number) < (path === 'readPercent' || path === 'seed' ? 0 : 1)) {
      throw errors.invalidArgument(path, `must be ${path === 'readPercent' || path === 'seed' ? 'a non-negative' : 'a positive'} integer, got '${String(value)}'`);
    }
    if (path === 'readPercent' && (value as number) > 100) throw errors.invalidArgument(path, `must be at most 100, got ${String(value)}`);
    (point.params as unknown as Record<string, number>)[path] = value as number;
    return;
  }
  setPath(point.options as Record<string, unknown>, path, value);
}

/** The grid: every combination of the sweeps, the first sweep outermost; fixed knobs on every point. */
export function buildGrid(base: WorkloadParams, sets: Knob[], sweeps: Knob[]): Point[] {
  const seen = new Set<string>();
  for (const k of [...sets, ...sweeps]) {
    if (seen.has(k.path)) throw errors.invalidArgument('--sweep', `'${k.path}' is given twice`);
    seen.add(k.path);
  }
  const size = sweeps.reduce((n, k) => n * k.values.length, 1);
  if (size > GRID_POINTS_MAX) throw errors.invalidArgument('--sweep', `the grid has ${size} points; at most ${GRID_POINTS_MAX}`);
  let combos: Record<string, KnobValue>[] = [{}];
  for (const k of sweeps) combos = combos.flatMap((c) => k.values.map((v) => ({ ...c, [k.path]: v })));
  return combos.map((knobs) => {
    const point: Point = { knobs, params: { ...base }, options: {} };
    for (const k of sets) applyKnob(point, k.path, k.values[0]!);
    for (const [path, v] of Object.entries(knobs)) applyKnob(point, path, v);
    resolveConfig({ ...point.options, dir: '/nonexistent' }); // throws INVALID_OPTION naming the option
    return point;
  });
}

/** "groupCommit.waitMicrosMax=200 inflight=64" */
export function pointLabel(p: Point): string {
  const parts = Object.entries(p.knobs).map(([k, v]) => `${k}=${String(v)}`);
  return parts.length === 0 ? 'default' : parts.join(' ');
}
