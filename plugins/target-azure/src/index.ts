import { ContainerModule, definePlugin, HokanError, TargetContribution } from '@hokan/core';

/**
 * Azure Blob Storage. The contribution is registered so config validation, `plugins list` and the
 * schema work; creating a target says plainly that it is not implemented yet.
 */
const azureTarget: TargetContribution = {
  type: 'azure',
  create() {
    throw new HokanError('E_NOT_IMPLEMENTED', "target type 'azure' (@hokan/target-azure) is not implemented yet", {
      hint: 'use an hdd, nas or s3 target for now',
    });
  },
};

export default definePlugin({
  id: 'target-azure',
  apiVersion: 1,
  module: new ContainerModule(({ bind }) => {
    bind(TargetContribution).toConstantValue(azureTarget);
  }),
});
