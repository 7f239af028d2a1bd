#!/usr/bin/env node
// The `agent` command. A committed shim so npm can link the bin at install time, before `prepare`
// (tsc -b) has built dist/. CommonJS on purpose: libuv sizes its thread pool (file reads, writes,
// fsync) on first use, which an ES module entry triggers while it loads; a backup to a local disk
// keeps more than the default 4 file operations in flight (docs/benchmarks.md).
'use strict';
process.env.UV_THREADPOOL_SIZE ??= '16';
import('../dist/cli/main.js').then(
  async ({ main }) => {
    process.exitCode = await main();
  },
  (e) => {
    console.error(`agent: cannot start: ${e && e.message ? e.message : e}\n  (run \`npm install\` at the repository root to build it)`);
    process.exitCode = 3;
  },
);
