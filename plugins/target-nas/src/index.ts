import { ContainerModule, definePlugin, HokanError, TargetContribution } from '@hokan/core';

/**
 * A second NAS or an online storage over WebDAV, or a mounted share. Registered so config
 * validation, `plugins list` and the schema work; creating a target says plainly that it is not
 * implemented yet.
 */
const nasTarget: TargetContribution = {
  type: 'nas',
  create() {
    throw new HokanError('E_NOT_IMPLEMENTED', "target type 'nas' (@hokan/target-nas) is not implemented yet", {
      hint: 'for a mounted share, use an hdd target with its path for now',
    });
  },
};

export default definePlugin({
  id: 'target-nas',
  apiVersion: 1,
  module: new ContainerModule(({ bind }) => {
    bind(TargetContribution).toConstantValue(nasTarget);
  }),
});
