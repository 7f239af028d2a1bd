// Preloaded into hokan by the benchmarks (`node -r bench/lib/peak-mem.cjs`): samples
// /proc/self/status every 10 ms and writes the peak to $HOKAN_BENCH_PEAK as JSON (KiB), split into
// private memory (RssAnon: heap, buffers, LevelDB's caches) and file-backed pages (RssFile: the
// node binary and the index's table files, which LevelDB reads through mmap — page cache, not
// memory hokan holds). GNU time's "maximum resident set size" counts both. Linux only.
'use strict';
const fs = require('node:fs');
const out = process.env.HOKAN_BENCH_PEAK;
if (out && fs.existsSync('/proc/self/status')) {
  const field = (s, k) => Number((new RegExp(`${k}:\\s+(\\d+)`).exec(s) || [])[1] || 0);
  let peak = { rssKiB: 0, anonKiB: 0, fileKiB: 0 };
  const sample = () => {
    const s = fs.readFileSync('/proc/self/status', 'utf8');
    const rss = field(s, 'VmRSS');
    const anon = field(s, 'RssAnon');
    if (anon > peak.anonKiB || rss > peak.rssKiB) peak = { rssKiB: Math.max(rss, peak.rssKiB), anonKiB: Math.max(anon, peak.anonKiB), fileKiB: Math.max(field(s, 'RssFile'), peak.fileKiB) };
  };
  setInterval(sample, 10).unref();
  process.on('exit', () => {
    sample();
    fs.writeFileSync(out, JSON.stringify(peak));
  });
}
