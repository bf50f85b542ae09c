// A storage node's feed from its writer: the inbound ring of the attached writer's group-commit
// thread (replaced when a new writer fences the node), drained one append group at a time. It
// also keeps the read floor the writer's frames carry (lsnReadMin: no read below it will come) and
// the dropped-frames fault (frames lost on the way: the node sees a gap and gossips).
import { RingConsumer, RING_HEADER_BYTES } from '../ring/ring.js';
import type { FrameRef, NodeCore } from './core.js';

export class RingFeed {
  private ring: RingConsumer;
  private whole: Uint8Array;
  private view: DataView;
  private readonly group: FrameRef[] = [];
  /** The highest lsnReadMin seen on the writer's frames. */
  readMin = 0;
  // Deterministic per node: a dropped-frames run can be replayed.
  private rngState: number;

  constructor(ring: SharedArrayBuffer, nodeId: number, private readonly groupFramesMax: number) {
    this.ring = new RingConsumer(ring);
    this.whole = new Uint8Array(ring);
    this.view = new DataView(ring);
    this.rngState = (0x9e3779b9 ^ (nodeId * 0x85ebca6b)) >>> 0 || 1;
  }

  /** A new writer fenced the node: its frames come from this ring from now on. */
  replace(ring: SharedArrayBuffer): void {
    this.ring = new RingConsumer(ring);
    this.whole = new Uint8Array(ring);
    this.view = new DataView(ring);
  }

  private random(): number {
    let s = this.rngState;
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    this.rngState = s;
    return s / 0x1_0000_0000;
  }

  /**
   * The next append group: up to groupFramesMax frames from the ring (views into it, valid until
   * release()), stopping at the first one the core does not take as a frame. Null if the ring
   * held nothing. `dropPermille`: the dropped-frames fault.
   */
  take(core: NodeCore, dropPermille: number): FrameRef[] | null {
    const frames = this.group;
    frames.length = 0;
    const ring = this.ring;
    let m = ring.next();
    if (m === null) return null;
    while (m !== null) {
      const abs = m.offset + RING_HEADER_BYTES; // message offsets are relative to the data area
      const h = core.checkIncoming(this.whole, this.view, abs, abs + m.payloadBytes);
      if (h === null) break;
      if (dropPermille > 0 && this.random() * 1000 < dropPermille) {
        core.stats.framesDropped++; // fault: lost on the way here
      } else {
        frames.push({ bytes: ring.bytes.subarray(m.offset, m.offset + m.payloadBytes), header: h });
        if (h.lsnReadMin > this.readMin) this.readMin = h.lsnReadMin;
      }
      m = frames.length < this.groupFramesMax ? ring.next() : null;
    }
    return frames;
  }

  /** Whether take() consumed anything not yet released. */
  get pending(): boolean {
    return this.ring.position !== this.ring.loadReadPos();
  }

  /** Gives the space of what take() returned back to the writer (after the frames were appended). */
  release(): void {
    this.ring.release();
  }
}
