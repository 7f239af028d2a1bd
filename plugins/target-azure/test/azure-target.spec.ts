import { nullLogger } from '@hokan/core';
import { describeTargetConformance } from '@hokan/core/testing';
import { afterAll, beforeAll } from 'vitest';
import { azureTargetContribution } from '../src/index.js';
import { startAzurite, type AzuriteHandle } from './azurite-helper.js';

let az: AzuriteHandle;
let n = 0;
beforeAll(async () => {
  az = await startAzurite();
  await az.createContainer('conformance');
});
afterAll(async () => az?.stop());

describeTargetConformance({
  name: 'azure (Azurite)',
  // Through the plugin's own factory, as the core creates it; a fresh prefix per test. 5 MiB blocks so
  // the 12 MiB object of the suite is three staged blocks and one Put Block List.
  create: () => azureTargetContribution.create({ ...az.targetConfig('conformance'), prefix: `c${++n}/`, blockSize: 5 * 1024 * 1024 }, { id: 'cloud', logger: nullLogger, dataDir: '/nonexistent' }),
  largeObjectSize: 12 * 1024 * 1024,
  partSize: 5 * 1024 * 1024,
});
