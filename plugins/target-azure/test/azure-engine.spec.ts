import { nullLogger } from '@hokan/core';
import { describeEngineConformance } from '@hokan/core/testing';
import { afterAll, beforeAll } from 'vitest';
import { azureTargetContribution } from '../src/index.js';
import { startAzurite, type AzuriteHandle } from './azurite-helper.js';

let az: AzuriteHandle;
let n = 0;
beforeAll(async () => {
  az = await startAzurite();
  await az.createContainer('engine');
});
afterAll(async () => az?.stop());

// The engine conformance suite through the plugin's own factory, a fresh prefix per place.
describeEngineConformance({
  name: 'azure (Azurite)',
  runs: 4,
  maxOps: 16,
  forbiddenChars: '\\', // Azure turns a backslash into a slash (see AzureTarget.capabilities)
  createPlace: async () => {
    const prefix = `e${++n}/`;
    return { open: () => azureTargetContribution.create({ ...az.targetConfig('engine'), prefix }, { id: 'cloud', logger: nullLogger, dataDir: '/nonexistent' }) };
  },
});
