// volume.json: the volume's identity, epoch, truncation history and the limits its files were
// written with. Written atomically (temp file, fsync, rename, fsync the directory) so a crash leaves
// either the old or the new file, never a torn one.
//
// The limits a file was written with belong to the file, not to the options of the process that
// reads it: `frameBytesMax` is the largest frame any open of this volume allowed (a maximum over
// opens, never lowered), and every check of the volume's frames (scan, scrub, catch-up, gossip)
// uses it. Checking them against this open's (possibly smaller) options would call an intact,
// acknowledged frame torn and truncate it.
import * as path from 'node:path';
import { assert } from '../assert.js';
import { errors } from '../errors.js';
import { frameBytesMax, type Config } from '../config.js';
import { readText, writeFileAtomic } from '../shared/fsync-dir.js';
import { nodeFs } from '../fs/node-fs.js';
import type { FsPort } from '../fs/port.js';
import type { EpochRecord } from '../node/epoch-store.js';

/**
 * 2: the nodes keep their epoch in `epoch.slots` (node/epoch-store.ts). A build that reads only
 * format 1 would find no `epoch.json` on an upgraded node and take it for epoch 0 (a node that
 * forgot its fences); it refuses the volume instead. Format 1 volumes (nodes with `epoch.json`,
 * or with `epoch.slots` from the builds of 2026-12-02, which did not bump the format) are read,
 * and upgraded (openVolume) before any node starts.
 */
export const VOLUME_FORMAT = 2;
const VOLUME_FORMATS_READ: readonly number[] = [1, 2];

export interface VolumeFile {
  format: number;
  nodes: number;
  pageCount: number;
  segmentBytes: number;
  /** Bumped by every recovery; frames carry it (fencing of stale writers). */
  epoch: number;
  /** What each recovery kept (see node/epoch-store.ts); absent in volumes written before it existed. */
  history?: EpochRecord[];
  /**
   * Largest frame (header + payload) any open of this volume allowed: the maximum over opens.
   * Absent in volumes written before it existed: then `segmentBytes` (a frame never spans segments).
   */
  frameBytesMax?: number;
}

export function readVolume(dir: string, io: FsPort = nodeFs): VolumeFile | null {
  let text: string;
  try {
    text = readText(path.join(dir, 'volume.json'), io);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const v = JSON.parse(text) as VolumeFile;
  if (!VOLUME_FORMATS_READ.includes(v.format)) throw errors.volumeMismatch(`volume.json format ${v.format} is not supported (this build reads ${VOLUME_FORMATS_READ.join(' and ')})`);
  return v;
}

/** The largest frame the volume's files may hold as recorded (before this open): the format's hard bound for older files. */
function recordedFrameBytesMax(v: VolumeFile): number {
  return v.frameBytesMax ?? v.segmentBytes;
}

/**
 * The frame limit every check of this volume's frames uses under config `c`: the largest frame any
 * open allowed, this one included. A volume not yet created has only this open's frames.
 */
export function volumeFrameBytesMax(v: VolumeFile | null, c: Pick<Config, 'groupCommit' | 'mtrBytesMax'>): number {
  const own = frameBytesMax(c);
  return v === null ? own : Math.max(recordedFrameBytesMax(v), own);
}

/**
 * Replaces volume.json. `frameBytesMax` never goes down: the value written is the maximum of `v`'s
 * and the one on disk (older frames may still be in any node's log).
 */
export function writeVolume(dir: string, v: VolumeFile, io: FsPort = nodeFs): void {
  assert(v.frameBytesMax !== undefined && v.frameBytesMax <= v.segmentBytes, 'volume.json needs a frameBytesMax within a segment');
  const old = readVolume(dir, io);
  const frame = old === null ? v.frameBytesMax : Math.max(v.frameBytesMax, recordedFrameBytesMax(old));
  writeFileAtomic(path.join(dir, 'volume.json'), JSON.stringify({ ...v, frameBytesMax: frame }, null, 2) + '\n', io);
}

/** Rewrites a volume.json of an older format as the current one (durably), before anything else is written. */
export function upgradeVolume(dir: string, v: VolumeFile, io: FsPort = nodeFs): VolumeFile {
  if (v.format === VOLUME_FORMAT) return v;
  const up: VolumeFile = { ...v, format: VOLUME_FORMAT, frameBytesMax: recordedFrameBytesMax(v) };
  writeVolume(dir, up, io);
  return up;
}

/** Checks that reopening options agree with the volume on disk (its shape is fixed at creation). */
export function checkVolume(v: VolumeFile, c: Config): void {
  for (const k of ['nodes', 'pageCount', 'segmentBytes'] as const) {
    if (v[k] !== c[k]) throw errors.volumeMismatch(`option '${k}' is ${c[k]} but the volume at ${c.dir} was created with ${v[k]}`);
  }
}
