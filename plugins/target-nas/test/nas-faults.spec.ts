import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TargetError, nullLogger, type Target } from '@hokan/core';
import { bufferSource, readAll, startFaultProxy, type FaultKind, type FaultProxy } from '@hokan/core/testing';
import { nasTargetContribution } from '../src/index.js';
import { startServer, type DavServer } from './servers.js';

// Faults of the network between hokan and a NAS, one at a time on the request that matters
// (issue 24): the fault proxy in front of a real webdav-server, told which request meets which fault.
const ctx = { id: 'nas', logger: nullLogger, dataDir: '' };
let s: DavServer;
let proxy: FaultProxy;
let pick: (method: string, url: string) => FaultKind | undefined = () => undefined;
let n = 0;

beforeAll(async () => {
  s = await startServer('webdav-server');
  proxy = await startFaultProxy({ upstreamPort: s.port, flavor: 'webdav', pick: (m, u) => pick(m, u) });
});
afterAll(async () => {
  await proxy?.close();
  await s?.stop();
});

async function fresh(): Promise<Target> {
  const folder = `f${++n}`;
  await s.mkdir(folder);
  const cfg = s.targetConfig(folder) as { url: string };
  const t = await nasTargetContribution.create({ ...cfg, url: cfg.url.replace(`:${s.port}/`, `:${proxy.port}/`) } as never, ctx);
  await t.check();
  return t;
}

/** The first `count` requests that match get the fault; then all pass. */
function once(kind: FaultKind, match: (method: string, url: string) => boolean, count = 1): () => number {
  let hits = 0;
  pick = (m, u) => {
    const k = match(m, u) && hits < count ? kind : undefined;
    if (k) hits++;
    return k;
  };
  return () => hits;
}

describe('nas target through injected faults', () => {
  it('an upload whose MOVE into place was done by the server but whose answer was lost is stored, not failed not-found', async () => {
    const t = await fresh();
    const hits = once('lost-answer', (m) => m === 'MOVE');
    await t.put('docs/report.txt', bufferSource('quarterly report\n'), { size: 17 });
    pick = () => undefined;
    expect(hits()).toBe(1);
    expect(await t.get('docs/report.txt', undefined, readAll)).toEqual(Buffer.from('quarterly report\n'));
    // A generation moved on the server, its answer lost: moved, not "not found".
    once('lost-answer', (m) => m === 'MOVE');
    await t.move('docs/report.txt', 'old/report.txt');
    pick = () => undefined;
    expect((await t.stat('old/report.txt')).size).toBe(17);
    await expect(t.stat('docs/report.txt')).rejects.toSatisfy((e) => TargetError.isNotFound(e));
  });

  it('a MOVE of a file that is not there is still not-found (nothing was lost on the way)', async () => {
    const t = await fresh();
    await expect(t.move('nothing.txt', 'else.txt')).rejects.toSatisfy((e) => TargetError.isNotFound(e));
  });

  it('a folder made by a MKCOL whose answer was lost, then PROPFIND failing for now: a transient failure, not "a file has that name"', async () => {
    const t = await fresh();
    // MKCOL docs/ is done but its answer lost; the retry says 405 (there); the PROPFINDs that would look fail 503.
    let mkcols = 0;
    pick = (m, u) => {
      if (m === 'MKCOL' && u.endsWith('/docs/')) return mkcols++ === 0 ? 'lost-answer' : undefined;
      if (m === 'PROPFIND' && u.endsWith('/docs/')) return 'slow-down';
      return undefined;
    };
    const e = await t.put('docs/a.txt', bufferSource('a'), { size: 1 }).then(
      () => undefined,
      (x: unknown) => x,
    );
    pick = () => undefined;
    expect(TargetError.is(e), String(e)).toBe(true);
    expect((e as TargetError).kind, (e as Error).message).toBe('transient');
    expect((e as Error).message).not.toMatch(/a file has that name/);
    // The network is back: the same put goes through (the folder is there).
    await t.put('docs/a.txt', bufferSource('a'), { size: 1 });
    expect((await t.stat('docs/a.txt')).size).toBe(1);
  });
});
