// Goal: a worker built from other code than the writer refuses to start, and says what to do.
import { describe, expect, it } from 'vitest';
import { checkLayout, LAYOUT_FINGERPRINT } from '../src/shared/layout.js';

describe('layout fingerprint', () => {
  it('accepts the same layout and rejects another with a pointer to npm run build', () => {
    expect(() => checkLayout(LAYOUT_FINGERPRINT, 'node 0')).not.toThrow();
    expect(() => checkLayout(LAYOUT_FINGERPRINT.replace('record:32', 'record:24'), 'node 0')).toThrow(/npm run build/);
  });
});
