// The workload suite (`auroral bench --workload NAME`).
import { PutWorkload } from './put.js';
import { ReadMostlyWorkload } from './read-mostly.js';
import { TpcbLikeWorkload } from './tpcb-like.js';
import { WriteOnlyWorkload } from './write-only.js';
import type { Workload, WorkloadParams } from './types.js';

export type { Workload, WorkloadParams } from './types.js';

export const workloads = {
  put: (p: WorkloadParams): Workload => new PutWorkload(p),
  'write-only': (p: WorkloadParams): Workload => new WriteOnlyWorkload(p),
  'tpcb-like': (p: WorkloadParams): Workload => new TpcbLikeWorkload(p),
  'read-mostly': (p: WorkloadParams): Workload => new ReadMostlyWorkload(p),
} as const;

export type WorkloadName = keyof typeof workloads;

export const workloadNames = Object.keys(workloads) as WorkloadName[];

export const defaultParams: WorkloadParams = {
  inflight: 64, valueBytes: 100, keys: 100_000, tables: 8, scale: 10, readPercent: 90, seed: 1,
};
