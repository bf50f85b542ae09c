// The floor server: the floor pipeline (floor-pipeline.ts) behind a RESP front, for `npm run
// bench:redis`. It answers SET with +OK once the put is on 4 of 6 fdatasync'd files, in request
// order, and nothing else of Redis (CONFIG GET answers an empty value, PING pongs, the rest is an
// error). It parses with the server's own RequestParser, puts the SETs of one event-loop turn
// together, and writes each client's replies of one burst in one write, so it pays what any durable server on this design pays per request (a
// client's socket hop, RESP, the threads and six fdatasyncs) and nothing of an engine or a
// keyspace: redis-benchmark's SET rate against it is the ceiling for `auroral serve` on this
// machine, in the same run. Not a server to use: it keeps no data it could read back.
//
//   node dist/bench/floor-server.js --dir DIR [--port 0] [--frames 1]   prints "port N", stops on SIGTERM
import * as net from 'node:net';
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { FloorPipeline } from './floor-pipeline.js';
import { FLOOR_SLOT_BYTES } from './floor-layout.js';
import { ProtocolError, RequestParser, defaultRespLimits } from '../redis/resp.js';

const OK = Buffer.from('+OK\r\n');
const PONG = Buffer.from('+PONG\r\n');

interface Conn {
  sock: net.Socket;
  parser: RequestParser;
  /** The newest SET not yet acknowledged: a later non-SET reply waits for it (request order). */
  last: Promise<void> | null;
  out: Buffer[];
  flushQueued: boolean;
}

export interface FloorServer {
  readonly port: number;
  readonly pipeline: FloorPipeline;
  close(): Promise<void>;
}

export async function startFloorServer(dir: string, opts: { port?: number; host?: string; framesInFlight?: number } = {}): Promise<FloorServer> {
  const pipeline = await FloorPipeline.start(dir, { framesInFlight: opts.framesInFlight ?? 1 });
  const conns = new Set<Conn>();
  const send = (c: Conn, b: Buffer): void => {
    c.out.push(b);
    if (c.flushQueued) return;
    c.flushQueued = true;
    // Puts resolve in bursts (one per quorum advance); their reply callbacks all run before this.
    queueMicrotask(() => {
      c.flushQueued = false;
      const out = c.out.length === 1 ? c.out[0]! : Buffer.concat(c.out);
      c.out = [];
      if (!c.sock.destroyed) c.sock.write(out);
    });
  };
  let turn: { key: Buffer; value: Buffer; resolve: () => void; reject: (e: unknown) => void }[] = [];
  const putTurn = (): void => {
    const puts = turn;
    turn = [];
    for (const t of puts) pipeline.put(t.key, t.value).then(t.resolve, t.reject);
  };
  const handle = (c: Conn, args: Buffer[]): void => {
    const name = args[0]!.toString('latin1').toLowerCase();
    if (name === 'set' && args.length >= 3 && 4 + args[1]!.length + args[2]!.length <= FLOOR_SLOT_BYTES) {
      // Put at the end of the event-loop turn, with every SET that arrived in it from any client
      // (as `auroral serve` sends a turn's effects as one MTR): putting each as its socket is read
      // rang the group-commit thread per client and cut frames of one record. Arguments are views
      // of this read's chunk, which Node never reuses; put copies them into the shared ring.
      const p = new Promise<void>((resolve, reject) => turn.push({ key: args[1]!, value: args[2]!, resolve, reject }));
      if (turn.length === 1) setImmediate(putTurn);
      // A failed put answers an error, never +OK. Only a closing pipeline fails a put that fits
      // (too big ones are refused above, in order): its connections are destroyed anyway.
      // (c.last is the put itself, not this reaction: a reply chained on it then runs right after
      // this one, before the reactions of later puts resolved in the same burst.)
      c.last = p;
      void p.then(() => send(c, OK), (e: unknown) => send(c, Buffer.from(`-ERR ${(e as Error).message}\r\n`)));
      return;
    }
    let reply: Buffer;
    if (name === 'ping') reply = PONG;
    else if (name === 'set' && args.length >= 3) reply = Buffer.from(`-ERR the floor server takes key + value up to ${FLOOR_SLOT_BYTES - 4} bytes\r\n`);
    else if (name === 'config' && args.length === 3) {
      const k = args[2]!;
      reply = Buffer.concat([Buffer.from(`*2\r\n$${k.length}\r\n`), k, Buffer.from('\r\n$0\r\n\r\n')]);
    } else reply = Buffer.from(`-ERR the floor server answers SET, PING and CONFIG GET only\r\n`);
    if (c.last === null) send(c, reply);
    else void c.last.then(() => send(c, reply), () => send(c, reply));
  };
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    const c: Conn = { sock, parser: new RequestParser(defaultRespLimits), last: null, out: [], flushQueued: false };
    conns.add(c);
    sock.on('data', (chunk: Buffer) => {
      c.parser.feed(chunk);
      try {
        for (let args = c.parser.next(); args !== null; args = c.parser.next()) if (args.length > 0) handle(c, args);
      } catch (e) {
        if (!(e instanceof ProtocolError)) throw e;
        sock.end(`-ERR Protocol error: ${e.message}\r\n`);
      }
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => conns.delete(c));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    pipeline,
    async close(): Promise<void> {
      for (const c of conns) c.sock.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pipeline.close();
    },
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href) {
  const { values: a } = parseArgs({ options: { dir: { type: 'string' }, port: { type: 'string' }, frames: { type: 'string' } } });
  if (a.dir === undefined) throw new Error('floor-server: --dir is required');
  const srv = await startFloorServer(a.dir, { port: Number(a.port ?? 0), framesInFlight: Number(a.frames ?? 1) });
  console.log(`port ${srv.port}`);
  const stop = (): void => { void srv.close(); };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
