// Memory for the group-commit thread's retained frames. Each sealed frame is kept until every
// attached node holds it; a fresh ArrayBuffer per frame (scratch.slice) cost the thread a malloc,
// first-touch page faults and, when glibc handed the memory back, munmap with a TLB shootdown on
// every core: ~14 µs per 4 KiB page on this VM, about a quarter of the thread's CPU per put
// (docs/results.md). Frames are retained and released strictly in order (FIFO), so they are
// carved from a few large chunks and a chunk is reused once every frame in it is released; a
// chunk's pages are touched once and stay mapped.
//
// A frame's view stays valid until its release() (chunks are never moved or resized). A chunk is
// max(CHUNK_BYTES, the largest frame): 4.25 MiB with default options (256 KiB batches, 4 MiB
// MTRs). Memory held: the chunks holding retained frames, plus at most FREE_CHUNKS_MAX empty ones.
// A frame that does not fit the rest of a chunk starts the next, so with frames large against a
// chunk the chunks can hold up to about twice the retained bytes (retainBytesMax bounds those).
import { assert } from '../assert.js';

/** Bytes per chunk (at least one largest frame). */
export const CHUNK_BYTES = 4 << 20;
/** Empty chunks kept for reuse; more are left to the garbage collector. */
const FREE_CHUNKS_MAX = 2;

interface Chunk {
  bytes: Uint8Array;
  /** Frames carved from this chunk and not yet released. */
  live: number;
}

export interface SlabFrame {
  bytes: Uint8Array;
  chunk: Chunk;
}

export class FrameSlab {
  private readonly chunkBytes: number;
  private current: Chunk;
  private used = 0;
  private readonly free: Chunk[] = [];
  /** Chunks allocated so far (a benchmark and test figure: steady load allocates none). */
  chunksAllocated = 1;

  constructor(frameBytesMax: number) {
    this.chunkBytes = Math.max(CHUNK_BYTES, frameBytesMax);
    this.current = { bytes: new Uint8Array(this.chunkBytes), live: 0 };
  }

  /** A copy of `src` that stays valid until release(). */
  copy(src: Uint8Array): SlabFrame {
    assert(src.length <= this.chunkBytes, 'frame larger than a slab chunk');
    if (this.current.live === 0) this.used = 0; // everything in it released: start over, pages warm
    if (this.used + src.length > this.chunkBytes) {
      this.current = this.free.pop() ?? this.newChunk();
      this.used = 0;
    }
    const c = this.current;
    const bytes = c.bytes.subarray(this.used, this.used + src.length);
    bytes.set(src);
    // 8-aligned starts keep a frame's Float64 fields naturally aligned for readers of the view.
    this.used += (src.length + 7) & ~7;
    c.live++;
    return { bytes, chunk: c };
  }

  /** The frame's bytes are no longer needed (called in retention order). */
  release(f: SlabFrame): void {
    const c = f.chunk;
    assert(c.live > 0, 'slab frame released twice');
    c.live--;
    if (c.live === 0 && c !== this.current && this.free.length < FREE_CHUNKS_MAX) this.free.push(c);
  }

  private newChunk(): Chunk {
    this.chunksAllocated++;
    return { bytes: new Uint8Array(this.chunkBytes), live: 0 };
  }
}
