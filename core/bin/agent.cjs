#!/usr/bin/env -S HOKAN_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS} NODE_EXTRA_CA_CERTS=${HOKAN_NO_VALUE} MALLOC_ARENA_MAX=2 node --max-old-space-size=1024 --max-semi-space-size=8
// The `agent` command. A committed shim so npm can link the bin at install time, before `prepare`
// (tsc -b) has built dist/. CommonJS on purpose: libuv sizes its thread pool (file reads, writes,
// fsync) on first use, which an ES module entry triggers while it loads; a backup to a local disk
// keeps more than the default 4 file operations in flight (docs/benchmarks.md).
//
// The heap flags on the first line (V8 reads them only at start-up): hokan holds ~12-20 MiB of live
// objects whatever the tree's size, but with Node's defaults V8 lets a fast run's heap grow to
// 70-90 MiB of mostly garbage — it scales the old generation's growth with the heap limit (a limit
// of 2 GB or more allows 4x the live size, 1 GB ~1.6x) and grows the young generation to 32 MiB.
// 1 GB and 8 MiB semi-spaces: a 100,000-file first backup peaks at ~133 instead of 150-175 MiB,
// as fast (docs/benchmarks.md, run 8). `node --max-old-space-size=N core/bin/agent.cjs …` overrides.
//
// MALLOC_ARENA_MAX=2 (glibc; ignored elsewhere): the thread pool and the worker threads each get a
// malloc arena of their own by default, and a long-lived process keeps what they grew — after 8
// no-change runs of 100,000 files the `agent run` daemon peaked at 173-177 MiB, with two arenas
// 139-154, as fast; a one-shot command is unchanged (docs/benchmarks.md, run 17).
//
// NODE_EXTRA_CA_CERTS is moved out of Node's sight (Node 20 would read it and build its root store
// at start-up: ~100 ms of every command, TLS or not) and read at the first TLS connection instead
// (cli/extra-ca.cts); it is put back for child processes. Emptied, not unset (`env -u`): npm's
// Windows shim (cmd-shim) turns only NAME=VALUE pairs into `SET` lines, and `${HOKAN_NO_VALUE}`,
// never set, is empty in both (test/bin-line.spec.ts).
'use strict';
process.env.UV_THREADPOOL_SIZE ??= '16';
const extraCa = process.env.HOKAN_EXTRA_CA_CERTS;
delete process.env.HOKAN_EXTRA_CA_CERTS;
if (extraCa) process.env.NODE_EXTRA_CA_CERTS = extraCa;
else if (process.env.NODE_EXTRA_CA_CERTS === '') delete process.env.NODE_EXTRA_CA_CERTS;
// When `agent run` is running for this data folder, the command goes to it (cli/daemon/client.ts):
// this process only relays the output. Otherwise a head start for the walk of a big tree, if the last
// same command had one (cli/head-start.ts): it walks while the rest of the command loads.
const argv = process.argv.slice(2);
Promise.resolve()
  .then(() => require('../dist/cli/daemon/client.cjs').forward(argv))
  .catch(() => undefined)
  .then((code) => {
    if (code !== undefined) {
      process.exitCode = code;
      return;
    }
    return Promise.resolve()
      .then(() => extraCa && require('../dist/cli/extra-ca.cjs').trustExtraCaCerts(extraCa))
      .then(() => import('../dist/cli/head-start.js'))
      .then((h) => h.headStart(argv))
      .catch(() => undefined)
      .then(() => import('../dist/cli/main.js'))
      .then(
        async ({ main }) => {
          process.exitCode = await main();
        },
        (e) => {
          console.error(`agent: cannot start: ${e && e.message ? e.message : e}\n  (run \`npm install\` at the repository root to build it)`);
          process.exitCode = 3;
        },
      );
  });
