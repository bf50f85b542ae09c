// Frees an ArrayBuffer's memory now, not at some later GC. V8 frees a dropped ArrayBuffer's
// backing store only when a GC runs, and a node thread that drops big buffers and then goes idle
// allocates nothing that would start one: after a 1M-key load each of six idle nodes kept 90-140
// MiB of dropped buffers resident (docs/results.md, bench:memory). A buffer transferred into a
// message on a closed port is detached and its backing store freed at once (Node 20 has no
// ArrayBuffer.prototype.transfer). Both ends are closed here, synchronously: with only the other
// end closed, the close completes on the event loop, which a node thread parked in Atomics.wait
// seldom runs, and the messages waited in that port's queue, holding the buffers (measured).
// Only for a buffer nothing else views: a view of a released buffer reads as empty.
import { MessageChannel, type MessagePort } from 'node:worker_threads';

let sink: MessagePort | null = null;

export function releaseArrayBuffer(b: ArrayBufferLike): void {
  if (!(b instanceof ArrayBuffer) || b.byteLength === 0) return; // a SharedArrayBuffer is never ours alone
  if (sink === null) {
    const { port1, port2 } = new MessageChannel();
    port2.close();
    port1.close();
    sink = port1;
  }
  sink.postMessage(null, [b]);
}
