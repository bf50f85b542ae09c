// auroral serve with real clients: ioredis and node-redis (pipelines, MULTI/EXEC/WATCH, binary
// values, expiry, RESP3, reconnect), and the dataset after a restart.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { tempDir } from './helpers.js';
import * as fs from 'node:fs';
import { scratchDir, startServer, type Running } from './redis-helpers.js';

// One server for the file (opening a volume starts seven threads); each test uses its own keys.
let shared: Running;
beforeAll(async () => {
  shared = await startServer(scratchDir());
});
afterAll(async () => {
  await shared.close();
  fs.rmSync(shared.dir, { recursive: true, force: true });
});
const withServer = async <T>(fn: (r: Running) => Promise<T>): Promise<T> => {
  await shared.srv.keyspace; // the same server
  return fn(shared);
};

describe('auroral serve with ioredis', () => {
  it('strings, pipelines, binary values, and expiry', async () => {
    await withServer(async ({ port }) => {
      const r = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 1 });
      await r.connect();
      try {
        expect(await r.set('a', '1')).toBe('OK');
        expect(await r.get('a')).toBe('1');
        expect(await r.incrby('a', 41)).toBe(42);
        const bin = Buffer.from([0, 1, 2, 255, 13, 10, 0]);
        const key = Buffer.from([255, 0, 10, 13]);
        await r.set(key, bin);
        expect(Buffer.compare((await r.getBuffer(key))!, bin)).toBe(0);
        // A pipeline of 500 commands: replies in order.
        const p = r.pipeline();
        for (let i = 0; i < 500; i++) p.set(`k${i}`, `v${i}`).get(`k${i}`);
        const res = await p.exec();
        for (let i = 0; i < 500; i++) {
          expect(res![2 * i]).toEqual([null, 'OK']);
          expect(res![2 * i + 1]).toEqual([null, `v${i}`]);
        }
        expect(await r.set('t', 'x', 'PX', 150)).toBe('OK');
        expect(await r.pttl('t')).toBeGreaterThan(0);
        await new Promise((res2) => setTimeout(res2, 250));
        expect(await r.get('t')).toBeNull();
        await expect(r.lpush('a', 'x')).rejects.toThrow('WRONGTYPE Operation against a key holding the wrong kind of value');
        await expect(r.incr('nope-' + 'x'.repeat(3))).resolves.toBe(1);
        await expect(r.call('get')).rejects.toThrow("ERR wrong number of arguments for 'get' command");
        await expect(r.call('nosuchcmd', 'x')).rejects.toThrow("ERR unknown command 'nosuchcmd', with args beginning with: 'x' ");
        expect(await r.ping()).toBe('PONG'); // the connection stays open
      } finally {
        r.disconnect();
      }
    });
  });

  it('collections', async () => {
    await withServer(async ({ port }) => {
      const r = new Redis({ port });
      try {
        expect(await r.hset('h', 'f1', 'a', 'f2', 'b')).toBe(2);
        expect(await r.hgetall('h')).toEqual({ f1: 'a', f2: 'b' });
        expect(await r.hincrby('h', 'n', 5)).toBe(5);
        expect(await r.rpush('l', 'a', 'b', 'c')).toBe(3);
        expect(await r.lpush('l', 'z')).toBe(4);
        expect(await r.lrange('l', 0, -1)).toEqual(['z', 'a', 'b', 'c']);
        expect(await r.rpop('l', 2)).toEqual(['c', 'b']);
        expect(await r.sadd('s', 'x', 'y', 'z')).toBe(3);
        expect((await r.smembers('s')).sort()).toEqual(['x', 'y', 'z']);
        expect(await r.zadd('z', 1, 'a', 2, 'b', 3, 'c')).toBe(3);
        expect(await r.zrange('z', '0', '-1', 'WITHSCORES')).toEqual(['a', '1', 'b', '2', 'c', '3']);
        expect(await r.zrangebyscore('z', '(1', '+inf')).toEqual(['b', 'c']);
        expect(await r.zincrby('z', 2.5, 'a')).toBe('3.5');
        const seen = new Set<string>();
        let cursor = '0';
        do {
          const [next, keys] = await r.scan(cursor, 'COUNT', 2);
          for (const k of keys) seen.add(k);
          cursor = next;
        } while (cursor !== '0');
        for (const k of ['h', 'l', 's', 'z']) expect(seen.has(k)).toBe(true);
      } finally {
        r.disconnect();
      }
    });
  });

  it('MULTI/EXEC is one MTR; WATCH aborts on a change', async () => {
    await withServer(async ({ port, srv }) => {
      const a = new Redis({ port });
      const b = new Redis({ port });
      try {
        const mtrs = srv.info('persistence', [...srv.clients()][0]!).match(/auroral_mtrs:(\d+)/)![1];
        const r = await a.multi().set('x', '1').incr('x').lpush('q', 'a').exec();
        expect(r).toEqual([[null, 'OK'], [null, 2], [null, 1]]);
        expect(srv.info('persistence', [...srv.clients()][0]!)).toContain(`auroral_mtrs:${Number(mtrs) + 1}\r\n`);
        await a.watch('x');
        await b.set('x', 'changed');
        expect(await a.multi().set('x', 'mine').exec()).toBeNull();
        expect(await a.get('x')).toBe('changed');
        // An error while queueing aborts EXEC.
        await a.call('MULTI');
        await expect(a.call('nosuch')).rejects.toThrow('unknown command');
        await expect(a.call('EXEC')).rejects.toThrow('EXECABORT Transaction discarded because of previous errors.');
      } finally {
        a.disconnect();
        b.disconnect();
      }
    });
  });

  it('reconnects after the server restarts, and the data (TTLs included) is back', async () => {
    const first = await startServer(tempDir('auroral-redis-'));
    const port = first.port;
    const r = new Redis({ port, retryStrategy: () => 50, maxRetriesPerRequest: 50 });
    r.on('error', () => {}); // refused while the server restarts: ioredis retries
    try {
      await r.set('durable', 'yes', 'EX', 1000);
      await r.rpush('list', 'a', 'b', 'c');
      await r.lpop('list');
      await r.zadd('zs', 5, 'm');
      await r.sadd('set', 'q');
      await r.hset('hash', 'f', 'v');
      await first.close();
      const second = await startServer(first.dir, { port });
      try {
        expect(await r.get('durable')).toBe('yes');
        const ttl = await r.ttl('durable');
        expect(ttl).toBeGreaterThan(990);
        expect(await r.lrange('list', 0, -1)).toEqual(['b', 'c']);
        expect(await r.zscore('zs', 'm')).toBe('5');
        expect(await r.smembers('set')).toEqual(['q']);
        expect(await r.hget('hash', 'f')).toBe('v');
      } finally {
        r.disconnect();
        await second.close();
      }
    } finally {
      r.disconnect();
      await first.close();
    }
  });
});

describe('auroral serve with node-redis', () => {
  it('RESP2 and RESP3, pipelines, transactions, binary', async () => {
    await withServer(async ({ port }) => {
      for (const RESP of [2, 3] as const) {
        const c = createClient({ socket: { port, host: '127.0.0.1' }, RESP });
        await c.connect();
        try {
          await c.set('n', '10');
          expect(await c.incr('n')).toBe(11);
          const [x, y] = await Promise.all([c.get('n'), c.exists('n')]);
          expect([x, y]).toEqual(['11', 1]);
          const m = await c.multi().set('m', 'v').get('m').exec();
          expect(m).toEqual(['OK', 'v']);
          await c.hSet('hh', { a: '1', b: '2' });
          expect(await c.hGetAll('hh')).toEqual({ a: '1', b: '2' });
          expect(await c.zScore(`zz${RESP}`, 'q')).toBeNull();
          await c.zAdd(`zz${RESP}`, [{ score: 1.5, value: 'q' }]);
          expect(await c.zScore(`zz${RESP}`, 'q')).toBe(RESP === 3 ? 1.5 : 1.5);
          expect(await c.ping()).toBe('PONG');
        } finally {
          await c.close();
        }
      }
    });
  });
});
