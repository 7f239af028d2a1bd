// Starts the project's own Azurite test helper (plugins/target-azure/test/azurite-helper.ts) from the
// benchmarks: it is TypeScript outside the build, so it is transpiled with esbuild (installed with
// vitest) into the benchmark's data dir and imported from there. Same server as the tests: Azurite
// 3.35 as a child process, in memory, 127.0.0.1, a free port, the well-known development account.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO } from './hokan.mjs';

export async function startAzurite({ dataDir }) {
  const { transformSync } = await import('esbuild');
  const src = path.join(REPO, 'plugins', 'target-azure', 'test', 'azurite-helper.ts');
  let js = transformSync(fs.readFileSync(src, 'utf8'), { loader: 'ts', format: 'esm', target: 'node20' }).code;
  // Resolve `azurite` and `@azure/storage-blob` from the repository wherever the compiled copy lives.
  js = js.replace(/createRequire\(import\.meta\.url\)/g, `createRequire(${JSON.stringify(path.join(REPO, 'package.json'))})`);
  js = js.replace(/import\("@azure\/storage-blob"\)/g, `import(${JSON.stringify(pathToFileURL(path.join(REPO, 'node_modules', '@azure', 'storage-blob', 'dist', 'esm', 'index.js')).href)})`);
  const out = path.join(dataDir, 'azurite-helper.mjs');
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(out, js);
  const helper = await import(pathToFileURL(out).href);
  return { ...(await helper.startAzurite()), ACCOUNT: helper.AZURITE_ACCOUNT, KEY: helper.AZURITE_KEY };
}
