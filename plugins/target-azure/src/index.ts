import { ContainerModule, TargetContribution, definePlugin, type TargetContribution as TargetContributionType } from '@hokan/core';
import { resolveAzureConfig } from './azure-config.js';

/**
 * The `azure` target type. `@azure/storage-blob` is imported only when a target of this type is
 * created, so `agent --help`, `config validate` and targets of other types never load it.
 */
export const azureTargetContribution: TargetContributionType = {
  type: 'azure',
  async create(config, ctx) {
    const cfg = resolveAzureConfig(config, ctx.id);
    const [sdk, { AzureTarget, createContainerClient }] = await Promise.all([import('@azure/storage-blob'), import('./azure-target.js')]);
    const logger = ctx.logger.child('target-azure');
    logger.debug({ target: ctx.id, account: cfg.account, container: cfg.container, prefix: cfg.prefix, endpoint: cfg.endpoint, credentials: cfg.auth }, 'azure target');
    return new AzureTarget(await createContainerClient(sdk, cfg), cfg, logger);
  },
};

/** inversify 7: a ContainerModule gets `{ bind, ... }` as one options object. */
export const azureModule = new ContainerModule(({ bind }) => {
  bind(TargetContribution).toConstantValue(azureTargetContribution);
});

export default definePlugin({ id: 'target-azure', apiVersion: 1, module: azureModule });

export { resolveAzureConfig } from './azure-config.js';
export type { AzureTargetConfig, AccessTier } from './azure-config.js';
export type { BlockResumeState } from './block-upload.js';
