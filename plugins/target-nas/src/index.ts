import { ContainerModule, TargetContribution, definePlugin, type TargetContribution as TargetContributionType } from '@hokan/core';
import { resolveNasConfig } from './nas-config.js';

/**
 * The `nas` target type: a second NAS or an online storage over WebDAV (`url`), or a NAS share
 * mounted on this machine (`path`, handled by target-hdd's code). The `webdav` client is imported only
 * when a WebDAV target is created, so `agent --help`, `config validate` and other targets never load it.
 */
export const nasTargetContribution: TargetContributionType = {
  type: 'nas',
  async create(config, ctx) {
    const cfg = resolveNasConfig(config, ctx.id);
    const logger = ctx.logger.child('target-nas');
    if (cfg.kind === 'mount') {
      const { createMountedShare } = await import('./mounted-share.js');
      logger.debug({ target: ctx.id, path: cfg.path, requireMount: cfg.requireMount }, 'nas target (mounted share)');
      return createMountedShare(cfg, logger);
    }
    const [sdk, { WebDavTarget, createWebDavClient }] = await Promise.all([import('webdav'), import('./webdav-target.js')]);
    logger.debug({ target: ctx.id, url: cfg.url, username: cfg.username, ca: cfg.caSource, insecureSkipVerify: cfg.insecureSkipVerify, maxConnections: cfg.maxConnections }, 'nas target (WebDAV)');
    const { client, close } = createWebDavClient(sdk, cfg);
    return new WebDavTarget(client, cfg, logger, close, ctx.dataDir);
  },
};

/** inversify 7: a ContainerModule gets `{ bind, ... }` as one options object. */
export const nasModule = new ContainerModule(({ bind }) => {
  bind(TargetContribution).toConstantValue(nasTargetContribution);
});

export default definePlugin({ id: 'target-nas', apiVersion: 1, module: nasModule });

export { resolveNasConfig } from './nas-config.js';
export type { NasTargetConfig, ResolvedWebDavConfig, ResolvedMountConfig } from './nas-config.js';
