// Starts the project's own s3rver test helper (plugins/target-s3/test/s3rver-helper.ts) from the
// benchmarks: it is TypeScript outside the build, so it is transpiled with esbuild (installed with
// vitest) into the benchmark's data dir and imported from there. Same server, same middleware as
// the tests: in-process, 127.0.0.1, a free port, keys S3RVER/S3RVER, a temporary directory.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO } from './hokan.mjs';

export async function startS3rver({ buckets, dataDir }) {
  const { transformSync } = await import('esbuild');
  const src = path.join(REPO, 'plugins', 'target-s3', 'test', 's3rver-helper.ts');
  let js = transformSync(fs.readFileSync(src, 'utf8'), { loader: 'ts', format: 'esm', target: 'node20' }).code;
  // Resolve `s3rver` from the repository wherever the compiled copy lives.
  js = js.replace(/createRequire\(import\.meta\.url\)/g, `createRequire(${JSON.stringify(path.join(REPO, 'package.json'))})`);
  const out = path.join(dataDir, 's3rver-helper.mjs');
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(out, js);
  const helper = await import(pathToFileURL(out).href);
  return helper.startS3rver({ buckets });
}
