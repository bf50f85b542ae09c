// A thread that posts on a MessagePort and then exits does not get its message delivered first:
// when the receiving thread is busy while both happen, Node emits the Worker's 'exit' (and an
// uncaught 'error') before the port's pending 'message' (test/port-drain.test.ts). A handler of
// 'exit' that decides from what the thread said (why a node failed: rebuild it or not) must take
// those messages first, synchronously.
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';

/** Hands every message already queued on `port` to `onMessage`, in order. */
export function drainPort<T>(port: MessagePort, onMessage: (msg: T) => void): void {
  for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) onMessage(m.message as T);
}
