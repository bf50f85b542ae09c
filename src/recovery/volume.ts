// volume.json: the volume's identity and epoch. Written atomically (temp file, fsync, rename,
// fsync the directory) so a crash leaves either the old or the new file, never a torn one.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { errors } from '../errors.js';
import type { Config } from '../config.js';
import { writeFileAtomic } from '../shared/fsync-dir.js';
import type { EpochRecord } from '../node/epoch-store.js';

export const VOLUME_FORMAT = 1;

export interface VolumeFile {
  format: number;
  nodes: number;
  pageCount: number;
  segmentBytes: number;
  /** Bumped by every recovery; frames carry it (fencing of stale writers). */
  epoch: number;
  /** What each recovery kept (see node/epoch-store.ts); absent in volumes written before it existed. */
  history?: EpochRecord[];
}

export function readVolume(dir: string): VolumeFile | null {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, 'volume.json'), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const v = JSON.parse(text) as VolumeFile;
  if (v.format !== VOLUME_FORMAT) throw errors.volumeMismatch(`volume.json format ${v.format} is not supported (expected ${VOLUME_FORMAT})`);
  return v;
}

export function writeVolume(dir: string, v: VolumeFile): void {
  writeFileAtomic(path.join(dir, 'volume.json'), JSON.stringify(v, null, 2) + '\n');
}

/** Checks that reopening options agree with the volume on disk (its shape is fixed at creation). */
export function checkVolume(v: VolumeFile, c: Config): void {
  for (const k of ['nodes', 'pageCount', 'segmentBytes'] as const) {
    if (v[k] !== c[k]) throw errors.volumeMismatch(`option '${k}' is ${c[k]} but the volume at ${c.dir} was created with ${v[k]}`);
  }
}
