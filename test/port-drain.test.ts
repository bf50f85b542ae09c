// Goal: what a thread posted before it exited is read before its exit is acted on.
// Method: a thread posts on a transferred port and exits while this thread is blocked; Node then
// emits 'exit' before the port's 'message' (without the drain this test sees ['exit']: checked),
// and drainPort, called from the exit handler, hands over the message first.
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { drainPort } from '../src/shared/port-drain.js';

const SOURCE = `
  const { workerData } = require('node:worker_threads');
  workerData.port.postMessage({ why: 'IO_ERROR' });
  Atomics.store(workerData.posted, 0, 1);
`;

async function exitWhileBusy(drain: (port: MessagePort, onMessage: (m: { why: string }) => void) => void): Promise<string[]> {
  const { port1, port2 } = new MessageChannel();
  const posted = new Int32Array(new SharedArrayBuffer(4));
  const w = new Worker(SOURCE, { eval: true, workerData: { port: port2, posted }, transferList: [port2] });
  const seen: string[] = [];
  const onMessage = (m: { why: string }): void => void seen.push(m.why);
  port1.on('message', onMessage);
  const exited = new Promise<void>((r) => w.once('exit', () => {
    drain(port1, onMessage);
    seen.push('exit');
    port1.close(); // as the writer does with a gone node's port
    r();
  }));
  // Blocked while the thread posts and exits: both events wait for this thread's loop.
  while (Atomics.load(posted, 0) === 0) Atomics.wait(posted, 0, 0, 5);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200); // its exit takes a few ms
  await exited;
  return seen;
}

describe('drainPort', () => {
  it('hands the exit handler every message posted before the exit, in order', async () => {
    expect(await exitWhileBusy(drainPort)).toEqual(['IO_ERROR', 'exit']);
  });
});
