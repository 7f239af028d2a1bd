import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { agent } from '../../../test/helpers/agent.js';
import { selfSignedCert, startSmtpServer, type Received, type SmtpHandle } from './smtp-helper.js';

// The smtp notifier through the CLI (`agent notify test`, `agent backup`, `agent notify check`)
// against real SMTP servers: smtp-server in this process with STARTTLS and AUTH, one without either,
// and aiosmtpd (Python) as a server nobody here wrote. Each message is read back with mailparser.

export const USER = 'hokan@example.jp';
export const PASSWORD = 'correct horse 42 battery';
export const DATE = /\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2}/;

export let cert: Awaited<ReturnType<typeof selfSignedCert>>;
export let secure: SmtpHandle;
export let plain: SmtpHandle;
export let dir: string;

beforeAll(async () => {
  cert = await selfSignedCert();
  secure = await startSmtpServer({ tls: cert, auth: { user: USER, pass: PASSWORD }, refuse: /^nobody@/ });
  plain = await startSmtpServer();
  dir = await mkdtemp(join(tmpdir(), 'hokan-notify-smtp-'));
});
afterAll(async () => {
  await secure?.stop();
  await plain?.stop();
  await cert?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

export let n = 0;
/** A config with one job backing up a small tree to a local folder (or to a missing one: `failing`). */
export async function setup(notify: Record<string, unknown>[], o: { failing?: boolean; unreadable?: number; jobs?: Record<string, unknown>[] } = {}) {
  const base = join(dir, `case-${++n}`);
  const src = join(base, 'Documents');
  await mkdir(join(src, '経理'), { recursive: true });
  await writeFile(join(src, 'report.txt'), 'x'.repeat(1000));
  await writeFile(join(src, '経理', '報告書.txt'), 'y'.repeat(1000));
  await writeFile(join(src, 'a,b "quoted".txt'), 'z'.repeat(1000));
  for (let i = 0; i < (o.unreadable ?? 0); i++) {
    const f = join(src, 'locked', `台帳-${String(i).padStart(2, '0')}.xlsx`);
    await mkdir(join(src, 'locked'), { recursive: true });
    await writeFile(f, 'secret');
    await chmod(f, 0);
  }
  const usb = o.failing ? join(base, 'unplugged', 'BACKUP') : join(base, 'usb');
  if (!o.failing) await mkdir(usb);
  const config = join(base, 'config.json');
  const jobs = o.jobs ?? [{ id: 'docs', sources: [{ path: src }], targets: ['usb'] }];
  await writeFile(config, JSON.stringify({ device: 'office-pc', plugins: ['@hokan/target-hdd', '@hokan/notify-smtp'], targets: { usb: { type: 'hdd', path: usb } }, jobs, notify }, null, 2));
  const env = { SMTP_PASSWORD: PASSWORD, LANG: 'C' };
  const run = (args: string[], extraEnv: Record<string, string> = {}) => agent([...args, '--config', config, '--data-dir', join(base, 'data')], { cwd: base, env: { ...env, ...extraEnv }, obeyPermissions: true });
  return { base, src, run };
}

export const secureNotifier = (over: Record<string, unknown> = {}) => ({
  id: 'mail',
  type: 'smtp',
  host: '127.0.0.1',
  port: secure.port,
  user: USER,
  password: '${env:SMTP_PASSWORD}',
  from: '"hokan バックアップ" <hokan@example.jp>',
  to: ['admin@example.jp', 'boss@example.jp'],
  cc: 'it@example.jp',
  language: 'ja',
  ca: `\${file:${cert.certFile}}`,
  ...over,
});
export const plainNotifier = (over: Record<string, unknown> = {}) => ({ id: 'plain', type: 'smtp', host: '127.0.0.1', port: plain.port, requireTLS: false, from: 'hokan@example.jp', to: 'admin@example.jp', language: 'en', ...over });

/** What arrives from `count` messages on, after `fn`. */
export async function newMail(server: SmtpHandle, fn: () => Promise<unknown>): Promise<{ result: unknown; mails: Received[] }> {
  const before = server.received.length;
  const result = await fn();
  // The command has exited: everything it sent has been taken (sending is part of the run).
  return { result, mails: server.received.slice(before) };
}

export function csvRows(mail: Received): string[][] {
  const a = mail.mail.attachments.find((x) => x.filename?.endsWith('.csv'));
  if (!a) return [];
  const text = a.content.toString('utf8').replace(/^\uFEFF/, '');
  // Enough of RFC 4180 for these rows: quoted fields with doubled quotes.
  return text
    .trim()
    .split('\r\n')
    .map((line) => [...line.matchAll(/("([^"]|"")*"|[^,]*)(,|$)/g)].map((m) => m[1]!.replace(/^"|"$/g, '').replace(/""/g, '"')).slice(0, 6));
}

