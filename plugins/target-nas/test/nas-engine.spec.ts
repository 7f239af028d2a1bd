import { nullLogger } from '@hokan/core';
import { describeEngineConformance } from '@hokan/core/testing';
import { afterAll, beforeAll } from 'vitest';
import { nasTargetContribution } from '../src/index.js';
import { SERVER_KINDS, serverAvailable, startServer, type DavServer, type ServerKind } from './servers.js';

// The engine's model-based suite against the three WebDAV servers, a fresh folder per place. Case
// counts are kept small: every backup of a case is some hundred HTTP requests, and the suite must
// stay a modest part of CI's time (HOKAN_MODEL_RUNS runs more).
const servers = new Map<ServerKind, DavServer>();
const avail = new Map(SERVER_KINDS.map((k) => [k, serverAvailable(k)] as const));
beforeAll(async () => {
  await Promise.all(SERVER_KINDS.filter((k) => avail.get(k) === true).map(async (k) => servers.set(k, await startServer(k))));
}, 60_000);
afterAll(async () => {
  await Promise.all([...servers.values()].map((s) => s.stop()));
});

let n = 0;
for (const kind of SERVER_KINDS) {
  if (avail.get(kind) !== true) continue; // serverAvailable said which one it skipped, and why
  describeEngineConformance({
    name: `nas (WebDAV: ${kind})`,
    runs: 2,
    seeds: [1],
    maxOps: 12,
    // webdav-server refuses a backslash in a name (found by check(), recorded forbidden-name). It
    // runs in this process, sharing its CPU with the engine. The fixed regression cases (engine
    // defects, the same on any server) run on Apache, generated cases on all three — CI's time.
    ...(kind === 'webdav-server' ? { forbiddenChars: '\\', regressions: false } : kind === 'rclone' ? { regressions: false } : {}),
    createPlace: async () => {
      const s = servers.get(kind)!;
      const folder = `e${++n}`;
      await s.mkdir(folder);
      return { open: async () => nasTargetContribution.create(s.targetConfig(folder) as never, { id: 'nas', logger: nullLogger, dataDir: '' }) };
    },
  });
}
