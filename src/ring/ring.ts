// Single-producer / single-consumer ring of variable-length messages in a SharedArrayBuffer.
//
// Layout (bytes):
//   [0, 8)         writePos  (BigInt64, written by the producer only)
//   [128, 136)     readPos   (BigInt64, written by the consumer only)
//   [256, 256+cap) data; cap is a power of two
// Positions count bytes ever written/consumed and never wrap (64-bit in shared memory; locally a
// JS number, exact up to 2^53 bytes, asserted). The two words sit 128 bytes apart so producer and
// consumer never share a cache line (nor an adjacent-line prefetch pair).
//
// Message: 8-byte header [u32 payloadBytes][u32 tag] + payload, padded to 8 bytes. A message never
// wraps: if it does not fit before the end of the data area, the producer writes a WRAP marker
// (payloadBytes = 0xFFFFFFFF) and starts again at offset 0. Because every message is 8-aligned and
// the area is a multiple of 8, a header never straddles the end.
//
// Publication: the producer writes headers and payloads with plain stores, then Atomics.store's
// writePos; the consumer Atomics.load's writePos before reading anything below it. Release is the
// mirror image. The producer never overwrites bytes below readPos + cap (back-pressure, not loss).
import { assert, fail } from '../assert.js';

export const RING_HEADER_BYTES = 256;
const WRITE_POS_INDEX = 0; // BigInt64 index of writePos
const READ_POS_INDEX = 16; // BigInt64 index of readPos (byte 128)
export const MESSAGE_HEADER_BYTES = 8;
const WRAP = 0xffffffff;
const POS_MAX = Number.MAX_SAFE_INTEGER;

export function align8(n: number): number {
  return (n + 7) & ~7;
}

/** Bytes a message of `payloadBytes` occupies in a ring (header + padded payload). */
export function messageBytes(payloadBytes: number): number {
  return MESSAGE_HEADER_BYTES + align8(payloadBytes);
}

export function createRingBuffer(capacityBytes: number): SharedArrayBuffer {
  assert(capacityBytes >= 64 && (capacityBytes & (capacityBytes - 1)) === 0, 'ring capacity must be a power of two >= 64');
  return new SharedArrayBuffer(RING_HEADER_BYTES + capacityBytes);
}

class RingView {
  readonly sab: SharedArrayBuffer;
  readonly capacity: number;
  readonly mask: number;
  /** Position words; exposed so shells can Atomics.wait / waitAsync on them. */
  readonly positions: BigInt64Array;
  readonly bytes: Uint8Array;
  protected readonly u32: Uint32Array;

  constructor(sab: SharedArrayBuffer) {
    this.sab = sab;
    this.capacity = sab.byteLength - RING_HEADER_BYTES;
    assert(this.capacity >= 64 && (this.capacity & (this.capacity - 1)) === 0, 'ring data area must be a power of two');
    this.mask = this.capacity - 1;
    this.positions = new BigInt64Array(sab, 0, RING_HEADER_BYTES / 8);
    this.bytes = new Uint8Array(sab, RING_HEADER_BYTES, this.capacity);
    this.u32 = new Uint32Array(sab, RING_HEADER_BYTES, this.capacity / 4);
  }

  loadWritePos(): number {
    return Number(Atomics.load(this.positions, WRITE_POS_INDEX));
  }

  loadReadPos(): number {
    return Number(Atomics.load(this.positions, READ_POS_INDEX));
  }

  static readonly writePosIndex = WRITE_POS_INDEX;
  static readonly readPosIndex = READ_POS_INDEX;
}

export class RingProducer extends RingView {
  private writePos: number;
  private readPosSeen: number;

  constructor(sab: SharedArrayBuffer) {
    super(sab);
    this.writePos = this.loadWritePos();
    this.readPosSeen = this.loadReadPos();
  }

  /** Largest payload that can ever fit (so callers can reject instead of waiting forever). */
  get payloadBytesMax(): number {
    // Worst case: a wrap marker wastes up to (message - 8) bytes at the end, so half the ring.
    return this.capacity / 2 - MESSAGE_HEADER_BYTES;
  }

  /** Bytes written but not yet released by the consumer, as last seen. */
  get usedBytes(): number {
    return this.writePos - this.loadReadPos();
  }

  /**
   * Reserves room for one message and writes its header. Returns the payload's byte offset in
   * `bytes`, or -1 if the ring is full (the caller waits for the consumer and retries).
   * Nothing is visible to the consumer until publish().
   */
  tryReserve(payloadBytes: number, tag: number): number {
    if (!(payloadBytes >= 0 && payloadBytes <= this.payloadBytesMax)) fail(`message of ${payloadBytes} bytes exceeds ring limit ${this.payloadBytesMax}`);
    const need = messageBytes(payloadBytes);
    let offset = this.writePos & this.mask;
    const tail = this.capacity - offset;
    const total = need > tail ? tail + need : need; // a wrap marker consumes the tail
    if (this.writePos + total - this.readPosSeen > this.capacity) {
      this.readPosSeen = this.loadReadPos();
      if (this.writePos + total - this.readPosSeen > this.capacity) return -1;
    }
    if (need > tail) {
      this.u32[offset >>> 2] = WRAP;
      this.writePos += tail;
      offset = 0;
    }
    this.u32[offset >>> 2] = payloadBytes;
    this.u32[(offset >>> 2) + 1] = tag;
    this.writePos += need;
    return offset + MESSAGE_HEADER_BYTES;
  }

  /** Makes every reserved message visible to the consumer. Payloads must be written first. */
  publish(): void {
    assert(this.writePos <= POS_MAX, 'ring position passed 2^53 bytes');
    Atomics.store(this.positions, WRITE_POS_INDEX, BigInt(this.writePos));
  }

  /** Position after the last reserved message (published or not). */
  get position(): number {
    return this.writePos;
  }
}

export interface RingMessage {
  /** Byte offset of the payload in `bytes`. */
  offset: number;
  payloadBytes: number;
  tag: number;
  /** Ring position just after this message (release up to here to free it). */
  end: number;
}

export class RingConsumer extends RingView {
  private readPos: number;
  private writePosSeen: number;

  constructor(sab: SharedArrayBuffer) {
    super(sab);
    this.readPos = this.loadReadPos();
    this.writePosSeen = this.loadWritePos();
  }

  /** True if a published message is waiting beyond the consumer's cursor (refreshes the cursor). */
  hasMessage(): boolean {
    if (this.readPos < this.writePosSeen) return true;
    this.writePosSeen = this.loadWritePos();
    return this.readPos < this.writePosSeen;
  }

  /**
   * Returns the next published message and advances the local cursor past it, or null.
   * Its bytes stay valid (the producer cannot reuse them) until release() passes `end`.
   */
  next(): RingMessage | null {
    if (!this.hasMessage()) return null;
    let offset = this.readPos & this.mask;
    let payloadBytes = this.u32[offset >>> 2]!;
    if (payloadBytes === WRAP) {
      this.readPos += this.capacity - offset;
      assert(this.readPos < this.writePosSeen, 'ring wrap marker published without a message after it');
      offset = 0;
      payloadBytes = this.u32[0]!;
    }
    const tag = this.u32[(offset >>> 2) + 1]!;
    const size = messageBytes(payloadBytes);
    if (!(offset + size <= this.capacity)) fail(`ring message overruns the data area (${payloadBytes} bytes at ${offset})`);
    this.readPos += size;
    assert(this.readPos <= this.writePosSeen, 'ring message extends past the published position');
    return { offset: offset + MESSAGE_HEADER_BYTES, payloadBytes, tag, end: this.readPos };
  }

  /** Un-consumes back to `position` (a message the caller decided not to take yet). */
  rewind(position: number): void {
    assert(position <= this.readPos && position >= this.loadReadPos(), 'rewind outside the unreleased range');
    this.readPos = position;
  }

  /** Frees everything up to `position` (defaults to everything consumed so far). */
  release(position: number = this.readPos): void {
    assert(position <= this.readPos, 'released past the consumer cursor');
    Atomics.store(this.positions, READ_POS_INDEX, BigInt(position));
  }

  /** The consumer cursor: position just after the last message returned by next(). */
  get position(): number {
    return this.readPos;
  }
}

export const ringPositionIndex = { write: WRITE_POS_INDEX, read: READ_POS_INDEX } as const;
