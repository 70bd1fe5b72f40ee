import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Runes in the page's state modules (src/ui/*.svelte.ts) compile for the tests too.
  plugins: [svelte()],
  test: {
    include: ['tests/**/*.test.ts'],
    // Real-model and browser tests load big files; one worker per core keeps memory sane on 2 cores.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
