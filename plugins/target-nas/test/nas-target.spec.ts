import { nullLogger, type Target } from '@hokan/core';
import { describeTargetConformance } from '@hokan/core/testing';
import { afterAll, beforeAll } from 'vitest';
import { nasTargetContribution } from '../src/index.js';
import { SERVER_KINDS, serverAvailable, startServer, type DavServer, type ServerKind } from './servers.js';

// The target conformance suite against three independent WebDAV servers, through the plugin's own
// factory as the core creates it, a fresh folder per test; check() first, as the engine does (it
// finds out which names the server refuses and how it keeps mtimes).
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
  describeTargetConformance<Target>({
    name: `nas (WebDAV: ${kind})`,
    available: () => avail.get(kind)!,
    create: async () => {
      const s = servers.get(kind)!;
      const folder = `c${++n}`;
      await s.mkdir(folder);
      const t = await nasTargetContribution.create(s.targetConfig(folder) as never, { id: 'nas', logger: nullLogger, dataDir: '' });
      await t.check();
      return t;
    },
    largeObjectSize: 12 * 1024 * 1024,
    parallelPuts: 16,
  });
}
