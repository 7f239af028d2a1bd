import { emptyCounts, INCOMPLETE_REASONS, REASON_TEXTS, RUN_STATUS_TEXTS, RUN_STATUSES, type FileRecord, type RunMessage } from '@hokan/core';
import { describe, expect, it } from 'vitest';
import { CSV_LIMIT, fillSubject, mailContent } from '../src/mail-content.js';
import { smtpConfig } from '../src/smtp-config.js';

// What a mail says, without a server: the words for every status and reason, the subject template,
// the CSV's 1 MB cap, the settings' defaults and checks. (Delivery: notify-smtp.spec.ts.)

function runMessage(failed: number): RunMessage {
  const files: FileRecord[] = Array.from({ length: failed }, (_, i) => ({ path: `Documents/経理/${'とても長い名前の帳簿ファイル'.repeat(2)}-${i}.xlsx`, target: 'usb', status: 'failed', reason: 'access-denied', message: 'EACCES: permission denied' }));
  return {
    kind: 'run',
    rule: 'failure',
    device: 'office-pc',
    at: new Date(2026, 2, 5, 7, 8, 9).toISOString(),
    run: { id: '20260305T070809.000-abcd', job: 'docs', kind: 'backup', status: 'incomplete', reasons: ['access-denied'], start: new Date(2026, 2, 5, 7, 0, 1).toISOString(), end: new Date(2026, 2, 5, 7, 8, 9).toISOString(), device: 'office-pc', sources: ['/home/hanako/Documents'], targets: ['usb'], counts: { ...emptyCounts(), seen: failed + 10, uploaded: 10, failed }, bytes: 5 * 1024 ** 3 + 512 * 1024 ** 2 },
    failedFiles: files.slice(0, 20),
    failedTotal: failed,
    async *allFailedFiles() {
      yield* files;
    },
  };
}

describe('mail content', () => {
  it('has Japanese and English words for every run status and every reason', () => {
    for (const lang of ['ja', 'en'] as const) {
      for (const s of RUN_STATUSES) expect(RUN_STATUS_TEXTS[lang][s].label, `${lang} ${s}`).toBeTruthy();
      for (const r of INCOMPLETE_REASONS) {
        const t = REASON_TEXTS[lang][r];
        expect(t.label && t.text && t.fix, `${lang} ${r}`).toBeTruthy();
      }
    }
    expect(RUN_STATUS_TEXTS.ja.incomplete.label).toBe('未完了');
    expect(REASON_TEXTS.ja['network-error'].label).toBe('通信エラー');
  });

  it('dates in local time YYYY/MM/DD HH:mm:ss, sizes with 1 GB = 1024 MB, the subject template filled', async () => {
    const m = await mailContent(runMessage(3), { language: 'en', subject: '{status} — {job}@{device} {date} {unknown}' });
    expect(m.subject).toBe('incomplete (access denied) — docs@office-pc 2026/03/05 07:08:09 {unknown}');
    expect(m.text).toMatch(/Start +2026\/03\/05 07:00:01/);
    expect(m.text).toMatch(/End +2026\/03\/05 07:08:09/);
    expect(m.text).toMatch(/Sent +5\.5 GB/);
    expect(fillSubject('{job}\r\nBcc: x@example.jp', { device: 'd', job: 'j', status: 's', date: 't' })).toBe('j Bcc: x@example.jp');
  });

  it('a restore drill says so in the subject, the title and the list of files', async () => {
    const msg = runMessage(2);
    msg.run = { ...msg.run, kind: 'restore', reasons: ['hash-mismatch'], drill: { sample: '100 files', files: 100, sourceChecked: 40, trigger: 'schedule' } };
    const en = await mailContent(msg, { language: 'en' });
    expect(en.subject).toMatch(/docs: restore drill incomplete/);
    expect(en.text).toContain('Files the restore drill did not find intact (2)');
    const ja = await mailContent(msg, { language: 'ja' });
    expect(ja.text).toContain('復元テストで正しく復元できなかったファイル (2 件)');
  });

  it('the CSV of failed files stops before 1 MB, and the mail says so', async () => {
    const m = await mailContent(runMessage(30_000), { language: 'ja' });
    const csv = m.attachments[0]!;
    const size = Buffer.byteLength(csv.content);
    expect(size).toBeLessThanOrEqual(CSV_LIMIT);
    expect(size).toBeGreaterThan(CSV_LIMIT - 500);
    const rows = csv.content.trim().split('\r\n').length - 1;
    expect(rows).toBeLessThan(30_000);
    expect(m.text).toContain(`添付の CSV は 1 MB までのため、30000 件中 最初の ${rows} 件のみです。`);
    expect(m.text).toContain('バックアップできなかったファイル (30000 件中 最初の 20 件。全件は添付の CSV)');
    expect(m.html).toContain('<table');
  });

  it('settings: STARTTLS required by default, port from secure, from defaults to the user, language from the locale; user without password refused', () => {
    expect(smtpConfig({ host: 'smtp.example.jp', to: 'a@example.jp', user: 'me@example.jp', password: 'pw' }, { LANG: 'ja_JP.UTF-8' })).toMatchObject({ port: 587, secure: false, requireTLS: true, from: 'me@example.jp', to: ['a@example.jp'], language: 'ja' });
    expect(smtpConfig({ host: 'h', to: ['a@x.jp'], from: 'b@x.jp', secure: true }, { LANG: 'en_US.UTF-8' })).toMatchObject({ port: 465, requireTLS: false, language: 'en' });
    expect(() => smtpConfig({ host: 'h', to: ['a@x.jp'], user: 'me@x.jp' })).toThrow(/has a "user" but no "password"/);
    expect(() => smtpConfig({ host: 'h', to: ['a@x.jp'] })).toThrow(/no sender \("from"\)/);
  });
});

describe('the stale alarm of a rotated disk', () => {
  it('names the disk and its target in Japanese and English, with when it last got a backup', async () => {
    const lastCompleted = new Date(2026, 10, 20, 9, 0, 0).toISOString();
    const message = {
      kind: 'stale' as const,
      device: 'office-pc',
      at: new Date(2026, 10, 27, 9, 0, 0).toISOString(),
      job: 'docs',
      days: 3,
      lastCompleted,
      daysSince: 7,
      repeat: 1,
      disk: { target: 'usb', id: '2bd4f2bbf079fff2', inUse: false, lastRun: { id: '20261120T090000.000-abcd', start: lastCompleted, status: 'completed' } },
    };
    const en = await mailContent(message, { language: 'en' });
    expect(en.subject).toMatch(/docs: disk 2bd4f2bb \(usb\) has had no backup for 7 day\(s\)/);
    expect(en.text).toContain('Disk 2bd4f2bb of the rotation on target "usb" has had no completed backup of "docs" for 7 day(s).');
    expect(en.text).toContain('2bd4f2bbf079fff2');
    expect(en.text).toContain('2026/11/20 09:00:00');
    const ja = await mailContent(message, { language: 'ja' });
    expect(ja.subject).toMatch(/docs: ディスク 2bd4f2bb \(usb\) は 7 日間バックアップされていません/);
    expect(ja.text).toContain('保存先「usb」のローテーション用ディスク 2bd4f2bb には、7 日間「docs」のバックアップが完了していません。');
    expect(ja.html).toContain('2bd4f2bb');
  });
});
