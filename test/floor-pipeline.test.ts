// Goal: the floor pipeline that `npm run bench:write` and `bench:redis` measure the engine against is a real
// durable pipeline, not a no-op: a put resolves only once `quorum` nodes have written it (and
// every earlier put), records survive the ring's wrap-around, and close stops every thread; the
// floor server that bench:redis measures answers +OK only for SETs on 4 of 6 node files.
import { afterEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { FloorPipeline, readFloorRecord } from '../src/bench/floor-pipeline.js';
import { FLOOR_SLOTS } from '../src/bench/floor-layout.js';
import { encodeCommand } from '../src/redis/resp.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'auroral-floor-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function record(n: number): { key: Uint8Array; value: Uint8Array } {
  const key = new Uint8Array(16);
  new DataView(key.buffer).setUint32(0, n, true);
  const value = new Uint8Array(100).fill(n & 0xff);
  return { key, value };
}

/** How many node files hold record n as it was put. */
function copies(dir: string, nodes: number, n: number): number {
  const { key, value } = record(n);
  const want = Buffer.concat([key, value]);
  let count = 0;
  for (let i = 0; i < nodes; i++) {
    const got = readFloorRecord(path.join(dir, `floor-node-${i}.log`), n);
    if (got !== null && Buffer.from(got).equals(want)) count++;
  }
  return count;
}

describe('floor pipeline (bench:write / bench:redis baseline)', () => {
  it.each([1, 4])('resolves a put only once a quorum of nodes wrote it and every earlier put, across the ring wrap (%i frames in flight)', async (framesInFlight) => {
    const dir = tempDir();
    const p = await FloorPipeline.start(dir, { nodes: 6, quorum: 4, fsync: 'none', framesInFlight });
    try {
      const total = FLOOR_SLOTS + 5_000; // past one wrap of the ring
      const inflight = 64;
      let next = 0;
      let checked = 0;
      const bad: string[] = [];
      const worker = async (): Promise<void> => {
        while (next < total) {
          const n = next++;
          const { key, value } = record(n);
          await p.put(key, value);
          // Sample: at the moment it resolves, this put and the one just before it are on >= 4 files
          // (records after a wrap overwrite their slot, so only check what was put within the last lap).
          if (n % 997 === 0) {
            checked++;
            for (const m of [n, Math.max(0, n - 1)]) {
              const c = copies(dir, 6, m);
              if (c < 4) bad.push(`record ${m}: ${c} copies at resolve of ${n}`);
            }
          }
        }
      };
      const t0 = performance.now();
      await Promise.all(Array.from({ length: inflight }, worker));
      // ~1 s here; a lost wake-up falls back to the threads' 100 ms park or the writer's 1 s wait
      // per frame and takes minutes (a node that never rang took 115 s).
      expect(performance.now() - t0).toBeLessThan(20_000);
      expect(bad).toEqual([]);
      expect(checked).toBeGreaterThan(30);
    } finally {
      await p.close();
    }
    await expect(p.put(new Uint8Array(16), new Uint8Array(1))).rejects.toThrow(/closed/);
  });

  it('with four slow nodes and four frames in flight, acknowledges only what a quorum holds', async () => {
    // Two fast nodes hold every published frame long before the four slow ones: a pipeline that
    // acked published frames, or counted the fast nodes as a quorum, resolves puts with 2 copies.
    const dir = tempDir();
    const p = await FloorPipeline.start(dir, { nodes: 6, quorum: 4, fsync: 'none', framesInFlight: 4, delayMs: [0, 0, 3, 3, 3, 3] });
    try {
      const bad: string[] = [];
      const check = (n: number): void => {
        const c = copies(dir, 6, n);
        if (c < 4) bad.push(`record ${n}: ${c} copies at its resolve`);
        const ends = p.durableEnds().sort((x, y) => y - x);
        if (ends[3]! <= n) bad.push(`record ${n}: the 4th durable end is ${ends[3]}`);
      };
      // Open loop: puts keep coming while earlier frames wait for the slow nodes, so frames are
      // published well past what a quorum holds.
      const all: Promise<void>[] = [];
      for (let n = 0; n < 2_000; n++) {
        const { key, value } = record(n);
        all.push(p.put(key, value).then(() => check(n)));
        if (n % 25 === 24) await new Promise((r) => setTimeout(r, 1));
      }
      await Promise.all(all);
      expect(bad).toEqual([]);
    } finally {
      await p.close();
    }
  });

  it('with quorum = nodes, a resolved put is on every node', async () => {
    const dir = tempDir();
    const p = await FloorPipeline.start(dir, { nodes: 3, quorum: 3, fsync: 'fdatasync' });
    try {
      for (let n = 0; n < 200; n++) {
        const { key, value } = record(n);
        await p.put(key, value);
        expect(copies(dir, 3, n)).toBe(3);
      }
    } finally {
      await p.close();
    }
  });

  it('refuses bad options and oversized records with clear errors', async () => {
    const dir = tempDir();
    await expect(FloorPipeline.start(dir, { nodes: 0 })).rejects.toThrow(/nodes must be 1\.\.8/);
    await expect(FloorPipeline.start(dir, { nodes: 3, quorum: 4 })).rejects.toThrow(/quorum must be 1\.\.nodes/);
    await expect(FloorPipeline.start(dir, { framesInFlight: 0 })).rejects.toThrow(/framesInFlight must be 1\.\.64/);
    const p = await FloorPipeline.start(dir, { nodes: 1, quorum: 1, fsync: 'none' });
    try {
      await expect(p.put(new Uint8Array(16), new Uint8Array(200))).rejects.toThrow(/over 124 bytes/);
    } finally {
      await p.close();
    }
  });
});

describe('floor server (bench:redis: the floor pipeline behind a RESP front)', () => {
  it('answers each SET +OK in request order, only once the SET is on 4 of 6 node files', async () => {
    const { startFloorServer } = await import('../src/bench/floor-server.js');
    const dir = tempDir();
    const srv = await startFloorServer(dir, { framesInFlight: 4 });
    const sock = net.connect(srv.port, '127.0.0.1');
    try {
      await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
      const total = 300;
      const bulk = (b: Uint8Array): Buffer => Buffer.concat([Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n')]);
      const req = (n: number): Buffer => {
        const { key, value } = record(n);
        return Buffer.concat([Buffer.from('*3\r\n'), bulk(Buffer.from('SET')), bulk(key), bulk(value)]);
      };
      const bad: string[] = [];
      let text = '';
      let oks = 0;
      const done = new Promise<void>((resolve) => {
        sock.on('data', (b: Buffer) => {
          text += b.toString('latin1');
          for (let i = text.indexOf('\r\n'); i >= 0; i = text.indexOf('\r\n')) {
            const line = text.slice(0, i);
            text = text.slice(i + 2);
            if (oks === 150 || oks === 151) { // a SET too big for the floor and a PING, sent between SET 149 and SET 150
              const want = oks === 150 ? '-ERR the floor server takes key + value up to 124 bytes' : '+PONG';
              if (line !== want) bad.push(`reply ${oks}: ${line}`);
              oks++;
              continue;
            }
            const n = oks > 150 ? oks - 2 : oks;
            if (line !== '+OK') bad.push(`reply to SET ${n}: ${line}`);
            const c = copies(dir, 6, n);
            if (c < 4) bad.push(`SET ${n}: ${c} copies at its +OK`);
            // Written is not durable: the nodes publish their end only after fdatasync.
            const ends = srv.pipeline.durableEnds().sort((x, y) => y - x);
            if (ends[3]! <= n) bad.push(`SET ${n}: the 4th durable end is ${ends[3]} at its +OK`);
            if (++oks === total + 2) resolve();
          }
        });
      });
      // Pipelined in a few writes, so replies come back in bursts and frames overlap.
      const reqs = Array.from({ length: total }, (_, n) => req(n));
      sock.write(Buffer.concat(reqs.slice(0, 150)));
      sock.write(Buffer.concat([encodeCommand(['SET', 'big', Buffer.alloc(200, 1)]), Buffer.from('*1\r\n$4\r\nPING\r\n')]));
      sock.write(Buffer.concat(reqs.slice(150)));
      await done;
      expect(bad).toEqual([]);
    } finally {
      sock.destroy();
      await srv.close();
    }
  });
});

describe('thread start-up floor (bench:recovery)', () => {
  it('starts empty workers, waits for each, and terminates them', async () => {
    const { startEmptyWorkers } = await import('../src/bench/thread-floor.js');
    const ms = await startEmptyWorkers(2);
    expect(ms).toBeGreaterThan(0);
    expect(ms).toBeLessThan(30_000);
  });
});
