import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Real-model and browser tests load big files; one worker per core keeps memory sane on 2 cores.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
