import { HokanError, type Language } from '@hokan/core';

/** One `notify` entry of type `smtp`, checked and with its defaults (README of this plugin, docs/config.md). */
export interface SmtpConfig {
  host: string;
  port: number;
  /** TLS from the first byte (port 465). */
  secure: boolean;
  /** Without `secure`: STARTTLS is required (the default) — a server that does not offer it is refused. */
  requireTLS: boolean;
  user?: string;
  password?: string;
  from: string;
  to: string[];
  cc: string[];
  language: Language;
  /** With `{device}`, `{job}`, `{status}`, `{date}`. */
  subject?: string;
  /** PEM certificates to trust besides the system's (a server with its own CA). */
  ca?: string;
  /** Seconds to wait for the server to connect or answer. */
  timeout: number;
}

const bad = (message: string, hint: string) => new HokanError('E_SMTP_CONFIG', message, { hint });

/** The language of the system's locale: Japanese when it is `ja…`, else English. */
export function systemLanguage(env: NodeJS.ProcessEnv = process.env): Language {
  const tag = env.LC_ALL || env.LC_MESSAGES || env.LANG || Intl.DateTimeFormat().resolvedOptions().locale || '';
  return /^ja/i.test(tag) ? 'ja' : 'en';
}

const list = (v: unknown): string[] => (v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)]);

/** Checks what the schema cannot (one of user/password without the other) and applies the defaults. */
export function smtpConfig(raw: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): SmtpConfig {
  const host = raw.host;
  if (typeof host !== 'string' || !host) throw bad('the smtp notifier has no "host"', 'set "host" to your mail server, e.g. "smtp.gmail.com"');
  const secure = raw.secure === true;
  const port = typeof raw.port === 'number' ? raw.port : secure ? 465 : 587;
  const user = typeof raw.user === 'string' && raw.user ? raw.user : undefined;
  const password = typeof raw.password === 'string' && raw.password ? raw.password : undefined;
  if (!!user !== !!password) throw bad(`the smtp notifier has a "${user ? 'user' : 'password'}" but no "${user ? 'password' : 'user'}"`, 'give both (the password as "${env:SMTP_PASSWORD}" or "${file:PATH}"), or neither for a server without login');
  const to = list(raw.to);
  if (!to.length) throw bad('the smtp notifier has no recipient ("to")', 'set "to": ["admin@example.jp"]');
  const from = typeof raw.from === 'string' && raw.from ? raw.from : user && user.includes('@') ? user : undefined;
  if (!from) throw bad('the smtp notifier has no sender ("from")', 'set "from" to the address the mail comes from (most servers want the account\'s own)');
  const language = raw.language === 'ja' || raw.language === 'en' ? raw.language : systemLanguage(env);
  return {
    host,
    port,
    secure,
    requireTLS: secure ? false : raw.requireTLS !== false,
    user,
    password,
    from,
    to,
    cc: list(raw.cc),
    language,
    subject: typeof raw.subject === 'string' ? raw.subject : undefined,
    ca: typeof raw.ca === 'string' ? raw.ca : undefined,
    timeout: typeof raw.timeout === 'number' ? raw.timeout : 20,
  };
}
