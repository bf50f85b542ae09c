// `auroral inspect DIR`: what a volume holds on disk, read-only (never while a writer has it open:
// the hot logs move under the reader). Per node: epoch and history, SCL (end of the valid frame
// chain), how the scan ended, hot-log segments and sizes, the current block file, and a CRC check
// of every frame of the chain and every page image.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { scanHotLog } from '../log/scanner.js';
import { FsHotLog } from '../node/hotlog.js';
import { readImages } from '../node/blocks.js';
import { FsEpochStore } from '../node/epoch-store.js';
import { nodeDir, nodeLogDir } from '../node/paths.js';
import { readVolume } from '../recovery/volume.js';
import { parseFlags, UsageError } from './args.js';

export const inspectUsage = `usage: auroral inspect DIR [--json]

Reads a volume directory (never while it is open) and prints its epoch and truncation history,
and for each storage node: its epoch, SCL (the end of its valid frame chain), how the hot-log scan
ended (clean, torn tail, corrupt in the middle, stale frames), its segments and their sizes, its
page images, and the result of checking every frame's and image's CRC and its epoch file.
  --json   print the same as JSON
Exit status: 0 if every frame and image checked out, 1 if anything is damaged.`;

export interface NodeReport {
  node: number;
  /** null: the epoch file could not be read (`epochError`; the engine rebuilds such a node). */
  epoch: number | null;
  epochError: string | null;
  scl: number;
  scan: string;
  fault: string | null;
  framesChecked: number;
  records: number;
  segments: { seq: number; bytes: number; frames: number }[];
  blocks: { file: string; bytes: number; images: number; coalesceLsn: number; ok: boolean; error: string | null } | null;
}

export interface VolumeReport {
  dir: string;
  epoch: number;
  nodes: number;
  pageCount: number;
  segmentBytes: number;
  history: { epoch: number; vdl: number }[];
  /** The LSN a default write quorum (4 of 6) of node SCLs reaches: about what the next open keeps. */
  quorumScl: number;
  perNode: NodeReport[];
  damaged: boolean;
}

function inspectNode(dir: string, node: number, segmentBytes: number): NodeReport {
  const nd = nodeDir(dir, node);
  let epoch: number | null = null;
  let epochError: string | null = null;
  try {
    epoch = new FsEpochStore(nd).load().epoch;
  } catch (e) {
    epochError = (e as Error).message;
  }
  const log = new FsHotLog(nodeLogDir(dir, node), segmentBytes, 'none', true);
  const perSeg = new Map<number, { seq: number; bytes: number; frames: number }>();
  for (const seq of log.segments()) perSeg.set(seq, { seq, bytes: fs.statSync(path.join(nodeLogDir(dir, node), `${String(seq).padStart(16, '0')}.log`)).size, frames: 0 });
  let records = 0;
  // The scanner checks every frame of the chain (header, CRC, backlink) and stops at the first bad one.
  const scan = scanHotLog(log, segmentBytes, (f) => {
    perSeg.get(f.seq)!.frames++;
    records += f.header.recordCount;
  });
  let blocks: NodeReport['blocks'] = null;
  const metaPath = path.join(nd, 'meta');
  if (fs.existsSync(metaPath)) {
    const meta = JSON.parse(fs.readFileSync(metaPath, 'utf8')) as { coalesceLsn: number; blockSeq: number };
    if (meta.blockSeq >= 0) {
      const file = path.join(nd, 'blocks', `${String(meta.blockSeq).padStart(16, '0')}.blk`);
      try {
        const r = readImages(new Uint8Array(fs.readFileSync(file)), () => {});
        blocks = { file: path.relative(dir, file), bytes: fs.statSync(file).size, images: r.images, coalesceLsn: meta.coalesceLsn, ok: true, error: null };
      } catch (e) {
        blocks = { file: path.relative(dir, file), bytes: fs.existsSync(file) ? fs.statSync(file).size : 0, images: 0, coalesceLsn: meta.coalesceLsn, ok: false, error: (e as Error).message };
      }
    }
  }
  return {
    node, epoch, epochError, scl: scan.lsnLast, scan: scan.outcome, fault: scan.fault === null ? null : `segment ${scan.fault.seq} at ${scan.fault.position}: ${scan.fault.why}`,
    framesChecked: scan.frames.length, records, segments: [...perSeg.values()], blocks,
  };
}

export function inspectVolume(dir: string): VolumeReport {
  const v = readVolume(dir);
  if (v === null) throw new UsageError(`${dir} is not a volume (no volume.json)`);
  const perNode = Array.from({ length: v.nodes }, (_, i) => inspectNode(dir, i, v.segmentBytes));
  // The write quorum is an open() option, not on disk: the default (4 of 6; a majority otherwise).
  const wq = Math.min(v.nodes, Math.max(Math.floor(v.nodes / 2) + 1, v.nodes === 6 ? 4 : 0));
  const sorted = perNode.map((n) => n.scl).sort((a, b) => b - a);
  return {
    dir, epoch: v.epoch, nodes: v.nodes, pageCount: v.pageCount, segmentBytes: v.segmentBytes,
    history: (v.history ?? []).map((h) => ({ epoch: h.epoch, vdl: h.vdl })), quorumScl: sorted[wq - 1] ?? 0, perNode,
    damaged: perNode.some((n) => n.scan === 'corrupt-middle' || n.epochError !== null || (n.blocks !== null && !n.blocks.ok)),
  };
}

const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;

export async function inspect(args: string[]): Promise<void> {
  const { values: a, positionals } = parseFlags(args, { json: { type: 'boolean' } }, 1);
  if (a.help === true) {
    console.log(inspectUsage);
    return;
  }
  const dir = positionals[0];
  if (dir === undefined) throw new UsageError('DIR is required');
  if (!fs.existsSync(dir)) throw new UsageError(`${dir} does not exist`);
  const r = inspectVolume(path.resolve(dir));
  if (a.json === true) {
    console.log(JSON.stringify(r, null, 1));
  } else {
    console.log(`volume ${r.dir}\n  epoch ${r.epoch}, ${r.nodes} nodes, ${r.pageCount} pages, ${mib(r.segmentBytes)} segments`);
    console.log(`  history: ${r.history.length === 0 ? '(none)' : r.history.map((h) => `epoch ${h.epoch} kept VDL ${h.vdl}`).join('; ')}`);
    console.log(`  a write quorum (default 4 of 6) of node SCLs reaches LSN ${r.quorumScl}`);
    for (const n of r.perNode) {
      const logBytes = n.segments.reduce((s, g) => s + g.bytes, 0);
      console.log(`  node ${n.node} (AZ ${Math.floor(n.node / 2)}): epoch ${n.epoch ?? `DAMAGED (${n.epochError})`}, SCL ${n.scl}, scan ${n.scan}${n.fault === null ? '' : ` (${n.fault})`}`);
      console.log(`    hot log: ${n.segments.length} segment${n.segments.length === 1 ? "" : "s"}, ${mib(logBytes)}; ${n.framesChecked} frames (${n.records} records) CRC-checked: ${n.scan === 'corrupt-middle' ? 'DAMAGED' : 'ok'}`);
      for (const g of n.segments) console.log(`      ${String(g.seq).padStart(16, '0')}.log  ${mib(g.bytes)}  ${g.frames} frames`);
      if (n.blocks === null) console.log('    page images: none yet');
      else console.log(`    page images: ${n.blocks.file}, ${mib(n.blocks.bytes)}, ${n.blocks.images} images up to LSN ${n.blocks.coalesceLsn}: ${n.blocks.ok ? 'CRC ok' : `DAMAGED (${n.blocks.error})`}`);
    }
  }
  if (r.damaged) process.exitCode = 1;
}
