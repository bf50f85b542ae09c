// `auroral serve`: a Redis-compatible server on an Auroral volume (src/redis/). Loopback by
// default; a non-loopback address needs --requirepass.
import { open, type OpenOptions } from '../index.js';
import { parseKnob, setPath } from '../bench/sweep.js';
import { defaultServeOptions, RedisServer } from '../redis/server.js';
import { intFlag, parseFlags, UsageError } from './args.js';

export const serveUsage = `usage: auroral serve --dir DIR [--port 6380] [--host 127.0.0.1] [--requirepass P] [flags]

A Redis-compatible server (RESP2, RESP3 after HELLO 3) whose writes are durable on 4 of 6 storage
nodes before they are acknowledged (as Amazon MemoryDB). The dataset is in memory and is reloaded
from the volume at start.
  --dir DIR                 the volume (created if missing)
  --port N                  TCP port (default 6380; 0 picks one)
  --host ADDR               address to bind (default 127.0.0.1); not loopback: --requirepass needed
  --requirepass P           clients must AUTH with P (default user)
  --maxclients N            connected clients at most (default ${defaultServeOptions.maxClients})
  --timeout S               close a client idle S seconds (default 0: never)
  --output-buffer-max B     bytes of replies queued for one client before it is disconnected (default ${defaultServeOptions.outputBufferBytesMax})
  --proto-max-bulk-len B    largest request argument (default ${defaultServeOptions.resp.bulkBytesMax})
  --max-args N              most arguments in one request (default ${defaultServeOptions.resp.argsMax})
  --inline-max B            longest inline request or header line (default ${defaultServeOptions.resp.inlineBytesMax})
  --query-buffer-max B      most bytes one unfinished request may hold; past it the client is disconnected (default ${defaultServeOptions.resp.queryBytesMax})
  --set PATH=VALUE          an engine option of open() (repeatable), e.g. --set segmentBytes=1048576
  --quiet                   no log lines`;

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::ffff:127.0.0.1';
}

export async function serve(args: string[]): Promise<void> {
  const { values: a } = parseFlags(args, {
    dir: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' }, requirepass: { type: 'string' },
    maxclients: { type: 'string' }, timeout: { type: 'string' }, 'output-buffer-max': { type: 'string' },
    'proto-max-bulk-len': { type: 'string' }, 'max-args': { type: 'string' }, 'inline-max': { type: 'string' }, 'query-buffer-max': { type: 'string' }, quiet: { type: 'boolean' },
    set: { type: 'string', multiple: true },
  });
  if (a.help === true) {
    console.log(serveUsage);
    return;
  }
  if (a.dir === undefined) throw new UsageError('--dir is required');
  const host = a.host ?? '127.0.0.1';
  const requirepass = a.requirepass ?? null;
  if (!isLoopback(host) && (requirepass === null || requirepass === '')) {
    throw new UsageError(`refusing to listen on ${host} without --requirepass (anyone who can reach it could read and write the data)`);
  }
  const log = a.quiet === true ? () => {} : (s: string) => console.log(`auroral serve: ${s}`);
  const opts = {
    host, port: intFlag('port', a.port, 6380, 0, 65535), requirepass,
    maxClients: intFlag('maxclients', a.maxclients, defaultServeOptions.maxClients, 1, 1_000_000),
    idleTimeoutMs: intFlag('timeout', a.timeout, 0, 0, 1_000_000) * 1000,
    outputBufferBytesMax: intFlag('output-buffer-max', a['output-buffer-max'], defaultServeOptions.outputBufferBytesMax, 1024),
    resp: {
      bulkBytesMax: intFlag('proto-max-bulk-len', a['proto-max-bulk-len'], defaultServeOptions.resp.bulkBytesMax, 1, 512 * 1024 * 1024),
      argsMax: intFlag('max-args', a['max-args'], defaultServeOptions.resp.argsMax, 1, 16 * 1024 * 1024),
      inlineBytesMax: intFlag('inline-max', a['inline-max'], defaultServeOptions.resp.inlineBytesMax, 16, 64 * 1024 * 1024),
      queryBytesMax: intFlag('query-buffer-max', a['query-buffer-max'], defaultServeOptions.resp.queryBytesMax, 1024, 4 * 1024 * 1024 * 1024),
    },
    log,
  };
  // Four frames in flight: a Redis load is many small MTRs from many clients; pipelining frames
  // keeps the nodes' fdatasyncs busy (measured: SET at -c 50 about 1.5x the default of one).
  // No page cache: the server answers every read from its own in-memory dataset and reloads it with
  // db.scan() (which reads the nodes), so the engine's cache would only copy each written value
  // into its arena (10% of the main thread under LPUSH -P 16) and hold 64 MiB for nothing.
  const engine: Record<string, unknown> = { keyBytesMax: 8192, cacheBytesMax: 0, groupCommit: { framesInFlightMax: 4 } };
  for (const spec of a.set ?? []) {
    const k = parseKnob('--set', spec);
    if (k.values.length !== 1) throw new UsageError(`--set takes one value, got '${spec}'`);
    setPath(engine, k.path, k.values[0]!);
  }
  const db = await open({ ...(engine as Omit<OpenOptions, 'dir'>), dir: a.dir });
  let srv: RedisServer;
  try {
    srv = await RedisServer.start(db, opts);
  } catch (e) {
    await db.close();
    throw e;
  }
  log(`ready on ${host}:${srv.port} (epoch ${db.epoch}, VDL ${db.vdl})`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  log('shutting down');
  await srv.close();
  await db.close();
}
