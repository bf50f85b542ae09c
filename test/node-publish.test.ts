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
  override store64(index: number, value: number): void {
    if (index === ctl.nodeScl(3)) this.epochWhenSclStored = Atomics.load(this.i32, ctl.nodeEpoch(3));
    super.store64(index, value);
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
});
