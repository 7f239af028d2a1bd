import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Also the CommonJS TypeScript modules (.cts: the daemon client and what it imports, loaded by the bin first).
  esbuild: { include: /\.(c|m)?tsx?$/ },
  test: {
    include: ['core/src/**/*.spec.ts', 'plugins/*/src/**/*.spec.ts', 'plugins/*/test/**/*.spec.ts', 'test/**/*.spec.ts'],
    // Child processes (the CLI, servers) and LevelDB's native binding are happier in forks than threads.
    pool: 'forks',
    // Three test files at once on two cores: most of them wait on child processes, servers and
    // disks rather than compute (the suite took ~13 min with two).
    poolOptions: { forks: { maxForks: 3, minForks: 1 } },
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
