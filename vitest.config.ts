import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Also the CommonJS TypeScript modules (.cts: the daemon client and what it imports, loaded by the bin first).
  esbuild: { include: /\.(c|m)?tsx?$/ },
  test: {
    include: ['core/src/**/*.spec.ts', 'plugins/*/src/**/*.spec.ts', 'plugins/*/test/**/*.spec.ts', 'test/**/*.spec.ts'],
    // Child processes (the CLI, servers) and LevelDB's native binding are happier in forks than threads.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
