import { ContainerModule, TargetContribution, definePlugin, type TargetContribution as TargetContributionType } from '@hokan/core';
import { HddTarget, type HddTargetConfig } from './hdd-target.js';

export { HddTarget, TEMP_PREFIX, type HddTargetConfig, type HddTargetOptions } from './hdd-target.js';

/** Contributes the `hdd` target type: an external HDD or any local folder. */
export const hddTargetContribution: TargetContributionType = {
  type: 'hdd',
  create: (config, ctx) => HddTarget.create(config as unknown as HddTargetConfig, { logger: ctx.logger }),
};

export const hddModule = new ContainerModule((options) => {
  options.bind<TargetContributionType>(TargetContribution).toConstantValue(hddTargetContribution);
});

export default definePlugin({ id: 'target-hdd', apiVersion: 1, module: hddModule });
