// A FIFO deque on a ring that starts small and doubles up to a bound. The commit pipeline keeps up
// to LAL (64 Ki by default) commits in flight, and a fixed deque of that capacity (a JS Array of
// 64 Ki slots, 512 KiB) cost 2-3 ms per deque to allocate and first-touch on the 2-core VM, twice
// per writer attach (docs/results.md); most writers never hold more than a few hundred.
import { assert } from '../assert.js';

const INITIAL_CAPACITY = 64;

export class GrowingDeque<T> {
  private items: (T | undefined)[] = new Array<T | undefined>(INITIAL_CAPACITY);
  private mask = INITIAL_CAPACITY - 1;
  private head = 0;
  size = 0;

  /** `capacityMax`: push beyond it is a bug of the caller (it bounds what it admits). */
  constructor(readonly capacityMax: number) {
    assert(Number.isInteger(capacityMax) && capacityMax >= 1, 'a deque needs a positive integer capacity');
  }

  push(item: T): void {
    assert(this.size < this.capacityMax, 'deque at capacity');
    if (this.size === this.items.length) this.grow();
    this.items[(this.head + this.size) & this.mask] = item;
    this.size++;
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined; // no reference kept to a commit that left
    this.head = (this.head + 1) & this.mask;
    this.size--;
    return item;
  }

  peekFirst(): T | undefined {
    return this.size === 0 ? undefined : this.items[this.head];
  }

  peekLast(): T | undefined {
    return this.size === 0 ? undefined : this.items[(this.head + this.size - 1) & this.mask];
  }

  /** Doubles the ring, its items moved to the start in order. */
  private grow(): void {
    const next = new Array<T | undefined>(this.items.length * 2);
    for (let i = 0; i < this.size; i++) next[i] = this.items[(this.head + i) & this.mask];
    this.items = next;
    this.mask = next.length - 1;
    this.head = 0;
  }
}
