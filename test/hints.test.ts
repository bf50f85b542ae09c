// Goal: a node restarted from its files indexes its sealed segments and its block file from their
// hints instead of reading them, and reads exactly what it read before; a hint that is damaged,
// stale (its segment changed), or that would vouch for frames this log does not prove
// acknowledged is never used, and the files are read as before.
// Method: NodeCore over the in-memory HotLog and block storage (hints live beside the files, as
// on disk), restarted by building a new core over the same files (a kill -9 keeps them).
import { describe, expect, it } from 'vitest';
import { FsHotLog, MemHotLog } from '../src/node/hotlog.js';
import { FaultFs } from '../src/fs/fault-fs.js';
import { Random } from '../src/shared/random.js';
import { MemBlockStorage } from '../src/node/blocks.js';
import { NodeCore, type FrameRef } from '../src/node/core.js';
import { decodeFrame } from '../src/log/frame.js';
import { INDEX_QUIET_MICROS, indexTo } from '../src/node/indexing.js';
import { parseSegmentHint } from '../src/node/hints.js';
import { buildFrame } from './frame-builder.js';

const dec = new TextDecoder();
const enc = new TextEncoder();
const SEG = 4096;
const clock = { t: 1_000_000, nowMicros() { return this.t; } };

function start(log: MemHotLog, blocks: MemBlockStorage, indexLagBytesMax = 0): NodeCore {
  const core = new NodeCore({ nodeId: 0, pageCount: 16, payloadBytesMax: 1 << 20, indexLagBytesMax }, log, blocks, clock);
  core.recoverScan();
  core.recoverTo(core.scl, core.epoch + 1, null);
  return core;
}

/** A node with `frames` frames of 8 puts over 40 keys; each frame proves the one before it acknowledged. */
function written(frames: number, indexLagBytesMax = 0) {
  const log = new MemHotLog(SEG);
  const blocks = new MemBlockStorage();
  const core = start(log, blocks, indexLagBytesMax);
  const model = new Map<string, string>();
  let lsn = 1;
  let prev = 0;
  const append = (n: number, lagToAck: (lsnPrev: number, prevPrev: number) => number): void => {
    const recs = Array.from({ length: n }, (_, i) => ({ key: `k${(lsn + i * 7) % 40}`, value: `v-${lsn + i}` }));
    const lsnPrev = lsn - 1;
    const bytes = buildFrame(recs, lsn, lsnPrev, core.epoch, lsn, lagToAck(lsnPrev, prev));
    const f: FrameRef = { bytes, header: decodeFrame(bytes) };
    expect(core.receive([f])).toBe(1);
    core.afterAck(0);
    for (const r of recs) model.set(r.key, r.value);
    prev = lsnPrev;
    lsn += n;
  };
  // The VDL the sender knew: the previous frame's end (one frame in flight).
  for (let f = 0; f < frames; f++) append(8, (lsnPrev, prevPrev) => lsnPrev - prevPrev);
  return { log, blocks, core, model, append };
}

function readAll(core: NodeCore, model: Map<string, string>): void {
  for (const [k, v] of model) {
    const r = core.read(enc.encode(k), core.scl);
    expect(r.status).toBe('ok');
    if (r.status === 'ok') expect(r.result.found && r.result.value !== null ? dec.decode(r.result.value) : r.result).toBe(v);
  }
}

describe('hint files (node/hints.ts)', () => {
  it('a restart takes sealed segments from their hints, reads only the last one, and serves every value as before', () => {
    const { log, blocks, core, model } = written(60);
    expect(log.segments().length).toBeGreaterThan(4);
    expect(core.stats.segmentHintsWritten).toBe(log.segments().length - 1);
    readAll(core, model);
    const again = start(log, blocks, 1 << 20);
    // Every sealed segment but the one whose frames reach past what the log proves acknowledged.
    expect(again.stats.segmentHintsLoaded).toBeGreaterThanOrEqual(log.segments().length - 2);
    expect(again.scl).toBe(core.scl);
    expect(again.indexedLsn).toBe(0); // the tail is the backlog: indexed on demand
    readAll(again, model);
    expect(again.stats.framesIndexedFromHints).toBeGreaterThan(0);
    expect(again.indexedLsn).toBe(again.scl);
  });

  it('never uses a damaged hint, nor one its segment no longer matches: the segment is read instead', () => {
    const { log, blocks, core, model } = written(60);
    const seqs = log.segments();
    const damaged = log.readHint(seqs[0]!)!;
    damaged[damaged.length - 3]! ^= 1;
    log.writeHint(seqs[0]!, damaged);
    expect(parseSegmentHint(damaged, seqs[0]!, SEG)).toBeNull();
    // A hint of another segment under this one's name: its frames are not this segment's.
    log.writeHint(seqs[1]!, log.readHint(seqs[2]!)!);
    const again = start(log, blocks, 1 << 20);
    expect(log.readHint(seqs[0]!)).toBeNull(); // removed...
    expect(again.scl).toBe(core.scl);
    readAll(again, model);
    expect(parseSegmentHint(log.readHint(seqs[0]!), seqs[0]!, SEG)).not.toBeNull(); // ...and written again as it was indexed
  });

  it('reads and checks a sealed segment whose frames are above what the log proves acknowledged', () => {
    const { log, blocks, core, model, append } = written(20);
    // The last frames prove nothing acknowledged beyond LSN 8 (a writer that died long ago).
    const proven = core.scl - 16; // the last of those frames proves the end of the one two before it
    for (let f = 0; f < 30; f++) append(8, (lsnPrev) => lsnPrev - 8);
    const c = new NodeCore({ nodeId: 0, pageCount: 16, payloadBytesMax: 1 << 20, indexLagBytesMax: 1 << 20 }, log, blocks, clock);
    const r = c.recoverScan();
    expect(r.lsnDurableSeen).toBe(proven);
    const sealed = log.segments().slice(0, -1);
    const unused = sealed.filter((seq) => !r.hinted.includes(seq) && log.readHint(seq) !== null);
    expect(r.hinted.length).toBeGreaterThan(0);
    expect(unused.length).toBeGreaterThan(2); // hints there, not used: the segments were read
    for (const seq of r.hinted) expect(parseSegmentHint(log.readHint(seq), seq, SEG)!.lsnLast).toBeLessThanOrEqual(proven);
    c.recoverTo(c.scl, core.epoch + 1, null);
    expect(c.scl).toBe(core.scl);
    readAll(c, model);
  });

  it('drops the hint of a segment that recovery cuts, and of every one after it', () => {
    const { log, blocks, core } = written(60);
    const seqs = log.segments();
    const hintedBefore = seqs.filter((s) => log.readHint(s) !== null);
    expect(hintedBefore.length).toBeGreaterThan(3);
    const cutSeq = hintedBefore[1]!;
    const scan = (() => {
      const c = new NodeCore({ nodeId: 0, pageCount: 16, payloadBytesMax: 1 << 20, indexLagBytesMax: 0 }, log, blocks, clock);
      return { c, r: c.recoverScan() };
    })();
    const inCut = scan.r.frames.filter((f) => f.seq === cutSeq);
    const keep = inCut[Math.floor(inCut.length / 2)]!.header.lsnLast;
    scan.c.recoverTo(keep, core.epoch + 1, null);
    expect(scan.c.scl).toBe(keep);
    for (const s of log.segments()) if (s >= cutSeq) expect(log.readHint(s)).toBeNull();
    expect(log.readHint(hintedBefore[0]!)).not.toBeNull();
  });

  it('loads a block file from its hint, and reads the images when the hint is damaged (then writes it again)', () => {
    const { log, blocks, core, model } = written(120, 1 << 30);
    core.index.setReadMin(core.scl);
    clock.t += INDEX_QUIET_MICROS;
    while (core.idleWork(true)) { /* index, then coalesce */ }
    expect(core.coalescer.coalesceLsn).toBeGreaterThan(0);
    const meta = blocks.readMeta();
    expect(blocks.readHint(meta.blockSeq)).not.toBeNull();
    const again = start(log, blocks);
    expect(again.coalescer.stats.blockHintsLoaded).toBe(1);
    expect(indexTo(again, again.scl)).toBe('indexed');
    readAll(again, model);
    const hint = blocks.readHint(meta.blockSeq)!;
    hint[40]! ^= 0x10;
    blocks.writeHint(meta.blockSeq, hint);
    const third = start(log, blocks);
    expect(third.coalescer.stats.blockHintsLoaded).toBe(0);
    readAll(third, model);
    expect(start(log, blocks).coalescer.stats.blockHintsLoaded).toBe(1); // rewritten from the images
  });

  it('a removed segment hint stays removed across a power cut: it is gone before its segment changes in place', () => {
    // recoverTo drops the hints of the chain's last segment and after before appends, catch-up or
    // gossip write there; with the removal only in the page cache, a power cut brought a hint back
    // beside bytes it no longer describes (only its first and last frame headers are compared).
    for (let seed = 1; seed <= 8; seed++) {
      const io = new FaultFs();
      io.mkdirSync('/v');
      const log = new FsHotLog('/v/log', SEG, 'fdatasync', false, null, io);
      log.createSegment(0);
      log.createSegment(1);
      expect(log.writeHint(0, enc.encode('a hint of segment 0'))).toBe(true);
      log.createSegment(2); // its directory sync makes the hint's name durable too
      log.removeHint(0);
      log.write(0, 0, [new Uint8Array(64).fill(7)]); // the segment changes in place, durably
      log.sync(0);
      io.powerCut(new Random(seed), '/v');
      expect(new FsHotLog('/v/log', SEG, 'fdatasync', false, null, io).readHint(0)).toBeNull();
    }
  });

  it('leaves no hint behind for a segment that hot-log GC removed before indexing reached the next one', () => {
    // The hint of a segment is written when indexing reaches the next segment's first frame; a
    // coalescing cycle at exactly the segment's last frame can let GC remove it in between, and
    // the hint was then written for a segment that no longer exists (never read, never removed).
    const { log, blocks } = written(60);
    for (const seq of log.segments()) log.removeHint(seq); // every segment is indexed from the log
    const core = start(log, blocks, 4096); // the whole log is the backlog
    const gone = log.segments()[1]!;
    let i = core.frameDir.indexAfter(core.indexedLsn);
    while (core.frameDir.at(i + 1)?.seq !== gone + 1) i++;
    const lastOfGone = core.frameDir.at(i)!;
    expect(indexTo(core, lastOfGone.lsnLast)).toBe('indexed');
    core.index.setReadMin(core.scl);
    core.coalescer.force = true;
    while (core.coalescer.step()) { /* one cycle, at the indexed point */ }
    expect(core.coalescer.coalesceLsn).toBe(lastOfGone.lsnLast);
    expect(log.segments()).not.toContain(gone);
    expect(indexTo(core, core.scl)).toBe('indexed');
    expect(log.readHint(gone)).toBeNull();
  });

  it('a failed directory sync while removing a hint fails the log: that sync is never retried', () => {
    const io = new FaultFs();
    io.mkdirSync('/v');
    let failDirSync = false;
    const flaky = Object.create(io) as FaultFs;
    flaky.fsyncSync = (fd: number) => {
      if (failDirSync) throw Object.assign(new Error('EIO: injected'), { code: 'EIO' });
      io.fsyncSync(fd);
    };
    const log = new FsHotLog('/v/log', SEG, 'fdatasync', false, null, flaky);
    log.createSegment(0);
    log.createSegment(1);
    log.writeHint(0, enc.encode('a hint of segment 0'));
    failDirSync = true;
    expect(() => log.removeHint(0)).toThrow();
    failDirSync = false;
    // The removal may not be durable: the log writes nothing more (no later directory sync may
    // "succeed" over it), as after any failed sync.
    expect(() => log.createSegment(2)).toThrow();
    expect(() => log.removeHint(1)).toThrow();
  });

  it('a segment whose hint no longer matches, with a corrupt frame: the tail after it is kept, refilled from a peer, and a restart reads it all', () => {
    const { log, blocks, core, model } = written(60);
    const all: FrameRef[] = [];
    for (let i = core.frameDir.indexAfter(0); core.frameDir.at(i) !== undefined; i++) {
      const f = core.frameDir.at(i)!;
      const bytes = log.read(f.seq, f.position, f.bytes);
      all.push({ bytes, header: decodeFrame(bytes) });
    }
    const seqs = log.segments();
    const k = seqs[2]!;
    expect(log.readHint(k)).not.toBeNull();
    log.flipBit(k, 30); // the first frame's header: the hint no longer matches, the segment is read
    const c = new NodeCore({ nodeId: 0, pageCount: 16, payloadBytesMax: 1 << 20, indexLagBytesMax: 1 << 20 }, log, blocks, clock);
    const r = c.recoverScan();
    expect(r.outcome).toBe('corrupt-middle');
    expect(r.hinted).not.toContain(k);
    c.recoverTo(c.scl, core.epoch + 1, null); // rejoin at its own chain end: the tail is kept
    for (const s of log.segments()) if (s >= k) expect(log.readHint(s)).toBeNull();
    // Gossip: the peers' copies of everything after its chain end.
    const missing = all.filter((f) => f.header.lsnLast > c.scl);
    expect(c.receive(missing, true)).toBe(missing.length);
    c.afterAck(0);
    expect(c.scl).toBe(core.scl);
    readAll(c, model);
    const again = start(log, blocks, 1 << 20);
    expect(again.scl).toBe(core.scl);
    expect(again.scan === null).toBe(true);
    readAll(again, model);
  });
});
