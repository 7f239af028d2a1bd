import { HokanError, permanentNotifyError } from '@hokan/core';
import type { SmtpConfig } from './smtp-config.js';

/** What nodemailer's errors carry (smtp-connection). */
interface SmtpFailure extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  rejected?: string[];
  cause?: unknown;
}

const codeOf = (e: unknown): string | undefined => {
  for (let x = e as SmtpFailure | undefined, i = 0; x && i < 4; x = x.cause as SmtpFailure | undefined, i++) {
    if (x.code && /^E[A-Z]+$/.test(x.code) && !['ECONNECTION', 'ESOCKET', 'ETLS', 'EAUTH', 'EENVELOPE', 'EMESSAGE', 'EPROTOCOL'].includes(x.code)) return x.code;
  }
  return undefined;
};

/**
 * A nodemailer error in words a person acts on: the server's own answer when there is one, and the
 * fix. Errors a retry cannot fix (a refused password or recipient, an unknown host, TLS refused) are
 * marked permanent, so the core records them at once instead of retrying.
 */
export function smtpError(e: unknown, c: Pick<SmtpConfig, 'host' | 'port' | 'secure' | 'requireTLS' | 'user'>): Error {
  const f = (e ?? {}) as SmtpFailure;
  const where = `${c.host}:${c.port}`;
  const answer = f.response ? ` — the server answered: ${f.response.trim()}` : '';
  const sys = codeOf(e);
  const msg = String(f.message ?? e);
  const make = (code: string, message: string, hint: string, permanent: boolean) => {
    const err = new HokanError(code, message, { cause: e, hint });
    return permanent ? permanentNotifyError(err) : err;
  };
  if (f.code === 'EAUTH' || f.responseCode === 535 || f.responseCode === 534) {
    if (/no.*(auth|credentials)|credentials.*(missing|not)/i.test(msg) && !c.user)
      return make('E_SMTP_AUTH', `the server at ${where} wants a login and the notifier has none${answer}`, 'set "user" and "password" (the password as "${env:SMTP_PASSWORD}")', true);
    return make('E_SMTP_AUTH', `the server at ${where} refused the user name or password${c.user ? ` of "${c.user}"` : ''}${answer || ` (${msg})`}`, 'check "user" and "password" (Gmail and Outlook want an app password, not the account\'s)', true);
  }
  if (f.responseCode === 530) return make('E_SMTP_AUTH', `the server at ${where} wants a login before it takes mail${answer}`, 'set "user" and "password"', true);
  if (f.code === 'EENVELOPE' || (f.responseCode && f.responseCode >= 550 && f.responseCode <= 553)) {
    const who = f.rejected?.length ? ` ${f.rejected.join(', ')}` : '';
    return make('E_SMTP_RECIPIENT', `the server at ${where} refused the recipient${who || 's'} or the sender${answer || ` (${msg})`}`, 'check the addresses in "to", "cc" and "from" (many servers accept only their own account as "from")', true);
  }
  if (sys === 'ENOTFOUND' || sys === 'EAI_AGAIN' || f.code === 'EDNS' || /getaddrinfo|ENOTFOUND/.test(msg)) {
    return make('E_SMTP_HOST', `unknown host "${c.host}": it has no address in DNS`, 'check the spelling of "host" (e.g. smtp.gmail.com) and this machine\'s network', sys !== 'EAI_AGAIN');
  }
  if (sys === 'ECONNREFUSED' || /ECONNREFUSED/.test(msg)) {
    return make('E_SMTP_REFUSED', `nothing answers on ${where} (connection refused)`, `check "host" and "port" (587 for STARTTLS, 465 with "secure": true) and that the mail server runs`, false);
  }
  if (f.code === 'ETLS' || /STARTTLS|TLS|SSL|certificate|wrong version number|self[- ]signed|handshake/i.test(msg)) {
    if (/STARTTLS/i.test(msg) || (f.command === 'STARTTLS' && f.responseCode))
      return make('E_SMTP_TLS', `the server at ${where} does not offer STARTTLS, and the notifier requires it (the password would cross the network in clear)${answer}`, 'use the server\'s TLS port (587 with STARTTLS, or 465 with "secure": true); only on a trusted local network set "requireTLS": false', true);
    if (/wrong version number|unknown protocol|packet length too long/i.test(msg))
      return make('E_SMTP_TLS', `TLS was refused by ${where}: ${msg}`, c.secure ? 'this port does not speak TLS from the start: use port 465 with "secure": true, or remove "secure" for STARTTLS on 587' : 'set "secure": true for port 465', true);
    return make('E_SMTP_TLS', `TLS with ${where} failed: ${msg}`, 'a server with its own certificate: give its CA as "ca": "${file:/path/to/ca.pem}"; check the host name matches the certificate', true);
  }
  if (sys === 'ETIMEDOUT' || f.code === 'ETIMEDOUT' || /timeout|timed out/i.test(msg)) {
    return make('E_SMTP_TIMEOUT', `no answer from ${where} in time (${msg})`, 'check "host" and "port", and that a firewall lets this machine reach the mail server', false);
  }
  if (f.responseCode && f.responseCode >= 500) return make('E_SMTP_REFUSED_MAIL', `the server at ${where} refused the mail${answer || ` (${msg})`}`, 'read the server\'s answer; check the addresses and the account', true);
  return make('E_SMTP', `sending through ${where} failed: ${msg}${answer}`, 'check the notifier\'s settings, then `agent notify test`', false);
}
