import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { closedPort } from './smtp-helper.js';
import { DATE, secure, plain, dir, setup, secureNotifier, plainNotifier, newMail, csvRows } from './cli-fixture.js';

// Mail about backup runs through `agent backup`, read back with mailparser: one failure mail per
// failing run (coalesced when it repeats), the figures, files and CSV, none for a completed run unless
// `success`, SMTP down changing nothing of the run, digest and monthly.

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
    // The first 20 failures in the order the run met them (the copies go side by side, so which
    // 20 of the 25 varies from run to run): 20 distinct files of the 25, each with its reason.
    const listed = [...text.matchAll(/^ {2}Documents\/locked\/(台帳-\d\d\.xlsx) {2}usb {2}failed {2}access denied/gm)].map((x) => x[1]!);
    expect(listed).toHaveLength(20);
    expect(new Set(listed).size).toBe(20);
    expect(listed.every((n) => /^台帳-(0\d|1\d|2[0-4])\.xlsx$/.test(n))).toBe(true);
    expect(m.mail.html).toContain(listed[0]!);
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
    expect((await run(['show', rec.id])).stdout).toMatch(/^  notified plain \(run, success\): failed after 3 attempts — nothing answers on 127\.0\.0\.1:\d+ \(connection refused\)$/m);
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
