// The durability rule when the log cannot take a write, and the server's limits: a write that
// cannot become durable gets an error (never +OK) and a read of its key waits and fails with it,
// while reads of other keys are answered at once; the server reloads from the log once the quorum
// is back. Client limit, idle timeout, and a client that never reads its replies.
import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { encodeCommand } from '../src/redis/resp.js';
import { defaultServeOptions } from '../src/redis/server.js';
import { tempDir, waitFor } from './helpers.js';
import { keyspaceAcrossRestart, RawConn, serverReady, startServer } from './redis-helpers.js';

describe('durability when the quorum is lost', () => {
  it('a write that cannot become durable is never +OK; reads of its key wait, others do not; then a reload', async () => {
    const r = await startServer(tempDir(), {}, { commitTimeoutMs: 1500 });
    const ready = (): boolean => serverReady(r.srv);
    /** A write retried while its outcome is unknown: on a loaded machine the first commits after open can outrun a short commitTimeoutMs. */
    const setEventually = async (c: RawConn, k: string, v: string): Promise<void> => {
      for (let i = 0; ; i++) {
        await waitFor(ready, 20_000);
        c.send(encodeCommand(['SET', k, v]));
        const got = await c.read(1);
        if (got === '+OK\r\n') return;
        if (i >= 20) throw new Error(`SET ${k}: ${got}`);
      }
    };
    try {
      const a = await RawConn.connect(r.port);
      const b = await RawConn.connect(r.port);
      await setEventually(a, 'other', 'x');
      for (const i of [0, 1, 2]) r.db.faults.pauseNode(i); // 3 of 6 left: no write quorum
      a.send(encodeCommand(['SET', 'k', 'v']));
      await new Promise((res) => setTimeout(res, 20));
      b.send(encodeCommand(['GET', 'other']));
      expect(await b.read(1, 1000)).toBe('$1\r\nx\r\n'); // not waiting for the write of k (it waits 1.5 s)
      b.send(encodeCommand(['GET', 'k']));
      const ra = await a.read(1);
      const rb = await b.read(1);
      expect(ra).toMatch(/^-ERR Auroral could not make this write durable/);
      expect(rb).toMatch(/^-ERR Auroral could not make an earlier write of this key durable/);
      // While the log is unreachable every command is refused, inside MULTI/EXEC too: no read of
      // the failed write's value, and no +OK for a write the reload would drop from memory.
      b.send(encodeCommand(['GET', 'other']));
      expect(await b.read(1)).toMatch(/^-LOADING/);
      b.send(Buffer.concat([encodeCommand(['MULTI']), encodeCommand(['GET', 'k']), encodeCommand(['SET', 'z', '1']), encodeCommand(['EXEC'])]));
      const tx = await b.read(4);
      expect(tx).not.toMatch(/\+OK\r\n\+QUEUED|\$1\r\nv|\*2/);
      expect(tx).toMatch(/-EXECABORT/);
      for (const i of [0, 1, 2]) r.db.faults.resumeNode(i);
      expect(await waitFor(ready, 20_000)).toBe(true);
      // The outcome of the failed write is whatever the log says, and memory agrees with it.
      b.send(encodeCommand(['GET', 'k']));
      const after = await b.read(1);
      expect(['$1\r\nv\r\n', '$-1\r\n']).toContain(after);
      await setEventually(b, 'k2', 'w');
      a.close();
      b.close();
      // Memory after the reload is exactly what a restart reads from the log.
      const restarted = await keyspaceAcrossRestart(r);
      expect(restarted.after).toEqual(restarted.before);
    } finally {
      await r.close();
    }
  });
});

describe('WATCH and a write that is not durable yet', () => {
  // An aborted EXEC says "a watched key changed": a client must not learn that before the change
  // is durable (a crash could still undo it), as it must not read the value. MemoryDB holds such
  // a reply until the write it depends on is committed.
  it("an EXEC aborted by another client's write waits until that write is durable", async () => {
    const r = await startServer(tempDir(), {}, { commitTimeoutMs: 20_000 });
    try {
      const a = await RawConn.connect(r.port);
      const b = await RawConn.connect(r.port);
      a.send(encodeCommand(['SET', 'k', 'old']));
      expect(await a.read(1, 20_000)).toBe('+OK\r\n');
      b.send(encodeCommand(['WATCH', 'k']));
      expect(await b.read(1)).toBe('+OK\r\n');
      for (const i of [0, 1, 2]) r.db.faults.pauseNode(i); // 3 of 6 left: the next write waits
      a.send(encodeCommand(['SET', 'k', 'new']));
      await new Promise((res) => setTimeout(res, 20));
      b.send(Buffer.concat([encodeCommand(['MULTI']), encodeCommand(['SET', 'z', '1']), encodeCommand(['EXEC'])]));
      expect(await b.read(2)).toBe('+OK\r\n+QUEUED\r\n');
      // Not durable: neither a's +OK nor b's abort may be out.
      await expect(b.read(1, 400)).rejects.toThrow(/timed out/);
      await expect(a.read(1, 10)).rejects.toThrow(/timed out/);
      for (const i of [0, 1, 2]) r.db.faults.resumeNode(i);
      expect(await a.read(1, 20_000)).toBe('+OK\r\n');
      expect(await b.read(1, 20_000)).toBe('*-1\r\n');
      a.close();
      b.close();
    } finally {
      await r.close();
    }
  });
});

describe('limits', () => {
  it('client limit, idle timeout, and a client that never reads are handled', async () => {
    const r = await startServer(tempDir(), { maxClients: 2, idleTimeoutMs: 1500, outputBufferBytesMax: 256 * 1024 });
    try {
      const a = await RawConn.connect(r.port);
      const b = await RawConn.connect(r.port);
      const c = await RawConn.connect(r.port);
      expect(await c.read(1)).toBe('-ERR max number of clients reached\r\n');
      expect(await c.waitClosed()).toBe(true);
      // Idle clients are closed.
      expect(await a.waitClosed(10_000)).toBe(true);
      expect(await b.waitClosed(10_000)).toBe(true);
      // A client that sends requests but never reads: disconnected at the output limit.
      const big = await RawConn.connect(r.port);
      big.send(encodeCommand(['SET', 'big', 'x'.repeat(8000)]));
      await big.read(1);
      const s = net.connect(r.port, '127.0.0.1');
      await new Promise((res) => s.once('connect', res));
      s.pause(); // never reads
      let closed = false;
      s.on('close', () => { closed = true; });
      s.on('error', () => {});
      const burst = Buffer.concat(Array.from({ length: 200 }, () => encodeCommand(['GET', 'big'])));
      for (let i = 0; i < 50 && !closed; i++) {
        s.write(burst);
        await new Promise((res) => setTimeout(res, 20));
      }
      expect(await waitFor(() => closed, 5000)).toBe(true);
      expect(r.srv.stats.outputLimitDisconnects).toBeGreaterThan(0);
      // Others are still served.
      big.send('PING\r\n');
      expect(await big.read(1)).toBe('+PONG\r\n');
      // One read chunk of many requests from a client that never reads: replies queue up to the
      // output limit (256 KB, ~32 replies of 8 KB), not the chunk's 2,000 replies (16 MB).
      const hog = net.connect(r.port, '127.0.0.1');
      await new Promise((res) => hog.once('connect', res));
      hog.pause();
      hog.on('error', () => {});
      const commandsBefore = r.srv.stats.commands;
      hog.write(Buffer.concat(Array.from({ length: 2000 }, () => encodeCommand(['GET', 'big']))));
      expect(await waitFor(() => r.srv.stats.commands - commandsBefore > 30, 5000)).toBe(true);
      await new Promise((res) => setTimeout(res, 300));
      expect(r.srv.stats.outputBytesPeak).toBeLessThanOrEqual(256 * 1024 + 8100);
      hog.destroy();
      // One request whose reply would pass the output limit (MGET of one 8 KB value 40 times: 320 KB
      // of 256 KB) is never assembled: an error, that connection closed, the server still serving.
      const greedy = await RawConn.connect(r.port);
      greedy.send(encodeCommand(['MGET', ...Array.from({ length: 40 }, () => 'big')]));
      expect(await greedy.read(1)).toMatch(/^-ERR reply larger than the output buffer limit/);
      expect(await greedy.waitClosed()).toBe(true);
      big.send('PING\r\n');
      expect(await big.read(1)).toBe('+PONG\r\n');
      big.close();
    } finally {
      await r.close();
    }
  });
});

describe('query buffer limit', () => {
  it('a request that would hold more than queryBytesMax before it is complete: protocol error, that client closed, nothing of it applied, others served', async () => {
    const r = await startServer(tempDir(), { resp: { ...defaultServeOptions.resp, queryBytesMax: 64 * 1024 } });
    try {
      const other = await RawConn.connect(r.port);
      const hog = await RawConn.connect(r.port);
      // MSET of 40 pairs of 4 KB values: every bulk under proto-max-bulk-len, together 160 KB.
      const parts = ['MSET', ...Array.from({ length: 40 }, (_, i) => [`k${i}`, 'x'.repeat(4096)]).flat()];
      const wire = encodeCommand(parts);
      hog.send(wire.subarray(0, wire.length - 10)); // never completes: held, not run
      expect(await hog.read(1)).toBe('-ERR Protocol error: query buffer limit exceeded\r\n');
      expect(await hog.waitClosed()).toBe(true);
      other.send(encodeCommand(['EXISTS', 'k0']));
      expect(await other.read(1)).toBe(':0\r\n');
      other.send(encodeCommand(['CONFIG', 'GET', 'client-query-buffer-limit']));
      expect(await other.read(1)).toBe('*2\r\n$25\r\nclient-query-buffer-limit\r\n$5\r\n65536\r\n');
      other.close();
    } finally {
      await r.close();
    }
  });
});

describe('expiry at start', () => {
  it('a collection too big for one MTR whose TTL passed while the server was down is deleted at start, and stays deleted', async () => {
    const engine = { lsnAllocationLimit: 64 }; // MTRs of at most 64 records: 200 fields need several
    const dir = tempDir();
    const r = await startServer(dir, {}, engine);
    try {
      const c = await RawConn.connect(r.port);
      c.send(encodeCommand(['HSET', 'h', ...Array.from({ length: 200 }, (_, i) => [`f${i}`, 'v']).flat()]));
      expect(await c.read(1)).toBe(':200\r\n');
      c.send(encodeCommand(['PEXPIRE', 'h', '300']));
      expect(await c.read(1)).toBe(':1\r\n');
      c.close();
    } finally {
      await r.close();
    }
    await new Promise((res) => setTimeout(res, 400));
    for (let round = 0; round < 2; round++) {
      const again = await startServer(dir, {}, engine); // failed with TRANSACTION_TOO_LARGE: 201 records in one MTR
      try {
        const c = await RawConn.connect(again.port);
        c.send(encodeCommand(['EXISTS', 'h']));
        expect(await c.read(1)).toBe(':0\r\n');
        c.close();
      } finally {
        await again.close();
      }
    }
  });
});

describe('an unexpected error inside a command', () => {
  it('closes only that client, and memory is rebuilt from the log (a half-applied change is never served)', async () => {
    const r = await startServer(tempDir());
    try {
      const a = await RawConn.connect(r.port);
      a.send(encodeCommand(['SET', 'k', 'v0']));
      expect(await a.read(1)).toBe('+OK\r\n');
      // A handler that changes memory and then throws (a bug, or a RangeError at some size limit).
      const table = (r.srv as unknown as { exec: { table: Map<string, { run: (...x: unknown[]) => unknown }> } }).exec.table;
      const set = table.get('set')!;
      const run = set.run;
      set.run = (...x: unknown[]) => {
        run(...x);
        throw new RangeError('injected');
      };
      const b = await RawConn.connect(r.port);
      b.send(encodeCommand(['SET', 'k', 'v1']));
      expect(await b.read(1)).toMatch(/^-ERR internal error: injected/);
      expect(await b.waitClosed()).toBe(true);
      set.run = run;
      const ready = (): boolean => serverReady(r.srv);
      expect(await waitFor(ready, 20_000)).toBe(true);
      a.send(encodeCommand(['GET', 'k']));
      expect(await a.read(1)).toBe('$2\r\nv0\r\n'); // the log's value, not the unlogged v1
      a.close();
    } finally {
      await r.close();
    }
  });
});


describe('a client that half-closes after its requests', () => {
  // `printf 'SET a b\r\nGET a\r\n' | nc -N host port` sends its requests and then FIN: every reply
  // must still come back, the durable ones once durable, before the server closes its side.
  it('gets every reply, waited-for writes and a paused pipeline included, then the close', async () => {
    const r = await startServer(tempDir(), { pipelineMax: 8 });
    try {
      const ask = (payload: Buffer): Promise<string> => new Promise((resolve, reject) => {
        const s = net.connect(r.port, '127.0.0.1', () => s.end(payload)); // the requests, then FIN
        let got = '';
        s.on('data', (b: Buffer) => { got += b.toString('latin1'); });
        s.on('close', () => resolve(got));
        s.on('error', reject);
      });
      expect(await ask(Buffer.concat([encodeCommand(['SET', 'a', 'b']), encodeCommand(['GET', 'a'])]))).toBe('+OK\r\n$1\r\nb\r\n');
      // 100 requests with pipelineMax 8: reading pauses and resumes while the FIN waits.
      expect(await ask(Buffer.from('PING\r\n'.repeat(100)))).toBe('+PONG\r\n'.repeat(100));
      const sets = Array.from({ length: 50 }, (_, i) => encodeCommand(['SET', `k${i}`, 'v']));
      expect(await ask(Buffer.concat([...sets, encodeCommand(['DBSIZE'])]))).toBe(`${'+OK\r\n'.repeat(50)}:51\r\n`);
      // Exactly one full read buffer of inline PINGs (libuv reads the EOF with it).
      const pings = 'PING\r\n'.repeat(Math.floor(65536 / 6));
      const fill = Buffer.from(pings + ' '.repeat(65536 - pings.length - 2) + '\r\n');
      expect(await ask(fill)).toBe('+PONG\r\n'.repeat(Math.floor(65536 / 6)));
      expect(await waitFor(() => [...r.srv.clients()].length === 0)).toBe(true); // every one closed, none left half-open
    } finally {
      await r.close();
    }
  });
});
