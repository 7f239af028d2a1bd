import type { Logger, Notifier, NotifierContext, NotifyMessage, NotifyReceipt, TestMessage } from '@hokan/core';
import type { Transporter } from 'nodemailer';
import { mailContent } from './mail-content.js';
import { smtpConfig, type SmtpConfig } from './smtp-config.js';
import { smtpError } from './smtp-errors.js';

/**
 * A notifier that mails each message over SMTP with nodemailer: STARTTLS required unless
 * `requireTLS: false` (or TLS from the start with `secure`), a plain text and an HTML part, the
 * failed files as a CSV attachment. It says what the core gives it; the core decides when and retries.
 */
export class SmtpNotifier implements Notifier, AsyncDisposable {
  readonly config: SmtpConfig;
  private transport?: Promise<Transporter>;
  private readonly logger: Logger;

  constructor(raw: Record<string, unknown>, ctx: NotifierContext) {
    this.config = smtpConfig(raw);
    this.logger = ctx.logger;
  }

  private open(): Promise<Transporter> {
    const c = this.config;
    this.transport ??= import('nodemailer').then(({ default: nodemailer }) =>
      nodemailer.createTransport({
        host: c.host,
        port: c.port,
        secure: c.secure,
        requireTLS: c.requireTLS,
        auth: c.user ? { user: c.user, pass: c.password } : undefined,
        tls: c.ca ? { ca: c.ca } : undefined,
        connectionTimeout: c.timeout * 1000,
        greetingTimeout: c.timeout * 1000,
        socketTimeout: c.timeout * 3000,
        // Never nodemailer's own logger: it would print the AUTH exchange.
        logger: false,
        debug: false,
      }),
    );
    return this.transport;
  }

  async send(message: NotifyMessage): Promise<NotifyReceipt> {
    const c = this.config;
    const mail = await mailContent(message, { language: c.language, subject: c.subject });
    const transport = await this.open();
    try {
      const info = await transport.sendMail({
        from: c.from,
        to: c.to,
        cc: c.cc.length ? c.cc : undefined,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        attachments: mail.attachments,
        headers: { 'Auto-Submitted': 'auto-generated', 'X-Hokan-Kind': message.kind },
      });
      const rejected = (info.rejected ?? []).map((a: unknown) => (typeof a === 'string' ? a : String((a as { address?: string }).address)));
      if (rejected.length) this.logger.warn({ rejected, response: info.response }, 'the server refused some recipients');
      return { response: info.response, messageId: info.messageId, rejected: rejected.length ? rejected : undefined };
    } catch (e) {
      throw smtpError(e, c);
    }
  }

  test(message: TestMessage): Promise<NotifyReceipt> {
    return this.send(message);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const t = await this.transport?.catch(() => undefined);
    t?.close();
    this.transport = undefined;
  }
}
