// Goal: the writer's lifecycle is one state with a written-down set of transitions, and any other
// transition is refused loudly (an assertion), so no code path can, say, reopen a closed writer
// or un-fence a fenced one.
// Method: walk every (from, to) pair of states against the table in src/writer/lifecycle.ts.
import { describe, expect, it } from 'vitest';
import { WriterLifecycle, WriterState, writerTransitions } from '../src/writer/lifecycle.js';

const all = Object.values(WriterState);

/** A lifecycle brought to `state` by allowed transitions. */
function reach(state: WriterState): WriterLifecycle {
  const paths: Record<WriterState, WriterState[]> = {
    open: [], closing: ['closing'], closed: ['closing', 'closed'], fenced: ['fenced'], killed: ['killed'], failed: ['failed'],
  };
  const l = new WriterLifecycle();
  for (const s of paths[state]) l.to(s);
  expect(l.state).toBe(state);
  return l;
}

describe('writer lifecycle', () => {
  it('allows exactly the transitions in the table and asserts on any other', () => {
    for (const from of all) {
      for (const to of all) {
        const l = reach(from);
        if (writerTransitions[from].includes(to)) {
          l.to(to);
          expect(l.state).toBe(to);
        } else {
          expect(() => l.to(to), `${from} -> ${to}`).toThrow(/not an allowed transition/);
          expect(l.state).toBe(from);
        }
      }
    }
  });

  it('never leaves CLOSED or KILLED, and takes new operations only while OPEN or FAILED', () => {
    expect(writerTransitions.closed).toEqual([]);
    expect(writerTransitions.killed).toEqual([]);
    expect(all.filter((s) => reach(s).accepting)).toEqual(['open', 'failed']);
  });
});
