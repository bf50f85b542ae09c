// Helpers for the Redis-server tests: an in-process `auroral serve` on a small volume, and a raw
// RESP connection for byte-exact checks.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { open, type Database, type OpenOptions } from '../src/index.js';
import { RedisServer, type ServeOptions } from '../src/redis/server.js';
import { dumpKeyspace } from './redis-fuzz-core.js';

/** helpers.ts's smallOptions (not imported: scripts use this file outside vitest). */
export function smallOptions(dir: string, extra: Partial<OpenOptions> = {}): OpenOptions {
  return {
    dir, segmentBytes: 1 << 20, valueBytesMax: 16 << 10, mtrBytesMax: 64 << 10, groupCommit: { batchBytesMax: 64 << 10 },
    nodeRingBytes: 1 << 20, logRingBytes: 1 << 20, ...extra,
  };
}

/** A temp dir the caller removes (vitest's tempDir is removed after each test, too early for a server shared by a file). */
export function scratchDir(prefix = 'auroral-redis-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface Running {
  srv: RedisServer;
  db: Database;
  dir: string;
  port: number;
  close(): Promise<void>;
}

export async function startServer(dir: string, opts: Partial<ServeOptions> = {}, dbOpts: Partial<OpenOptions> = {}): Promise<Running> {
  const db = await open(smallOptions(dir, dbOpts));
  let srv: RedisServer;
  try {
    srv = await RedisServer.start(db, { port: 0, ...opts });
  } catch (e) {
    await db.close();
    throw e;
  }
  let closed = false;
  return {
    srv, db, dir, port: srv.port,
    async close() {
      if (closed) return;
      closed = true;
      await srv.close();
      await db.close();
    },
  };
}

export async function withServer<T>(dir: string, fn: (r: Running) => Promise<T>, opts: Partial<ServeOptions> = {}, dbOpts: Partial<OpenOptions> = {}): Promise<T> {
  const r = await startServer(dir, opts, dbOpts);
  try {
    return await fn(r);
  } finally {
    await r.close();
  }
}

/** A raw socket: send bytes, read until `until` matches what arrived (or the socket closes). */
export class RawConn {
  readonly sock: net.Socket;
  private data = Buffer.alloc(0);
  closed = false;
  private waiters: (() => void)[] = [];

  private constructor(sock: net.Socket) {
    this.sock = sock;
    sock.on('data', (b: Buffer) => {
      this.data = Buffer.concat([this.data, b]);
      this.wake();
    });
    sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
    sock.on('error', () => {});
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  static connect(port: number): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new RawConn(s)));
      s.once('error', reject);
    });
  }

  send(b: Buffer | string): void {
    this.sock.write(b);
  }

  /** Waits until `n` replies (top-level, RESP2) have arrived or the socket closed; returns the bytes. */
  async read(n: number, timeoutMs = 5000): Promise<string> {
    const end = Date.now() + timeoutMs;
    while (countReplies(this.data) < n && !this.closed) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${n} replies, got ${JSON.stringify(this.data.toString('latin1'))}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
    const s = this.data.toString('latin1');
    this.data = Buffer.alloc(0);
    return s;
  }

  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    return this.closed;
  }

  close(): void {
    this.sock.destroy();
  }
}

/** How many complete top-level RESP replies `b` holds. */
export function countReplies(b: Buffer): number {
  let at = 0;
  let n = 0;
  for (;;) {
    const end = skipReply(b, at);
    if (end < 0) return n;
    at = end;
    n++;
  }
}

function skipReply(b: Buffer, at: number): number {
  if (at >= b.length) return -1;
  const cr = b.indexOf('\r\n', at);
  if (cr < 0) return -1;
  const t = String.fromCharCode(b[at]!);
  const line = b.toString('latin1', at + 1, cr);
  let next = cr + 2;
  if (t === '$' || t === '=' || t === '!') {
    const len = Number(line);
    if (len < 0) return next;
    return next + len + 2 <= b.length ? next + len + 2 : -1;
  }
  if (t === '*' || t === '~' || t === '%' || t === '>') {
    let items = Number(line);
    if (items < 0) return next;
    if (t === '%') items *= 2;
    for (let i = 0; i < items; i++) {
      next = skipReply(b, next);
      if (next < 0) return -1;
    }
    return next;
  }
  return next;
}

/** Whether the server serves (not failed, not reloading its dataset from the log). */
export function serverReady(srv: RedisServer): boolean {
  return srv.info('persistence', [...srv.clients()][0]!).includes('auroral_state:ready');
}

/**
 * Closes `r` and starts a server on its volume again: the keyspace `r` held in memory, and the
 * one the restart read back from the log (a test expects them equal: nothing served that the log
 * does not hold).
 */
export async function keyspaceAcrossRestart(r: Running): Promise<{ before: Map<string, string>; after: Map<string, string> }> {
  const before = dumpKeyspace(r.srv.keyspace);
  await r.close();
  const again = await startServer(r.dir);
  try {
    return { before, after: dumpKeyspace(again.srv.keyspace) };
  } finally {
    await again.close();
  }
}

