// Goal: the hot-log scanner follows the decision table in src/log/scanner.ts.
// Method: write frames into an in-memory HotLog, damage it, scan.
import { describe, expect, it } from 'vitest';
import { FsHotLog, MemHotLog, segmentFileName } from '../src/node/hotlog.js';
import { FaultFs } from '../src/fs/fault-fs.js';
import { scanHotLog, ScanOutcome } from '../src/log/scanner.js';
import { buildFrame } from './frame-builder.js';
import { volumeFrameBytesMax, type VolumeFile } from '../src/recovery/volume.js';
import { FRAME_HEADER_BYTES, frameBytesMax } from '../src/config.js';

function logWith(frames: Uint8Array[], segmentBytes = 4096): { log: MemHotLog; positions: number[] } {
  const log = new MemHotLog(segmentBytes);
  log.createSegment(0);
  let seq = 0;
  let pos = 0;
  const positions: number[] = [];
  for (const f of frames) {
    if (pos + f.length > segmentBytes) {
      seq++;
      pos = 0;
      log.createSegment(seq);
    }
    log.write(seq, pos, [f]);
    positions.push(pos);
    pos += f.length;
    log.sync(seq);
  }
  return { log, positions };
}

function chain(n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) out.push(buildFrame([{ key: `k${i}`, value: 'x'.repeat(100) }, { key: `j${i}`, value: 'y' }], 2 * i + 1, 2 * i, 1, i + 1));
  return out;
}

describe('scanner', () => {
  it('scans a clean log across segments', () => {
    const { log } = logWith(chain(40));
    const r = scanHotLog(log, 1 << 20);
    expect(r.outcome).toBe(ScanOutcome.CLEAN);
    expect(r.frames.length).toBe(40);
    expect(r.lsnLast).toBe(80);
    expect(log.segments().length).toBeGreaterThan(1);
  });

  it('opens after a torn final frame', () => {
    const frames = chain(5);
    const { log, positions } = logWith(frames);
    log.flipBit(0, positions[4]! + 70); // inside the last frame's payload
    const r = scanHotLog(log, 1 << 20);
    expect(r.outcome).toBe(ScanOutcome.TORN_TAIL);
    expect(r.lsnLast).toBe(8);
    expect(r.endPosition).toBe(positions[4]);
  });

  it('reports corruption in the middle instead of truncating committed frames', () => {
    const { log, positions } = logWith(chain(5));
    log.flipBit(0, positions[2]! + 70);
    const r = scanHotLog(log, 1 << 20);
    expect(r.outcome).toBe(ScanOutcome.CORRUPT_MIDDLE);
    expect(r.lsnLast).toBe(4);
    expect(r.lsnSeenMax).toBe(10);
  });

  it('stops at a frame that does not chain (stale bytes after a truncation)', () => {
    const frames = chain(3);
    frames.push(buildFrame([{ key: 'z', value: 'z' }], 50, 40)); // lsnPrev 40 != 6
    const { log } = logWith(frames);
    const r = scanHotLog(log, 1 << 20);
    expect(r.outcome).toBe(ScanOutcome.STALE);
    expect(r.lsnLast).toBe(6);
  });

  it('loses only unsynced frames at a crash', () => {
    const frames = chain(4);
    const { log, positions } = logWith(frames.slice(0, 3));
    log.write(0, positions[2]! + frames[2]!.length, [frames[3]!]); // written, never synced
    log.crash();
    const r = scanHotLog(log, 1 << 20);
    expect(r.outcome).toBe(ScanOutcome.CLEAN);
    expect(r.lsnLast).toBe(6);
  });

  it('takes a frame larger than this open\'s limit but within the volume\'s for valid, not torn', () => {
    // A volume written with large frames, reopened with small batchBytesMax + mtrBytesMax: the
    // frame limit is the volume's (volume.json), or the segment for volumes older than the field.
    const frames = [0, 1, 2].map((i) => buildFrame([{ key: `k${i}`, value: 'x'.repeat(3000) }], i + 1, i, 1, i + 1));
    const { log } = logWith(frames, 16384);
    const open = { groupCommit: { batchBytesMax: 256 } as never, mtrBytesMax: 1024 };
    expect(frames[0]!.length).toBeGreaterThan(frameBytesMax(open)); // larger than this open allows
    const v: VolumeFile = { format: 1, nodes: 6, pageCount: 16, segmentBytes: 16384, epoch: 1, frameBytesMax: 4096 };
    for (const volume of [v, { ...v, frameBytesMax: undefined }]) {
      const r = scanHotLog(log, volumeFrameBytesMax(volume, open) - FRAME_HEADER_BYTES);
      expect(r.outcome).toBe(ScanOutcome.CLEAN);
      expect(r.lsnLast).toBe(3);
      expect(r.fault).toBeNull();
    }
    // The hazard: checked against this open's options alone, the first frame reads as a torn tail.
    expect(scanHotLog(log, frameBytesMax(open) - FRAME_HEADER_BYTES).outcome).toBe(ScanOutcome.TORN_TAIL);
  });

  it('reads zeros over a frame header mid-segment, with valid frames after, as corruption in the middle, never the end', () => {
    // A lost 512-byte sector: frames 2 and 3 and the head of frame 4 read as zeros; frames 5..9
    // after it are intact and may be acknowledged. Segments are zero-filled before use, so zeros
    // followed by a valid frame of a higher LSN cannot be the end of the log.
    const { log, positions } = logWith(chain(10));
    expect(positions[9]! + 240).toBeLessThan(4096); // one segment
    log.write(0, positions[2]!, [new Uint8Array(512)]);
    log.sync(0);
    const r = scanHotLog(log, 1 << 20);
    expect(r.outcome).toBe(ScanOutcome.CORRUPT_MIDDLE);
    expect(r.lsnLast).toBe(4);
    expect(r.endPosition).toBe(positions[2]);
    expect(r.fault?.position).toBe(positions[2]);
    expect(r.lsnSeenMax).toBe(20); // the frames after the hole are seen (LSNs never reused)
  });

  it('reads a zeroed last frame of a segment, with the chain going on in the next segment, as corruption in the middle', () => {
    // The next segment is started only after this one was synced, so a frame missing at the end
    // of a segment whose successor chains to it is lost bytes, not a torn tail or stale data.
    const frames = chain(40);
    const { log, positions } = logWith(frames);
    const lastInFirst = positions.findIndex((p, i) => i > 0 && p === 0) - 1; // last frame of segment 0
    log.write(0, positions[lastInFirst]!, [new Uint8Array(64)]); // its header
    log.sync(0);
    const r = scanHotLog(log, 1 << 20);
    expect(r.outcome).toBe(ScanOutcome.CORRUPT_MIDDLE);
    expect(r.lsnLast).toBe(2 * lastInFirst);
    expect(r.endSeq).toBe(0);
    expect(r.endPosition).toBe(positions[lastInFirst]);
    expect(r.lsnSeenMax).toBe(80);
  });

  it('still ends a segment at zeros that nothing valid follows, and a log at zeros with an empty next segment', () => {
    const frames = chain(40);
    const { log } = logWith(frames);
    log.createSegment(log.segments().length); // created at a rotation, crash before any frame reached it
    const r = scanHotLog(log, 1 << 20);
    expect(r.outcome).toBe(ScanOutcome.CLEAN);
    expect(r.lsnLast).toBe(80);
  });

  // The clean segment is read frame by frame (walkClean) and anything else by the full walk: these
  // are the cases at the edge between the two, where both must decide the same.
  it('decides the edge cases of the fast path as the full walk does: last bytes of a segment, old frames in the zeros, a short file', () => {
    const frames = chain(40);
    // A non-zero byte in the last 64 bytes of a sealed segment, past its frames: a short (torn)
    // frame, with the chain going on in the next segment: corruption in the middle, never the end.
    const a = logWith(frames);
    a.log.write(0, 4096 - 3, [new Uint8Array([9])]);
    const ra = scanHotLog(a.log, 1 << 20);
    expect(ra.outcome).toBe(ScanOutcome.CORRUPT_MIDDLE);
    expect(ra.fault?.seq).toBe(0);
    // A valid frame of a lower LSN (an old copy) in a segment's zeros proves nothing lost: clean.
    const b = logWith(chain(3));
    b.log.createSegment(1);
    b.log.write(0, 2048, [frames[0]!]);
    const rb = scanHotLog(b.log, 1 << 20);
    expect(rb.outcome).toBe(ScanOutcome.CLEAN);
    expect(rb.lsnLast).toBe(6);
    expect([rb.endSeq, rb.endPosition]).toEqual([1, 0]);
    // A segment file shorter than a segment (reads as zeros past its end): the same as zeros.
    const io = new FaultFs();
    io.mkdirSync('/v');
    const log = new FsHotLog('/v/log', 4096, 'fdatasync', false, null, io);
    log.createSegment(0);
    log.write(0, 0, [frames[0]!, frames[1]!]);
    log.sync(0);
    const fd = io.openSync(`/v/log/${segmentFileName(0)}`, 'r+');
    io.ftruncateSync(fd, frames[0]!.length + frames[1]!.length + 5);
    io.closeSync(fd);
    const rc = scanHotLog(log, 1 << 20);
    expect(rc.outcome).toBe(ScanOutcome.CLEAN);
    expect(rc.lsnLast).toBe(4);
    expect(rc.endPosition).toBe(frames[0]!.length + frames[1]!.length);
  });
});
