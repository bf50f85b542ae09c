// The writer's lifecycle: one state, and the transitions allowed between states. A Database
// decides everything about "can this writer still do X" from its state alone (no booleans beside
// it); every transition goes through WriterLifecycle.to(), which asserts it is listed here.
//
//   from      to        when
//   OPEN      CLOSING   close(): commits in flight settle, then the threads stop
//   OPEN      FENCED    a newer writer fenced this one: every operation fails with FENCED
//   OPEN      KILLED    faults.killWriter(): every operation fails with WRITER_KILLED
//   OPEN      FAILED    the group-commit thread died: commits fail with NODE_FAILED; reads still work
//   CLOSING   CLOSED    close() finished
//   CLOSING   FENCED    fenced while closing (the close goes on, then CLOSED; operations fail with FENCED)
//   FENCED    CLOSED    a close of the fenced writer finished (it stays FENCED while its threads stop)
//   FENCED    KILLED    a fenced (stale) writer killed; its operations still fail with FENCED
//   FAILED    CLOSING   close() of a failed writer: it stops taking reads too
//   FAILED    FENCED    a fence its thread published before it died, seen afterwards
//   FAILED    KILLED    a failed writer killed
// KILLED and CLOSED are final: close() of a killed writer returns the kill's completion.
// Whether the group-commit thread is alive is the thread's fact (WriterLink.fatal), not a state:
// it can die while the writer is CLOSING, and commits must then fail at once all the same.
import { assert } from '../assert.js';

export const WriterState = {
  OPEN: 'open',
  CLOSING: 'closing',
  CLOSED: 'closed',
  FENCED: 'fenced',
  KILLED: 'killed',
  FAILED: 'failed',
} as const;
export type WriterState = (typeof WriterState)[keyof typeof WriterState];

const S = WriterState;

/** The table above, as code. */
export const writerTransitions: Readonly<Record<WriterState, readonly WriterState[]>> = {
  [S.OPEN]: [S.CLOSING, S.FENCED, S.KILLED, S.FAILED],
  [S.CLOSING]: [S.CLOSED, S.FENCED],
  [S.FENCED]: [S.CLOSED, S.KILLED],
  [S.FAILED]: [S.CLOSING, S.FENCED, S.KILLED],
  [S.KILLED]: [],
  [S.CLOSED]: [],
};

export class WriterLifecycle {
  private current: WriterState = S.OPEN;

  get state(): WriterState {
    return this.current;
  }

  /** Moves to `next`; a transition not in the table is a programmer error. */
  to(next: WriterState): void {
    assert(writerTransitions[this.current].includes(next), `writer lifecycle: ${this.current} -> ${next} is not an allowed transition`);
    this.current = next;
  }

  /** May new operations start (writes, reads, snapshots, transactions)? A FAILED writer still reads. */
  get accepting(): boolean {
    return this.current === S.OPEN || this.current === S.FAILED;
  }

  is(...states: WriterState[]): boolean {
    return states.includes(this.current);
  }
}
