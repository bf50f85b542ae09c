// `npx tsx native-free-bench/redis-restart.ts [KEYS]`: fills `auroral serve` with KEYS (default
// 1M) string keys (MSET, 1,000 per command; 10% with a TTL), SIGKILLs it, and times the restart
// until it accepts connections; checks DBSIZE.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeCommand } from '../src/redis/resp.js';

const KEYS = Number(process.argv[2] ?? 1_000_000);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redis-restart-'));
const port = 6400 + Math.floor(Math.random() * 1000);

function start(): { proc: ChildProcess; ready: Promise<number> } {
  const t0 = performance.now();
  const proc = spawn(process.execPath, [path.resolve('dist/cli/main.js'), 'serve', '--dir', dir, '--port', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = new Promise<number>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      process.stdout.write(b);
      if (out.includes('ready on')) resolve(performance.now() - t0);
    });
    proc.once('exit', (c) => reject(new Error(`exited ${c}`)));
  });
  return { proc, ready };
}

async function run(cmds: Buffer[], expectReplies: number): Promise<string> {
  const s = net.connect(port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  let buf = '';
  let n = 0;
  const done = new Promise<void>((resolve) => s.on('data', (b: Buffer) => {
    buf += b.toString('latin1');
    n = buf.split('\r\n').length - 1;
    if (n >= expectReplies) resolve();
  }));
  for (const c of cmds) s.write(c);
  await done;
  s.destroy();
  return buf;
}

try {
  let srv = start();
  await srv.ready;
  const t0 = performance.now();
  const cmds: Buffer[] = [];
  for (let i = 0; i < KEYS; i += 1000) {
    const args = ['MSET'];
    for (let j = i; j < Math.min(KEYS, i + 1000); j++) args.push(`key:${j}`, `value-${j}`);
    cmds.push(encodeCommand(args));
  }
  await run(cmds, cmds.length);
  const ttl: Buffer[] = [];
  for (let i = 0; i < KEYS; i += 10) ttl.push(encodeCommand(['EXPIRE', `key:${i}`, '100000']));
  await run(ttl, ttl.length);
  console.log(`filled ${KEYS} keys in ${((performance.now() - t0) / 1000).toFixed(1)} s; SIGKILL`);
  srv.proc.kill('SIGKILL');
  await new Promise((r) => srv.proc.once('exit', r));
  srv = start();
  const ms = await srv.ready;
  const size = await run([encodeCommand(['DBSIZE'])], 1);
  console.log(`restart to ready: ${(ms / 1000).toFixed(1)} s for ${KEYS} keys; DBSIZE ${size.trim()}`);
  srv.proc.kill('SIGTERM');
  await new Promise((r) => srv.proc.once('exit', r));
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
