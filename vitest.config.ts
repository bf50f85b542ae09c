import { defineConfig } from 'vitest/config';

// Tests that start worker threads load them from dist/ (Node 20 cannot start .ts workers),
// so `npm test` builds first (pretest). Forks isolate each file's workers in its own process.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: run files two at a time so the write-path tests' eight threads are not starved.
    maxWorkers: 2,
  },
});
