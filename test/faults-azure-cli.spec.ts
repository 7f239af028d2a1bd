import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from '../core/src/testing/fault-proxy.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, type AzuriteHandle } from '../plugins/target-azure/test/azurite-helper.js';
import { faultRounds, faultSeed } from './helpers/fault-rounds.js';

// Issue 24: backups to a real Azurite through the fault proxy in Azure's own form (503 ServerBusy and
// 500 OperationTimedOut XML errors with x-ms-error-code, resets in a body, stalls, answers cut in
// half, a server gone for seconds). Files over 1 MiB go up as staged blocks (blockSize 1 MiB), so a
// block upload cut by a fault is resumed by the next run. Every run ends completed or incomplete with
// the reasons of a network, `agent verify` on a clean network finds every recorded copy good, the
// next clean run completes, the restore is byte-identical.
// `npm run fault:campaign -- --target azure --rounds N [--seed S]` runs it at length.
const ROUNDS = Number(process.env.HOKAN_FAULT_ROUNDS) || 2;
const SEED = faultSeed();

let az: AzuriteHandle;
let proxy: FaultProxy;
let dir: string;
beforeAll(async () => {
  az = await startAzurite();
  await az.createContainer('faults');
  proxy = await startFaultProxy({ upstreamPort: az.port, flavor: 'azure', rate: 0.15, seed: SEED, stallMs: 1000, vanishMs: 1000 });
  dir = await mkdtemp(join(tmpdir(), 'hokan-faults-azure-'));
}, 60_000);
afterAll(async () => {
  await proxy?.close();
  await az?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('backups to Azure through injected network and service faults (issue 24)', () => {
  it(`${ROUNDS} rounds of changes and faulty runs on azure (Azurite): statuses right, nothing recorded that is not stored, the next clean run completes, restore byte-identical`, async () => {
    console.log(`fault campaign (azure): seed ${SEED}, ${ROUNDS} rounds (replay: HOKAN_FAULT_SEED=${SEED})`);
    const target = { type: 'azure', account: AZURITE_ACCOUNT, container: 'faults', prefix: 'pc/', endpoint: `${proxy.endpoint}/${AZURITE_ACCOUNT}`, accountKey: '${env:K}', blockSize: 2 ** 20 };
    const f = await faultRounds({ name: 'azure', dir, proxy, target, plugin: '@hokan/target-azure', env: { K: AZURITE_KEY }, rounds: ROUNDS, seed: SEED, smallFiles: 20, bigBytes: 3 * 2 ** 20 });
    expect(f.faults, 'faults were injected').toBeGreaterThan(0);
    expect(f.filesLost).toBe(0);
  }, Math.max(600_000, ROUNDS * 120_000));
});
