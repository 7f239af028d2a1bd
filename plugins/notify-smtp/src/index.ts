import { ContainerModule, definePlugin, HokanError, NotifierContribution } from '@hokan/core';

/** E-mail reports and alarms. Registered so config validation works; sending says plainly that it is not implemented yet. */
const smtpNotifier: NotifierContribution = {
  type: 'smtp',
  create() {
    throw new HokanError('E_NOT_IMPLEMENTED', "notifier type 'smtp' (@hokan/notify-smtp) is not implemented yet", {
      hint: 'remove the smtp entry from "notify" for now; runs are recorded in `agent history`',
    });
  },
};

export default definePlugin({
  id: 'notify-smtp',
  apiVersion: 1,
  module: new ContainerModule(({ bind }) => {
    bind(NotifierContribution).toConstantValue(smtpNotifier);
  }),
});
