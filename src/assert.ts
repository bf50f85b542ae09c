// Invariant checks that stay on in production: a broken invariant on the durability path must
// crash loudly, never turn into silent corruption.

export class AssertionError extends Error {
  constructor(message: string) {
    super(`assertion failed: ${message}`);
    this.name = 'AssertionError';
  }
}

export function assert(condition: unknown, message = 'invariant violated'): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/**
 * Fails an invariant: for hot paths, as `if (!cond) fail(\`...\`)`, so that the message (a
 * template with numbers in it costs ~0.2-1 µs to build) is only built when it is thrown.
 */
export function fail(message: string): never {
  throw new AssertionError(message);
}
