// In-memory collections with what persistence needs: list elements keep their position (the
// suffix of their Auroral key), sorted sets keep an order by (score, member).

/** A list: a ring-buffer deque of (position, value); positions increase from head to tail. */
export class PosDeque {
  private pos: Float64Array = new Float64Array(8);
  private val: (Buffer | undefined)[] = new Array<Buffer | undefined>(8);
  private head = 0;
  length = 0;

  private grow(): void {
    const cap = this.val.length * 2;
    const pos = new Float64Array(cap);
    const val = new Array<Buffer | undefined>(cap);
    for (let i = 0; i < this.length; i++) {
      const j = (this.head + i) & (this.val.length - 1);
      pos[i] = this.pos[j]!;
      val[i] = this.val[j];
    }
    this.pos = pos;
    this.val = val;
    this.head = 0;
  }

  private slot(i: number): number {
    return (this.head + i) & (this.val.length - 1);
  }

  posAt(i: number): number {
    return this.pos[this.slot(i)]!;
  }

  at(i: number): Buffer {
    return this.val[this.slot(i)]!;
  }

  setAt(i: number, v: Buffer): void {
    this.val[this.slot(i)] = v;
  }

  /** Position the next element pushed on the left would get. */
  nextLeft(): number {
    return this.length === 0 ? 0 : this.posAt(0) - 1;
  }

  nextRight(): number {
    return this.length === 0 ? 0 : this.posAt(this.length - 1) + 1;
  }

  pushLeft(p: number, v: Buffer): void {
    if (this.length === this.val.length) this.grow();
    this.head = (this.head - 1) & (this.val.length - 1);
    this.pos[this.head] = p;
    this.val[this.head] = v;
    this.length++;
  }

  pushRight(p: number, v: Buffer): void {
    if (this.length === this.val.length) this.grow();
    const j = this.slot(this.length);
    this.pos[j] = p;
    this.val[j] = v;
    this.length++;
  }

  popLeft(): { p: number; v: Buffer } {
    const j = this.head;
    const r = { p: this.pos[j]!, v: this.val[j]! };
    this.val[j] = undefined;
    this.head = (this.head + 1) & (this.val.length - 1);
    this.length--;
    return r;
  }

  popRight(): { p: number; v: Buffer } {
    const j = this.slot(this.length - 1);
    const r = { p: this.pos[j]!, v: this.val[j]! };
    this.val[j] = undefined;
    this.length--;
    return r;
  }

  /** Keeps the elements for which keep(i) holds (order unchanged). */
  filter(keep: (i: number) => boolean): void {
    const ps: number[] = [];
    const vs: Buffer[] = [];
    for (let i = 0; i < this.length; i++) {
      if (keep(i)) {
        ps.push(this.posAt(i));
        vs.push(this.at(i));
      }
    }
    let cap = 8;
    while (cap < ps.length) cap *= 2;
    this.pos = new Float64Array(cap);
    this.val = new Array<Buffer | undefined>(cap);
    this.head = 0;
    this.length = ps.length;
    for (let i = 0; i < ps.length; i++) {
      this.pos[i] = ps[i]!;
      this.val[i] = vs[i];
    }
  }
}

/** Byte order of two latin1 member strings (one char per byte). */
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** A sorted set: member -> score, and members ordered by (score, member). */
export class ZSet {
  readonly scores = new Map<string, number>();
  /** Sorted by (score, member); insertion is a binary search and a splice. */
  readonly order: string[] = [];

  get size(): number {
    return this.scores.size;
  }

  private before(m: string, s: number, om: string): boolean {
    const os = this.scores.get(om)!;
    return os < s || (os === s && cmp(om, m) < 0);
  }

  /** Index of the first element not before (s, m). */
  private lowerBound(m: string, s: number): number {
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.before(m, s, this.order[mid]!)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  rank(m: string): number {
    const s = this.scores.get(m);
    return s === undefined ? -1 : this.lowerBound(m, s);
  }

  set(m: string, s: number): void {
    const old = this.scores.get(m);
    if (old !== undefined) {
      if (old === s) return;
      this.order.splice(this.lowerBound(m, old), 1);
    }
    this.scores.set(m, s);
    this.order.splice(this.lowerBound(m, s), 0, m);
  }

  delete(m: string): boolean {
    const s = this.scores.get(m);
    if (s === undefined) return false;
    this.order.splice(this.lowerBound(m, s), 1);
    this.scores.delete(m);
    return true;
  }

  /** Index of the first member with score > min (exclusive) or >= min. */
  firstAtLeast(min: number, exclusive: boolean): number {
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const s = this.scores.get(this.order[mid]!)!;
      if (exclusive ? s <= min : s < min) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index past the last member with score < max (exclusive) or <= max. */
  endAtMost(max: number, exclusive: boolean): number {
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const s = this.scores.get(this.order[mid]!)!;
      if (exclusive ? s < max : s <= max) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Bulk load: members in any order, sorted once. */
  static from(pairs: [string, number][]): ZSet {
    const z = new ZSet();
    for (const [m, s] of pairs) z.scores.set(m, s);
    for (const m of z.scores.keys()) z.order.push(m);
    z.order.sort((a, b) => {
      const sa = z.scores.get(a)!;
      const sb = z.scores.get(b)!;
      return sa < sb ? -1 : sa > sb ? 1 : cmp(a, b);
    });
    return z;
  }
}
