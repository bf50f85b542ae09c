// Goal: the thread-name map (for `auroral profile`) does not grow with every node restart and
// writer attach of a long-lived process; it is kept only when AURORAL_THREAD_MAP asks for it.
// Method: register many threads without the variable and check nothing is held.
import { describe, expect, it } from 'vitest';
import { registerThread, threadNamesHeld } from '../src/shared/thread-names.js';

describe('thread names', () => {
  it('keeps nothing for thousands of restarted threads unless a profile asks for the map', () => {
    expect(process.env['AURORAL_THREAD_MAP']).toBeUndefined();
    const before = threadNamesHeld();
    for (let i = 0; i < 5_000; i++) registerThread(1_000_000 + i, `node-${i % 6}`);
    expect(threadNamesHeld()).toBe(before);
  });
});
