// Goal: a (re)starting node publishes its epoch before its SCL. The group-commit thread counts a
// node's SCL only if it reads its own epoch before and after the SCL; with the SCL stored first, a
// thread of the node's previous epoch could count an SCL the node reached under a newer epoch.
// Method: the publishing function over a Control whose store64 records what the node's epoch word
// holds at the moment the SCL is stored.
import { describe, expect, it } from 'vitest';
import { Control, ctl } from '../src/shared/control.js';
import { publishChainEnd } from '../src/node/publish.js';

class Recording extends Control {
  epochWhenSclStored = -1;
  /** Every (epoch, SCL) pair the line showed after each store: what a reader could have seen. */
  readonly seen: [number, number][] = [];
  override store64(index: number, value: number): void {
    if (index === ctl.nodeScl(3)) this.epochWhenSclStored = Atomics.load(this.i32, ctl.nodeEpoch(3));
    super.store64(index, value);
    this.seen.push([Atomics.load(this.i32, ctl.nodeEpoch(3)), this.load64(ctl.nodeScl(3))]);
  }
}

describe('node publication', () => {
  it('publishes a restarted node\'s epoch before its SCL', () => {
    const control = new Recording();
    Atomics.store(control.i32, ctl.nodeEpoch(3), 4); // the line as the node's previous run left it
    control.store64(ctl.nodeScl(3), 100);
    publishChainEnd(control, 3, 5, 180);
    expect(control.epochWhenSclStored).toBe(5);
    expect(control.load64(ctl.nodeScl(3))).toBe(180);
    expect(Atomics.load(control.i32, ctl.nodeEpoch(3))).toBe(5);
  });

  it('never shows the new epoch beside the line\'s old SCL', () => {
    // A thread of epoch 5 counts whatever SCL it reads between two reads of epoch 5: the old SCL
    // (300, from the node's previous chain, longer than the one it rejoins with) must never be
    // visible under epoch 5.
    const control = new Recording();
    Atomics.store(control.i32, ctl.nodeEpoch(3), 4);
    control.store64(ctl.nodeScl(3), 300);
    control.seen.length = 0;
    const epochStore = Atomics.store;
    const order: string[] = [];
    Atomics.store = ((a: Int32Array, i: number, v: number) => {
      if (i === ctl.nodeEpoch(3)) {
        order.push('epoch');
        control.seen.push([v, control.load64(ctl.nodeScl(3))]);
      }
      return epochStore(a, i, v);
    }) as typeof Atomics.store;
    try {
      publishChainEnd(control, 3, 5, 180);
    } finally {
      Atomics.store = epochStore;
    }
    expect(order).toEqual(['epoch']);
    for (const [epoch, scl] of control.seen) if (epoch === 5) expect([0, 180]).toContain(scl);
    expect(control.seen[control.seen.length - 1]).toEqual([5, 180]);
  });
});
