import { ContainerModule, definePlugin, NotifierContribution } from '@hokan/core';

/** E-mail reports and alarms over SMTP (nodemailer is loaded only when a mail goes out). */
const smtpNotifier: NotifierContribution = {
  type: 'smtp',
  async create(config, ctx) {
    const { SmtpNotifier } = await import('./smtp-notifier.js');
    return new SmtpNotifier(config, ctx);
  },
};

export default definePlugin({
  id: 'notify-smtp',
  apiVersion: 1,
  module: new ContainerModule(({ bind }) => {
    bind(NotifierContribution).toConstantValue(smtpNotifier);
  }),
});

export { smtpNotifier };
export { mailContent, fillSubject, CSV_LIMIT } from './mail-content.js';
export { smtpConfig, systemLanguage, type SmtpConfig } from './smtp-config.js';
