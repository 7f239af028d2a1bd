import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agent, collect, startAgent } from '../../../test/helpers/agent.js';
import { aiosmtpdPython, closedPort, selfSignedCert, startAiosmtpd, startSmtpServer, type Received, type SmtpHandle } from './smtp-helper.js';

// The smtp notifier through the CLI (`agent notify test`, `agent backup`, `agent notify check`)
// against real SMTP servers: smtp-server in this process with STARTTLS and AUTH, one without either,
// and aiosmtpd (Python) as a server nobody here wrote. Each message is read back with mailparser.

const USER = 'hokan@example.jp';
const PASSWORD = 'correct horse 42 battery';
const DATE = /\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2}/;

let cert: Awaited<ReturnType<typeof selfSignedCert>>;
let secure: SmtpHandle;
let plain: SmtpHandle;
let dir: string;

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

let n = 0;
/** A config with one job backing up a small tree to a local folder (or to a missing one: `failing`). */
async function setup(notify: Record<string, unknown>[], o: { failing?: boolean; unreadable?: number; jobs?: Record<string, unknown>[] } = {}) {
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

const secureNotifier = (over: Record<string, unknown> = {}) => ({
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
const plainNotifier = (over: Record<string, unknown> = {}) => ({ id: 'plain', type: 'smtp', host: '127.0.0.1', port: plain.port, requireTLS: false, from: 'hokan@example.jp', to: 'admin@example.jp', language: 'en', ...over });

/** What arrives from `count` messages on, after `fn`. */
async function newMail(server: SmtpHandle, fn: () => Promise<unknown>): Promise<{ result: unknown; mails: Received[] }> {
  const before = server.received.length;
  const result = await fn();
  // The command has exited: everything it sent has been taken (sending is part of the run).
  return { result, mails: server.received.slice(before) };
}

function csvRows(mail: Received): string[][] {
  const a = mail.mail.attachments.find((x) => x.filename?.endsWith('.csv'));
  if (!a) return [];
  const text = a.content.toString('utf8').replace(/^\uFEFF/, '');
  // Enough of RFC 4180 for these rows: quoted fields with doubled quotes.
  return text
    .trim()
    .split('\r\n')
    .map((line) => [...line.matchAll(/("([^"]|"")*"|[^,]*)(,|$)/g)].map((m) => m[1]!.replace(/^"|"$/g, '').replace(/""/g, '"')).slice(0, 6));
}

describe('agent notify test', () => {
  it('STARTTLS + AUTH: prints the server\'s answer; the Japanese subject and sender name arrive RFC 2047-encoded and decode; to and cc reached; the password is never shown', async () => {
    const { run } = await setup([secureNotifier()]);
    const { result, mails } = await newMail(secure, () => run(['notify', 'test', 'mail']));
    const r = result as Awaited<ReturnType<typeof run>>;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^mail \(smtp\): test message sent — the server answered: 250 OK: message queued/m);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
    expect(mails).toHaveLength(1);
    const m = mails[0]!;
    expect(m.to.sort()).toEqual(['admin@example.jp', 'boss@example.jp', 'it@example.jp']);
    expect(m.from).toBe('hokan@example.jp');
    expect(m.mail.subject).toMatch(new RegExp(`^【hokan】office-pc / -: テストメール \\(${DATE.source}\\)$`));
    expect(m.raw).toMatch(/^Subject: =\?UTF-8\?[BQ]\?/im);
    expect(m.mail.from?.value[0]).toEqual({ name: 'hokan バックアップ', address: 'hokan@example.jp' });
    expect(m.mail.text).toContain('hokan からのテストメールです');
    expect(m.mail.html).toContain('テストメール');
  });

  it('a wrong password: the server\'s 535 answer, exit 3, and the password masked', async () => {
    const { run } = await setup([secureNotifier()]);
    const r = await run(['notify', 'test'], { SMTP_PASSWORD: 'Wr0ng-Passw0rd!' });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/mail \(smtp\): the test message could not be sent: the server at 127\.0\.0\.1:\d+ refused the user name or password of "hokan@example\.jp" — the server answered: 535/);
    expect(r.stderr).toMatch(/→ check "user" and "password"/);
    expect(r.stdout + r.stderr).not.toContain('Wr0ng-Passw0rd!');
  });

  it('says clearly what else goes wrong: STARTTLS not offered, TLS refused, connection refused, unknown host, a refused recipient (550); bad usage is exit 2', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [plainNotifier({ requireTLS: undefined }), /does not offer STARTTLS, and the notifier requires it/],
      [plainNotifier({ secure: true }), /TLS was refused by 127\.0\.0\.1:\d+/],
      [plainNotifier({ port: await closedPort() }), /nothing answers on 127\.0\.0\.1:\d+ \(connection refused\)/],
      [plainNotifier({ host: 'no-such-host.invalid', timeout: 5 }), /unknown host "no-such-host\.invalid"/],
      [secureNotifier({ to: ['nobody@example.jp'], cc: undefined }), /refused the recipient nobody@example\.jp.*550/],
    ];
    for (const [notifier, expected] of cases) {
      const { run } = await setup([notifier]);
      const r = await run(['notify', 'test']);
      expect(r.stderr, JSON.stringify(notifier)).toMatch(expected);
      expect(r.code).toBe(3);
    }
    const { run } = await setup([plainNotifier()]);
    const unknown = await run(['notify', 'test', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/there is no notifier "nope" in the config[\s\S]*notifiers: plain/);
  });
});

describe('mail about runs', () => {
  it('a run against a target that fails sends exactly one failure mail, status and reason in words; an identical failure right after is coalesced', async () => {
    const { run } = await setup([secureNotifier()], { failing: true });
    const { result, mails } = await newMail(secure, () => run(['backup', '--json']));
    const r = result as Awaited<ReturnType<typeof run>>;
    const rec = JSON.parse(r.stdout)[0];
    expect(rec).toMatchObject({ status: 'incomplete', reasons: ['target-unavailable'], counts: { seen: 3 } });
    expect(r.code).toBe(3);
    expect(rec.notifications).toMatchObject([{ notifier: 'mail', kind: 'run', rule: 'failure', state: 'sent', attempts: 1 }]);
    expect(rec.notifications[0].response).toMatch(/^250/);
    expect(mails).toHaveLength(1);
    const m = mails[0]!;
    expect(m.to.sort()).toEqual(['admin@example.jp', 'boss@example.jp', 'it@example.jp']);
    expect(m.mail.subject).toMatch(new RegExp(`^【hokan】office-pc / docs: 未完了 \\(保存先に接続できません\\) \\(${DATE.source}\\)$`));
    const text = m.mail.text ?? '';
    expect(text).toMatch(new RegExp(`開始日時 +${DATE.source}`));
    expect(text).toMatch(new RegExp(`終了日時 +${DATE.source}`));
    expect(text).toContain('保存先に接続できません: 保存先に接続できませんでした');
    expect(text).toMatch(/保存先 +usb/);
    expect(text).toMatch(/unplugged/); // the target's own error, as the run recorded it
    expect(text).toContain(`詳細: agent show ${rec.id}`);
    // The same failure again at once: held back (no mail loop), and said so on the run.
    const again = await newMail(secure, () => run(['backup', '--json']));
    expect(again.mails).toHaveLength(0);
    expect((again.result as typeof r).code).toBe(3);
    expect(JSON.parse((again.result as typeof r).stdout)[0].notifications).toMatchObject([{ notifier: 'mail', state: 'coalesced' }]);
  });

  it('files that could not be read: the figures, the first 20 files with their reasons in the body, all 25 in the CSV attachment', async () => {
    const { run } = await setup([plainNotifier()], { unreadable: 25 });
    const { result, mails } = await newMail(plain, () => run(['backup', '--json']));
    const rec = JSON.parse((result as { stdout: string }).stdout)[0];
    expect(rec).toMatchObject({ status: 'incomplete', reasons: ['access-denied'], counts: { seen: 28, uploaded: 3, failed: 25 } });
    expect(mails).toHaveLength(1);
    const m = mails[0]!;
    expect(m.mail.subject).toMatch(/^\[hokan\] office-pc \/ docs: incomplete \(access denied\)/);
    const text = m.mail.text ?? '';
    expect(text).toMatch(/Files +seen 28, uploaded 3, unchanged 0, deleted 0, skipped 0, failed 25/);
    expect(text).toMatch(/Sent +2\.93 KB/);
    expect(text).toContain('access denied: hokan had no permission to read a file or folder');
    expect(text).toContain('Files not backed up (the first 20 of 25; all of them in the attached CSV)');
    expect(text).toContain('Documents/locked/台帳-19.xlsx  usb  failed  access denied');
    expect(text).not.toContain('台帳-20.xlsx');
    expect(m.mail.html).toContain('台帳-00.xlsx');
    const rows = csvRows(m);
    expect(rows[0]).toEqual(['path', 'target', 'status', 'reason', 'size', 'message']);
    expect(rows).toHaveLength(26);
    expect(rows.slice(1).map((x) => x[0]).sort()).toEqual(Array.from({ length: 25 }, (_, i) => `Documents/locked/台帳-${String(i).padStart(2, '0')}.xlsx`));
    expect(rows.slice(1).every((x) => x[1] === 'usb' && x[2] === 'failed' && x[3] === 'access-denied')).toBe(true);
  });

  it('a completed run sends nothing by default, and one mail with "success"', async () => {
    const quiet = await setup([plainNotifier()]);
    const none = await newMail(plain, () => quiet.run(['backup']));
    expect((none.result as { code: number }).code).toBe(0);
    expect(none.mails).toHaveLength(0);

    const loud = await setup([plainNotifier({ on: ['failure', 'success'] })]);
    const one = await newMail(plain, () => loud.run(['backup']));
    expect((one.result as { code: number }).code).toBe(0);
    expect(one.mails).toHaveLength(1);
    const m = one.mails[0]!;
    expect(m.to).toEqual(['admin@example.jp']);
    expect(m.mail.subject).toMatch(new RegExp(`^\\[hokan\\] office-pc / docs: completed \\(${DATE.source}\\)$`));
    expect(m.mail.text).toMatch(/Status +completed — Every file was backed up\./);
    expect(m.mail.text).toMatch(/Files +seen 3, uploaded 3, unchanged 0, deleted 0, skipped 0, failed 0/);
    expect(m.mail.text).toMatch(/Sent +2\.93 KB/);
    expect(m.mail.attachments).toHaveLength(0);
  });

  it('an SMTP server that is down changes neither the run\'s status nor its exit code; the failure is recorded on the run', async () => {
    const { run } = await setup([plainNotifier({ port: await closedPort(), on: ['failure', 'success'] })]);
    const r = await run(['backup', '--json']);
    expect(r.code).toBe(0);
    const rec = JSON.parse(r.stdout)[0];
    expect(rec.status).toBe('completed');
    expect(rec.notifications).toMatchObject([{ notifier: 'plain', rule: 'success', state: 'failed', attempts: 3 }]);
    expect(rec.notifications[0].error).toMatch(/nothing answers on 127\.0\.0\.1:\d+ \(connection refused\)/);
    const h = await run(['history', '--json']);
    expect(JSON.parse(h.stdout).runs[0]).toMatchObject({ id: rec.id, status: 'completed', notifications: [{ state: 'failed' }] });
    // A failed run stays what it was (exit 3, incomplete) when its mail cannot go either.
    const failing = await setup([plainNotifier({ port: await closedPort() })], { failing: true });
    const f = await failing.run(['backup', '--json']);
    expect(f.code).toBe(3);
    expect(JSON.parse(f.stdout)[0]).toMatchObject({ status: 'incomplete', reasons: ['target-unavailable'], notifications: [{ rule: 'failure', state: 'failed', attempts: 3 }] });
  });
});

describe('digest and monthly through the CLI', () => {
  it('digest: one mail for the jobs of one `agent backup`; monthly: the space used per target, once a month', async () => {
    const base = join(dir, 'digest');
    await mkdir(join(base, 'p'), { recursive: true });
    await writeFile(join(base, 'p', 'photo.jpg'), 'p'.repeat(2048));
    const jobs = [
      { id: 'docs', sources: [{ path: join(base, 'missing') }], targets: ['usb'], notify: ['digest'] },
      { id: 'photos', sources: [{ path: join(base, 'p') }], targets: ['usb'] },
    ];
    const { run } = await setup([plainNotifier({ id: 'digest', digest: true, on: ['failure', 'success'] }), plainNotifier({ id: 'usage', on: ['monthly'], to: 'usage@example.jp' })], { jobs });
    const first = await newMail(plain, () => run(['backup', '--json']));
    const recs = JSON.parse((first.result as { stdout: string }).stdout);
    expect(recs.map((r: { job: string; status: string }) => [r.job, r.status])).toEqual([['docs', 'incomplete'], ['photos', 'completed']]);
    expect(recs[0].notifications).toMatchObject([{ notifier: 'digest', kind: 'digest', state: 'sent' }]);
    const digest = first.mails.filter((m) => m.to.includes('admin@example.jp'));
    expect(digest).toHaveLength(1);
    expect(digest[0]!.mail.subject).toMatch(/^\[hokan\] office-pc \/ docs, photos: incomplete \(invalid settings\) — 2 run\(s\)/);
    expect(digest[0]!.mail.text).toMatch(/incomplete \(invalid settings\): docs[\s\S]*completed: photos/);
    const usage = first.mails.filter((m) => m.to.includes('usage@example.jp'));
    expect(usage.map((m) => m.mail.subject)).toEqual([expect.stringMatching(/^\[hokan\] office-pc \/ \*: space used in \d{4}\/\d{2}/)]);
    expect(usage[0]!.mail.text).toMatch(/usb \(hdd\) +2 KB +1 +not known +[\d.]+ (KB|MB|GB|TB)/);
    // The next batch this month: the digest again, no second usage mail.
    const second = await newMail(plain, () => run(['backup']));
    expect(second.mails.map((m) => m.to)).toEqual([['admin@example.jp']]);
  });
});

describe('the stale alarm through the CLI', () => {
  it('fires for the job with no completed backup in N days (not for the healthy one), repeats daily, says "back to normal" once; status shows it', async () => {
    const base = join(dir, 'stale');
    const jobs = [
      { id: 'docs', sources: [{ path: join(base, 'd') }], targets: ['usb'], notify: ['a'] },
      { id: 'photos', sources: [{ path: join(base, 'p') }], targets: ['usb'], notify: ['b'] },
    ];
    const { run } = await setup([plainNotifier({ id: 'a', on: ['stale:3d'] }), plainNotifier({ id: 'b', on: ['stale:30d'], to: 'photos@example.jp' })], { jobs });
    await mkdir(join(base, 'd'), { recursive: true });
    await mkdir(join(base, 'p'), { recursive: true });
    await writeFile(join(base, 'd', 'a.txt'), 'a');
    await writeFile(join(base, 'p', 'b.jpg'), 'b');
    const b = await newMail(plain, () => run(['backup']));
    expect((b.result as { code: number }).code).toBe(0);
    expect(b.mails).toHaveLength(0);
    const status = await run(['status']);
    expect(status.stdout).toMatch(/job docs: last backup[^\n]*\n  stale: ok — last completed backup [^\n]*\(0 day\(s\) ago\); the alarm goes off after 3 day\(s\)/);

    const at = (days: number, hours = 0) => new Date(Date.now() + days * 86_400_000 + hours * 3_600_000).toISOString();
    const first = await newMail(plain, () => run(['notify', 'check', '--now', at(4)]));
    expect(first.mails.map((m) => m.to)).toEqual([['admin@example.jp']]);
    expect(first.mails[0]!.mail.subject).toMatch(/^\[hokan\] office-pc \/ docs: no completed backup for 4 day\(s\)/);
    expect(first.mails[0]!.mail.text).toContain('This alarm is repeated once a day until a backup of this job completes');
    expect((first.result as { stdout: string }).stdout).toMatch(/job docs: STALE — last completed backup/);
    expect((first.result as { stdout: string }).stdout).toMatch(/job photos: ok — /);
    expect((await newMail(plain, () => run(['notify', 'check', '--now', at(4, 5)]))).mails).toHaveLength(0);
    const second = await newMail(plain, () => run(['notify', 'check', '--now', at(5, 1)]));
    expect(second.mails.map((m) => m.mail.subject)).toEqual([expect.stringMatching(/docs: no completed backup for 5 day\(s\)/)]);

    // A completed backup ends it: "back to normal", once.
    await writeFile(join(base, 'd', 'new.txt'), 'new');
    const fixed = await newMail(plain, () => run(['backup', 'docs']));
    expect(fixed.mails.map((m) => m.mail.subject)).toEqual([expect.stringMatching(/^\[hokan\] office-pc \/ docs: back to normal/)]);
    expect((await newMail(plain, () => run(['notify', 'check']))).mails).toHaveLength(0);
  });
});

describe('runs found interrupted', () => {
  it('a backup killed mid-run is told once: by the next command, or by `agent run` when it starts', async () => {
    const { base, run } = await setup([plainNotifier({ language: 'ja' })]);
    const crash = await run(['backup'], { HOKAN_CRASH_AT: 'after-flush:1' });
    expect(crash.signal ?? crash.code).toBe('SIGKILL');
    // The daemon finds it at its start (its first check), and mails it.
    const before = plain.received.length;
    const daemon = startAgent(['run', '--config', join(base, 'config.json'), '--data-dir', join(base, 'data')], { cwd: base, env: { LANG: 'C' } });
    const done = collect(daemon, 60_000);
    const mails = (await plain.waitFor(before + 1)).slice(before);
    expect(mails.map((m) => m.mail.subject)).toEqual([expect.stringMatching(/^【hokan】office-pc \/ docs: 未完了 \(不慮の事態\)/)]);
    expect(mails[0]!.mail.text).toContain('バックアップの途中でエージェントが停止しました');
    daemon.kill('SIGTERM');
    expect((await done).code).toBe(0);
    // Told once: the next backup (which completes) sends nothing more.
    const next = await newMail(plain, () => run(['backup']));
    expect((next.result as { code: number }).code).toBe(0);
    expect(next.mails).toHaveLength(0);

    // Without a daemon, the next command that opens the index tells it.
    const other = await setup([plainNotifier()]);
    await other.run(['backup'], { HOKAN_CRASH_AT: 'after-flush:1' });
    const told = await newMail(plain, () => other.run(['history']));
    expect(told.mails.map((m) => m.mail.subject)).toEqual([expect.stringMatching(/docs: interrupted/)]);
  });
});

const python = aiosmtpdPython();
describe.skipIf(!python && !process.env.CI)('against aiosmtpd (Python), a server nobody here wrote', () => {
  let aio: SmtpHandle;
  beforeAll(async () => {
    if (!python) throw new Error('python3-aiosmtpd is not installed (.ci/run installs it)');
    aio = await startAiosmtpd(python);
  });
  afterAll(async () => {
    await aio?.stop();
  });

  it('takes the test mail and a failure mail, whose Japanese subject decodes', async () => {
    const notifier = { id: 'aio', type: 'smtp', host: '127.0.0.1', port: 0, requireTLS: false, from: 'hokan@example.jp', to: ['admin@example.jp'], language: 'ja' };
    const t = await setup([{ ...notifier, port: aio.port }]);
    const r = await t.run(['notify', 'test']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/aio \(smtp\): test message sent — the server answered: 250/);
    const f = await setup([{ ...notifier, port: aio.port }], { failing: true });
    await f.run(['backup']);
    const mails = await aio.waitFor(2);
    expect(mails.map((m) => m.mail.subject)).toEqual([expect.stringMatching(/テストメール/), expect.stringMatching(/^【hokan】office-pc \/ docs: 未完了 \(保存先に接続できません\)/)]);
    expect(mails[1]!.to).toEqual(['admin@example.jp']);
    expect(mails[1]!.mail.text).toContain('保存先に接続できません');
  });
});
