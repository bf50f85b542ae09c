// Goal: a stopped node's line in the control block claims no SCL. A group-commit thread counts any
// SCL it reads under its own epoch, and what a stopped node's directory holds may change before it
// runs again (a rebuild from a shorter copy, frames an attach cut): an old value left in the line
// would let VDL advance on fewer real copies than a write quorum.
// Method: real threads; crash a node, then exclude one the way a failed attach does; read the
// lines as the group-commit thread would; restart and check the line comes back at the chain end.
import { describe, expect, it } from 'vitest';
import { open } from '../src/index.js';
import { smallOptions, tempDir, waitFor } from './helpers.js';

describe('node lines', () => {
  it('clears a stopped node\'s SCL, and publishes it again once the node is back', async () => {
    const db = await open(smallOptions(tempDir()));
    try {
      await Promise.all(Array.from({ length: 200 }, (_, i) => db.put(`k${i}`, 'v')));
      expect(await waitFor(() => db.stats().nodes.every((n) => n.scl === db.vdl))).toBe(true);
      const vdl = db.vdl;
      expect(vdl).toBeGreaterThan(0);
      await db.faults.crashNode(2);
      expect(db.stats().nodes[2]!.scl).toBe(0);
      await db.faults.restartNode(2);
      expect(await waitFor(() => db.stats().nodes[2]!.scl >= vdl)).toBe(true);
      await db.put('after', 'x');
      expect(await waitFor(() => db.stats().nodes[2]!.scl === db.vdl)).toBe(true);
    } finally {
      await db.close();
    }
  });
});
