import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TargetError } from '@hokan/core';
import { bufferSource, patternBytes, readAll, sha256Hex, startFaultProxy, type FaultKind, type FaultProxy } from '@hokan/core/testing';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, type AzuriteHandle } from './azurite-helper.js';
import { makeTarget, memoryResumeStore } from './helpers.js';

// Faults of the network between hokan and Azure, one at a time on the request that matters (issue 24):
// the fault proxy, in Azure's form, in front of a real Azurite, told which request meets which fault.
let az: AzuriteHandle;
let proxy: FaultProxy;
let pick: (method: string, url: string) => FaultKind | undefined = () => undefined;
let n = 0;
const MiB = 2 ** 20;

beforeAll(async () => {
  az = await startAzurite();
  await az.createContainer('faults');
  proxy = await startFaultProxy({ upstreamPort: az.port, flavor: 'azure', pick: (m, u) => pick(m, u) });
}, 60_000);
afterAll(async () => {
  await proxy?.close();
  await az?.stop();
});

function target() {
  return makeTarget({ type: 'azure', account: AZURITE_ACCOUNT, accountKey: AZURITE_KEY, container: 'faults', prefix: `t${++n}/`, endpoint: `${proxy.endpoint}/${AZURITE_ACCOUNT}`, blockSize: MiB }, { retryDelayInMs: 50 });
}

/** The first `count` requests that match get the fault; then all pass. Returns how many got it. */
function faults(kind: FaultKind, match: (method: string, url: string) => boolean, count = 1): () => number {
  let hits = 0;
  pick = (m, u) => {
    const k = match(m, u) && hits < count ? kind : undefined;
    if (k) hits++;
    return k;
  };
  return () => hits;
}

describe('azure target through injected faults', () => {
  it('a block list commit, a Put Blob, a server-side copy and a delete whose answers were lost: each was done, and is taken as done', async () => {
    const t = await target();
    const big = patternBytes(3 * MiB + 5, 3);
    let hits = faults('lost-answer', (m, u) => m === 'PUT' && /comp=blocklist/.test(u));
    await t.put('big.bin', bufferSource(big), { size: big.length }, { resume: memoryResumeStore() });
    expect(hits()).toBe(1);
    pick = () => undefined;
    expect(sha256Hex(await t.get('big.bin', undefined, readAll))).toBe(sha256Hex(big));

    hits = faults('lost-answer', (m, u) => m === 'PUT' && !/comp=/.test(u));
    await t.put('small.txt', bufferSource('small'), { size: 5 });
    expect(hits()).toBe(1);
    pick = () => undefined;
    expect((await t.stat('small.txt')).size).toBe(5);

    hits = faults('lost-answer', (m) => m === 'PUT');
    await t.move('small.txt', 'old/small.txt');
    hits = faults('lost-answer', (m) => m === 'DELETE');
    await t.move('big.bin', 'old/big.bin');
    expect(hits()).toBe(1);
    pick = () => undefined;
    expect((await t.stat('old/small.txt')).size).toBe(5);
    expect(sha256Hex(await t.get('old/big.bin', undefined, readAll))).toBe(sha256Hex(big));
    await expect(t.stat('big.bin')).rejects.toSatisfy((e) => TargetError.isNotFound(e));
  });

  it('a block upload cut by a fault on every try is resumed by the next put: only the blocks the service lacks are sent', async () => {
    const t = await target();
    const big = patternBytes(4 * MiB, 9);
    const resume = memoryResumeStore();
    // The third block's upload is reset, every try: the put fails (transient), the first blocks stay staged.
    let blocks = 0;
    pick = (m, u) => (m === 'PUT' && /comp=block(&|$)/.test(u) && ++blocks >= 3 ? 'reset-in-body' : undefined);
    const e = await t.put('big.bin', bufferSource(big), { size: big.length }, { resume }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(TargetError.is(e) && e.kind, String(e)).toBe('transient');
    pick = () => undefined;
    const before = proxy.requests;
    let sent = 0;
    await t.put('big.bin', bufferSource(big), { size: big.length }, { resume, onProgress: (b) => (sent = b) });
    expect(sent).toBeLessThan(big.length);
    expect(proxy.requests - before).toBeLessThan(8);
    expect(sha256Hex(await t.get('big.bin', undefined, readAll))).toBe(sha256Hex(big));
  });
});
