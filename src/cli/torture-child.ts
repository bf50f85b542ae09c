// Child process of the kill -9 torture: opens the volume, runs puts, puts each followed at once
// by a get of the same key (the get waits for durability), and two-key transactions, 32 in
// flight, and reports every acknowledgement to the parent over IPC (batched every 2 ms; the
// parent only checks what it received before the kill).
//   argv: <dir> <cycle> <options JSON>
import { open } from '../index.js';

const [dir, cycleText, optionsJson] = process.argv.slice(2);
if (dir === undefined || cycleText === undefined || optionsJson === undefined || process.send === undefined) {
  throw new Error('torture-child: usage: <dir> <cycle> <options JSON>, started with an IPC channel');
}
const cycle = Number(cycleText);
const send = process.send.bind(process);
const db = await open({ dir, ...JSON.parse(optionsJson) });
let acks: [string, number][] = [];
setInterval(() => {
  if (acks.length > 0) send({ acks });
  acks = [];
}, 2);
// The parent's kill clock starts at the first acknowledgement, not at open: on a loaded machine
// the first commit after open can take longer than the whole kill window.
let ready = false;
const acked = (kind: string, i: number): void => {
  acks.push([kind, i]);
  if (!ready) {
    ready = true;
    send({ ready: true });
  }
};
const INFLIGHT = 32;
let n = 0;
async function lane(): Promise<never> {
  for (;;) {
    const i = n++;
    if (i % 4 === 1) {
      const v = `v${cycle}-${i}`;
      const put = db.put(`c${cycle}-r${i}`, v);
      const got = await db.get(`c${cycle}-r${i}`);
      await put;
      if (got !== undefined && Buffer.from(got).toString() === v) acked('r', i);
      acked('k', i);
    } else if (i % 4 === 3) {
      const v = `t${cycle}-${i}`;
      await db.transaction((tx) => {
        tx.put(`c${cycle}-t${i}-a`, v);
        tx.put(`c${cycle}-t${i}-b`, v);
      });
      acked('t', i);
    } else {
      await db.put(`c${cycle}-k${i}`, `v${cycle}-${i}`);
      acked('k', i);
    }
  }
}
for (let l = 0; l < INFLIGHT; l++) void lane();
