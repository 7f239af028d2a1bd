// Preloaded into the agent by tests that bound its memory (`NODE_OPTIONS=--require …`): at exit,
// writes to $HOKAN_PEAK_RSS the process's peak RSS as the kernel counted it (getrusage's ru_maxrss:
// exact, no sampling that a busy main thread would delay), and — for the failure message — the
// private, file-backed and shared-memory (tmpfs) parts of RSS and the V8 heap used, sampled every
// 20 ms. The peak is Linux's and macOS's; the parts are read on Linux only.
'use strict';
const fs = require('node:fs');
const v8 = require('node:v8');
const out = process.env.HOKAN_PEAK_RSS;
if (out) {
  const field = (s, k) => Number((new RegExp(`${k}:\\s+(\\d+)`).exec(s) || [])[1] || 0);
  const peak = { anonKiB: 0, fileKiB: 0, shmemKiB: 0, heapUsedKiB: 0 };
  const sample = () => {
    try {
      const s = fs.readFileSync('/proc/self/status', 'utf8');
      peak.anonKiB = Math.max(peak.anonKiB, field(s, 'RssAnon'));
      peak.fileKiB = Math.max(peak.fileKiB, field(s, 'RssFile'));
      peak.shmemKiB = Math.max(peak.shmemKiB, field(s, 'RssShmem'));
    } catch {}
    peak.heapUsedKiB = Math.max(peak.heapUsedKiB, Math.round(v8.getHeapStatistics().used_heap_size / 1024));
  };
  setInterval(sample, 20).unref();
  process.on('exit', () => {
    sample();
    fs.writeFileSync(out, JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS, ...peak }));
  });
}
