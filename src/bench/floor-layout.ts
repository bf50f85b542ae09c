// Shared-memory layout of the floor pipeline (floor-pipeline.ts, floor-worker.ts): the fixed
// design's threads and hops with none of the engine's logic, so `npm run bench:write` and `bench:redis` can show
// what the architecture itself costs on a machine.

/** Every record takes one slot of the writer's ring: u32 length, key, value, padding. */
export const FLOOR_SLOT_BYTES = 128;
/** Slots in the writer's ring; a put waits for a slot only if this many are unacknowledged. */
export const FLOOR_SLOTS = 1 << 15;
/** Each node's log file: preallocated, written round-robin by slot (the engine's hot log is preallocated too). */
export const FLOOR_FILE_BYTES = FLOOR_SLOTS * FLOOR_SLOT_BYTES;

// Int32 cells of the control block. A doorbell's sleeper count sits beside it (Control.ring/park's
// protocol: notify only a thread that is, or is about to be, blocked).
/** Records the writer has put in its ring (a count, not a slot). */
export const C_HEAD = 0;
/** Doorbell of the group-commit thread: the writer rings it for records, nodes for acks. */
export const C_GC_BELL = 1;
export const C_GC_SLEEPERS = 2;
/** End (a record count) of the frame the group-commit thread published to the nodes. */
export const C_PUBLISHED = 3;
export const C_NODE_SLEEPERS = 4;
/** Records acknowledged to the writer (on a quorum of nodes). */
export const C_ACKED = 5;
/** Set to 1 to stop every thread. */
export const C_STOP = 6;
/** Node i's durable end (a record count): C_DURABLE + i. */
export const C_DURABLE = 8;
export const FLOOR_CONTROL_CELLS = 16;

export interface FloorWorkerData {
  role: 'group-commit' | 'node';
  /** Node number (role 'node'). */
  index: number;
  control: SharedArrayBuffer;
  ring: SharedArrayBuffer;
  nodes: number;
  quorum: number;
  /** The node's log file (role 'node'). */
  file: string;
  fsync: 'fdatasync' | 'none';
  /** Frames published and not yet on a quorum, at most (the engine's groupCommit.framesInFlightMax). */
  framesInFlight: number;
  /** Tests: this node waits this long before each write (a slow node, so frames sit below a quorum). */
  delayMs: number;
}

/** Spin this many loads before blocking (the engine's Control.park does the same). */
export const FLOOR_SPINS = 64;

export function park(ctl: Int32Array, bell: number, sleepers: number, seen: number): void {
  for (let i = 0; i < FLOOR_SPINS; i++) if (Atomics.load(ctl, bell) !== seen) return;
  Atomics.add(ctl, sleepers, 1);
  Atomics.wait(ctl, bell, seen, 100);
  Atomics.sub(ctl, sleepers, 1);
}

export function ring(ctl: Int32Array, bell: number, sleepers: number): void {
  Atomics.add(ctl, bell, 1);
  if (Atomics.load(ctl, sleepers) !== 0) Atomics.notify(ctl, bell);
}
