#!/usr/bin/env node
// `auroral`: the tuning lab's command line. With no command it runs `auroral bench` with its
// defaults (durable puts, 5 s, 64 in flight): that is `npm start`.
import { isAuroralError } from '../errors.js';
import { isUsageError } from './args.js';
import { bench, benchUsage } from './bench.js';
import { crashTest, crashTestUsage } from './crash-test.js';
import { inspect, inspectUsage } from './inspect.js';
import { profile, profileUsage } from './profile.js';
import { serve, serveUsage } from './serve.js';
import { VERSION } from './version.js';

const usage = `usage: auroral <command> [flags]       (auroral <command> --help for its flags)

Auroral ${VERSION}: Aurora's storage write path on one host (writer, group commit, six storage
nodes, durable at 4 of 6). The tuning lab:

  bench        run a workload (put, write-only, tpcb-like, read-mostly) at one point or over a
               grid of knob values; table + results.json + report.html (the default command)
  profile      run a workload under 0x (flamegraph of the writer thread) with a CPU profile of
               the group-commit thread and every storage node
  crash-test   the crash-recovery timing suite: process, node and writer restart vs full replay
  inspect DIR  a volume on disk: epoch, history, per-node SCL, segments and sizes, every frame's CRC
  serve        a Redis-compatible server whose writes are durable on 4 of 6 nodes before +OK

examples
  auroral bench --workload put --sweep groupCommit.waitMicrosMax=0,200,1000 --sweep inflight=1,64,256 --seconds 3
  auroral bench --workload tpcb-like --scale 10 --seconds 10
  auroral profile --workload put --seconds 10
  auroral crash-test --sizes 64,256
  auroral serve --dir /tmp/vol --port 6380`;

const commands: Record<string, { run: (args: string[]) => Promise<void>; usage: string }> = {
  bench: { run: bench, usage: benchUsage },
  profile: { run: profile, usage: profileUsage },
  'crash-test': { run: crashTest, usage: crashTestUsage },
  inspect: { run: inspect, usage: inspectUsage },
  serve: { run: serve, usage: serveUsage },
};

async function main(argv: string[]): Promise<void> {
  const [first, ...rest] = argv;
  if (first === '--help' || first === '-h' || first === 'help') {
    const topic = first === 'help' ? rest[0] : undefined;
    console.log(topic !== undefined && commands[topic] !== undefined ? commands[topic].usage : usage);
    return;
  }
  if (first === '--version') {
    console.log(VERSION);
    return;
  }
  // No command (or flags only): the default bench, so `npm start -- --seconds 3` works too.
  const name = first === undefined || first.startsWith('-') ? 'bench' : first;
  const cmd = commands[name];
  if (cmd === undefined) {
    console.error(`auroral: unknown command '${name}'\n\n${usage}`);
    process.exitCode = 2;
    return;
  }
  try {
    await cmd.run(name === first ? rest : argv);
  } catch (e) {
    if (isUsageError(e)) {
      console.error(`auroral ${name}: ${(e as Error).message}\n\n${cmd.usage}`);
      process.exitCode = 2;
      return;
    }
    console.error(isAuroralError(e) ? `auroral ${name}: ${e.message}` : e);
    process.exitCode = 1;
  }
}

void main(process.argv.slice(2));
