// Goal: the gossip core (node/gossip.ts, run by node threads and the simulator alike) asks the
// right peer at the right time and never asks the same useless peer for ever.
// Method: a real NodeCore over an in-memory log, with peers faked by a links object that records
// every message; answers are fed back by hand, times are passed explicitly.
import { describe, expect, it } from 'vitest';
import { MemHotLog } from '../src/node/hotlog.js';
import { MemBlockStorage } from '../src/node/blocks.js';
import { NodeCore, type FrameRef } from '../src/node/core.js';
import { Gossip, type GossipLinks, type GossipMessage } from '../src/node/gossip.js';
import { decodeFrame } from '../src/log/frame.js';
import { buildFrame } from './frame-builder.js';

const ref = (bytes: Uint8Array): FrameRef => ({ bytes, header: decodeFrame(bytes) });
const frameBytes = (i: number) => buildFrame([{ key: `k${i}`, value: `v${i}` }], i, i - 1, 1, i);

function setUp(peerScl: number[]) {
  const core = new NodeCore({ nodeId: 0, pageCount: 16, payloadBytesMax: 1 << 20 }, new MemHotLog(64 * 1024), new MemBlockStorage(), { nowMicros: () => 0 });
  core.recoverScan();
  core.recoverTo(0, 1, null);
  core.receive([ref(frameBytes(1)), ref(frameBytes(2))]);
  const sent: { to: number; msg: GossipMessage }[] = [];
  const links: GossipLinks = {
    nodes: peerScl.length, reachable: (i) => i !== 0, running: (i) => i !== 0, scl: (i) => (i === 0 ? core.scl : peerScl[i]!),
    send: (to, msg) => sent.push({ to, msg }),
  };
  const failures: Error[] = [];
  const gossip = new Gossip(0, core, links, {
    absorb: (refs) => core.receive(refs, true), noticeFailure: () => core.failure !== null, fail: (e) => failures.push(e), statsChanged: () => {},
  }, { lagMicros: 5_000, timeoutMicros: 200_000, bytesMax: 1 << 20 });
  return { core, gossip, sent, failures };
}

describe('gossip core', () => {
  it('asks another peer after one answered only frames the node refused (no refetch livelock)', () => {
    const { core, gossip, sent } = setUp([0, 5, 5]);
    core.gapSeen = true; // a frame that did not follow arrived: fetch at once
    gossip.tick(0, true);
    expect(sent.map((s) => [s.to, s.msg.type])).toEqual([[1, 'fetch']]);
    // Peer 1 answers frames that do not follow this node's chain end (2): every one is refused.
    gossip.onMessage(1, { type: 'frames', from: 2, frames: [frameBytes(4), frameBytes(5)], logFrom: 0 });
    expect(core.scl).toBe(2);
    gossip.tick(1, true);
    expect(sent.at(-1)?.to).toBe(2); // not peer 1 again: it would answer the same for ever
    gossip.onMessage(2, { type: 'frames', from: 2, frames: [frameBytes(3), frameBytes(4), frameBytes(5)], logFrom: 0 });
    expect(core.scl).toBe(5);
  });

  it('waits out a lag while frames may still be on their way, then fetches from the most advanced peer', () => {
    const { gossip, sent } = setUp([0, 4, 7, 6]);
    gossip.tick(0, true);
    gossip.tick(4_999, true);
    expect(sent).toEqual([]);
    gossip.tick(5_000, true);
    expect(sent).toEqual([{ to: 2, msg: { type: 'fetch', from: 2, bytesMax: 1 << 20 } }]);
  });

  it('fails the node with REBUILD_NEEDED once every running peer ahead says its hot log starts above the chain end', () => {
    const { core, gossip, sent, failures } = setUp([0, 9, 9]);
    core.gapSeen = true;
    gossip.tick(0, true);
    gossip.onMessage(1, { type: 'frames', from: 2, frames: [], logFrom: 6 });
    expect(failures).toEqual([]); // peer 2 was not asked yet: it may still reach back
    gossip.tick(1, true);
    expect(sent.at(-1)?.to).toBe(2);
    gossip.onMessage(2, { type: 'frames', from: 2, frames: [], logFrom: 4 });
    expect(failures.map((e) => (e as { code?: string }).code)).toEqual(['REBUILD_NEEDED']);
  });
});

describe('gossip core: repairs', () => {
  it('fails the node with REBUILD_NEEDED when no running peer\'s hot log holds a damaged frame any more (no repair livelock)', () => {
    const { core, gossip, sent, failures } = setUp([0, 9, 9]);
    // Scrub found the frame (1, 2] damaged; both peers collected it long ago (their logs start at 6).
    core.repairQueue.push({ ...core.frameDir.at(core.frameDir.first + 1)! });
    for (let t = 0; t < 10 && failures.length === 0; t++) {
      gossip.tick(t, true);
      const ask = sent.at(-1)!;
      expect(ask.msg).toMatchObject({ type: 'fetch', from: 1 });
      gossip.onMessage(ask.to, { type: 'frames', from: 1, frames: [], logFrom: 6 });
    }
    expect(failures.map((e) => (e as { code?: string }).code)).toEqual(['REBUILD_NEEDED']);
    expect(sent.length).toBe(2); // each peer asked once
  });

  it('ignores the answer to a repair that was dropped meanwhile (its segment collected here): no rebuild, no peer blamed', () => {
    const { core, gossip, sent, failures } = setUp([0, 9, 9]);
    core.repairQueue.push({ ...core.frameDir.at(core.frameDir.first + 1)! });
    gossip.tick(0, true);
    gossip.onMessage(sent.at(-1)!.to, { type: 'frames', from: 1, frames: [], logFrom: 6 }); // the first peer collected it
    gossip.tick(1, true);
    const second = sent.at(-1)!;
    expect(second.msg).toMatchObject({ type: 'fetch', from: 1 });
    core.repairQueue.length = 0; // meanwhile this node's GC removed the frame's segment (its records are in images)
    gossip.onMessage(second.to, { type: 'frames', from: 1, frames: [], logFrom: 6 });
    expect(failures).toEqual([]); // not rebuilt for a frame it no longer holds
    gossip.tick(2, true);
    expect(sent.length).toBe(2); // nothing left to ask for
  });
});
