import {
  FILE_STATUS_TEXTS,
  formatBytes,
  formatDate,
  reasonText,
  RUN_STATUS_TEXTS,
  statusLabel,
  type FileRecord,
  type Language,
  type NotifyMessage,
  type RunMessage,
  type RunRecord,
} from '@hokan/core';

// What a mail says, in Japanese or English: subject, plain text, HTML and the CSV of failed files.
// Dates are local time `YYYY/MM/DD HH:mm:ss`, sizes KB/MB/GB with 1 GB = 1024 MB (product.md).

/** The CSV attachment stops before this many bytes (the body then says it was cut). */
export const CSV_LIMIT = 1024 * 1024;

export interface MailContent {
  subject: string;
  text: string;
  html: string;
  attachments: { filename: string; content: string; contentType: string }[];
}

const W = {
  en: {
    subjectDefault: '[hokan] {device} / {job}: {status} ({date})',
    job: 'Job',
    device: 'Device',
    targets: 'Targets',
    sources: 'Sources',
    start: 'Start',
    end: 'End',
    status: 'Status',
    reasons: 'Why',
    what: 'What to do',
    counts: 'Files',
    seen: 'seen',
    uploaded: 'uploaded',
    unchanged: 'unchanged',
    deleted: 'deleted',
    skipped: 'skipped',
    failed: 'failed',
    bytes: 'Sent',
    perTarget: 'Per target',
    failedFiles: (n: number, total: number) => (total > n ? `Files not backed up (the first ${n} of ${total}; all of them in the attached CSV)` : `Files not backed up (${total})`),
    csvCut: (n: number, total: number) => `The attached CSV holds the first ${n} of ${total} files: it stops at 1 MB. \`agent show RUN --status failed --csv\` gives them all.`,
    run: 'Run',
    details: (id: string) => `Details: agent show ${id}`,
    coalesced: (n: number) => `${n} more identical alarm(s) were held back since the last mail (the same job failed the same way).`,
    recovered: (days: number) => `Back to normal: this backup completed after ${days} day(s) without one.`,
    staleStatus: (d: number) => `no completed backup for ${d} day(s)`,
    staleTitle: (job: string, d: number) => `The backup "${job}" has not completed for ${d} day(s).`,
    staleLast: 'Last completed backup',
    never: 'never',
    lastRun: 'Last run',
    staleRepeat: 'This alarm is repeated once a day until a backup of this job completes; one more mail says when it is back to normal.',
    staleFix: 'Check that the agent is running (`agent status`), that the targets are connected, and run `agent backup` for this job.',
    recoveredStatus: 'back to normal',
    recoveredTitle: (job: string, days: number) => `The backup "${job}" completed again, after ${days} day(s) without a completed backup.`,
    diskStaleStatus: (disk: string, target: string, d: number) => `disk ${disk} (${target}) has had no backup for ${d} day(s)`,
    diskStaleTitle: (disk: string, target: string, job: string, d: number) => `Disk ${disk} of the rotation on target "${target}" has had no completed backup of "${job}" for ${d} day(s).`,
    disk: 'Disk',
    diskLastRun: 'Its last backup run',
    diskStaleFix: 'The disks of this target are used in turn: bring this disk back (plug it in at the backup place) and run `agent backup` for this job, so that it holds a recent copy too. The disk in use now is backed up as usual.',
    diskStaleRepeat: 'This alarm is repeated once a day until this disk gets a completed backup; one more mail says when it is back to normal.',
    diskRecoveredStatus: (disk: string, target: string) => `disk ${disk} (${target}) back to normal`,
    diskRecoveredTitle: (disk: string, target: string, days: number) => `Disk ${disk} of the rotation on target "${target}" got a completed backup again, after ${days} day(s) without one.`,
    usageStatus: (m: string) => `space used in ${m}`,
    usageTitle: (m: string) => `Space used on each target, ${m}`,
    held: 'backups kept',
    files: 'files',
    used: 'used (whole target)',
    free: 'free',
    unknown: 'not known',
    testStatus: 'test message',
    testTitle: 'This is a test message from hokan. If you can read it, the mail settings work.',
    digestStatus: (n: number) => `${n} run(s)`,
    drill: 'restore drill',
    drillFiles: (n: number, total: number) => (total > n ? `Files the restore drill did not find intact (the first ${n} of ${total}; all of them in the attached CSV)` : `Files the restore drill did not find intact (${total})`),
    footer: 'Sent by hokan, the backup agent.',
  },
  ja: {
    subjectDefault: '【hokan】{device} / {job}: {status} ({date})',
    job: 'ジョブ',
    device: '端末',
    targets: '保存先',
    sources: 'バックアップ元',
    start: '開始日時',
    end: '終了日時',
    status: 'ステータス',
    reasons: '原因',
    what: '対処',
    counts: 'ファイル',
    seen: '対象',
    uploaded: 'アップロード',
    unchanged: '差分なし',
    deleted: '削除',
    skipped: 'スキップ',
    failed: '失敗',
    bytes: '送信量',
    perTarget: '保存先ごと',
    failedFiles: (n: number, total: number) => (total > n ? `バックアップできなかったファイル (${total} 件中 最初の ${n} 件。全件は添付の CSV)` : `バックアップできなかったファイル (${total} 件)`),
    csvCut: (n: number, total: number) => `添付の CSV は 1 MB までのため、${total} 件中 最初の ${n} 件のみです。全件は \`agent show RUN --status failed --csv\` で確認できます。`,
    run: '実行 ID',
    details: (id: string) => `詳細: agent show ${id}`,
    coalesced: (n: number) => `前回のメール以降、同じ内容の通知 ${n} 件を省略しました (同じジョブが同じ原因で失敗しました)。`,
    recovered: (days: number) => `正常に戻りました: ${days} 日間完了していなかったバックアップが完了しました。`,
    staleStatus: (d: number) => `${d} 日間バックアップが完了していません`,
    staleTitle: (job: string, d: number) => `バックアップ「${job}」が ${d} 日間完了していません。`,
    staleLast: '最後に完了したバックアップ',
    never: 'なし',
    lastRun: '最後の実行',
    staleRepeat: 'このジョブのバックアップが完了するまで、この通知を 1 日 1 回お送りします。正常に戻ったときにもう一度お知らせします。',
    staleFix: 'エージェントが動作しているか (`agent status`)、保存先が接続されているかを確認し、このジョブの `agent backup` を実行してください。',
    recoveredStatus: '正常に戻りました',
    recoveredTitle: (job: string, days: number) => `バックアップ「${job}」が再び完了しました (${days} 日間完了していませんでした)。`,
    diskStaleStatus: (disk: string, target: string, d: number) => `ディスク ${disk} (${target}) は ${d} 日間バックアップされていません`,
    diskStaleTitle: (disk: string, target: string, job: string, d: number) => `保存先「${target}」のローテーション用ディスク ${disk} には、${d} 日間「${job}」のバックアップが完了していません。`,
    disk: 'ディスク',
    diskLastRun: 'このディスクの最後の実行',
    diskStaleFix: 'この保存先では複数のディスクを交代で使っています。このディスクを保存場所に接続し、このジョブの `agent backup` を実行して、こちらにも新しいコピーを作ってください。いま接続されているディスクは通常どおりバックアップされています。',
    diskStaleRepeat: 'このディスクのバックアップが完了するまで、この通知を 1 日 1 回お送りします。正常に戻ったときにもう一度お知らせします。',
    diskRecoveredStatus: (disk: string, target: string) => `ディスク ${disk} (${target}) は正常に戻りました`,
    diskRecoveredTitle: (disk: string, target: string, days: number) => `保存先「${target}」のディスク ${disk} のバックアップが再び完了しました (${days} 日間完了していませんでした)。`,
    usageStatus: (m: string) => `${m} の使用容量`,
    usageTitle: (m: string) => `保存先ごとの使用容量 (${m})`,
    held: 'バックアップ使用量',
    files: 'ファイル数',
    used: '使用 (保存先全体)',
    free: '空き',
    unknown: '不明',
    testStatus: 'テストメール',
    testTitle: 'hokan からのテストメールです。このメールが届いていれば、メールの設定は正しく動作しています。',
    digestStatus: (n: number) => `${n} 件の実行`,
    drill: '復元テスト',
    drillFiles: (n: number, total: number) => (total > n ? `復元テストで正しく復元できなかったファイル (${total} 件中 最初の ${n} 件。全件は添付の CSV)` : `復元テストで正しく復元できなかったファイル (${total} 件)`),
    footer: 'このメールはバックアップエージェント hokan が送信しました。',
  },
} as const;

type Words = (typeof W)[Language];

/** `{device}`, `{job}`, `{status}`, `{date}` filled in; unknown placeholders stay as written. */
export function fillSubject(template: string, v: { device: string; job: string; status: string; date: string }): string {
  return template.replace(/\{(device|job|status|date)\}/g, (_, k: keyof typeof v) => v[k]).replace(/[\r\n]+/g, ' ');
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break. */
function csvField(v: string | number | undefined): string {
  const s = v === undefined ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Lines of `label: value` and an HTML table of the same. */
class Body {
  readonly text: string[] = [];
  readonly html: string[] = [];
  title(s: string): void {
    this.text.push(s, '');
    this.html.push(`<p style="font-size:16px"><b>${esc(s)}</b></p>`);
  }
  para(s: string): void {
    this.text.push(s, '');
    this.html.push(`<p>${esc(s)}</p>`);
  }
  fields(rows: [string, string][]): void {
    const width = Math.max(...rows.map(([k]) => k.length));
    for (const [k, v] of rows) this.text.push(`${k.padEnd(width)}  ${v}`);
    this.text.push('');
    this.html.push(`<table cellpadding="3" style="border-collapse:collapse">${rows.map(([k, v]) => `<tr><th align="left" style="padding-right:12px">${esc(k)}</th><td>${esc(v).replace(/\n/g, '<br>')}</td></tr>`).join('')}</table>`);
  }
  table(heading: string, head: string[], rows: string[][]): void {
    this.text.push(heading);
    for (const r of rows) this.text.push(`  ${r.filter(Boolean).join('  ')}`);
    this.text.push('');
    this.html.push(`<p><b>${esc(heading)}</b></p><table border="1" cellpadding="3" style="border-collapse:collapse"><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</table>`);
  }
  done(footer: string): { text: string; html: string } {
    this.text.push('--', footer);
    this.html.push(`<hr><p style="color:#666">${esc(footer)}</p>`);
    return { text: this.text.join('\n'), html: `<!DOCTYPE html><html><body style="font-family:sans-serif">${this.html.join('\n')}</body></html>` };
  }
}

function countsLine(run: RunRecord, w: Words): string {
  const c = run.counts;
  return `${w.seen} ${c.seen}, ${w.uploaded} ${c.uploaded}, ${w.unchanged} ${c.unchanged}, ${w.deleted} ${c.deleted}, ${w.skipped} ${c.skipped}, ${w.failed} ${c.failed}`;
}

function reasonLines(run: RunRecord, lang: Language): string {
  return run.reasons
    .filter((r) => r !== 'multiple-errors' || run.reasons.length === 1)
    .map((r) => {
      const t = reasonText(r, lang);
      return `${t.label}: ${t.text}${t.fix ? ` ${t.fix}` : ''}`;
    })
    .join('\n');
}

/** The run's facts as label/value rows (used by run, stale and recovered mails). */
function runRows(run: RunRecord, lang: Language, w: Words): [string, string][] {
  const rows: [string, string][] = [
    [w.job, run.job],
    [w.device, run.device],
    [w.targets, run.targets.join(', ')],
  ];
  if (run.sources.length) rows.push([w.sources, run.sources.join('\n')]);
  rows.push([w.start, formatDate(run.start)], [w.end, run.end ? formatDate(run.end) : '-'], [w.status, `${statusLabel(run, lang)} — ${RUN_STATUS_TEXTS[lang][run.status]?.text ?? ''}`]);
  if (run.reasons.length) rows.push([w.reasons, reasonLines(run, lang)]);
  if (run.error) rows.push([w.what, run.error]);
  if (run.note) rows.push(['note', run.note]);
  rows.push([w.counts, countsLine(run, w)], [w.bytes, formatBytes(run.bytes)], [w.run, run.id]);
  return rows;
}

async function failedCsv(message: RunMessage): Promise<{ csv: string; rows: number }> {
  // The BOM lets Excel open UTF-8 (Japanese names) correctly.
  const parts = ['\uFEFFpath,target,status,reason,size,message\r\n'];
  let bytes = Buffer.byteLength(parts[0]!);
  let rows = 0;
  for await (const f of message.allFailedFiles()) {
    const line = [f.path, f.target, f.status, f.reason, f.size, f.message].map(csvField).join(',') + '\r\n';
    const n = Buffer.byteLength(line);
    if (bytes + n > CSV_LIMIT) break;
    parts.push(line);
    bytes += n;
    rows++;
  }
  return { csv: parts.join(''), rows };
}

function fileRow(f: FileRecord, lang: Language): string[] {
  return [f.path, f.target, FILE_STATUS_TEXTS[lang][f.status] ?? f.status, f.reason ? reasonText(f.reason, lang).label : '', f.message ?? ''];
}

/** Builds the mail for one message. */
export async function mailContent(message: NotifyMessage, o: { language: Language; subject?: string }): Promise<MailContent> {
  const lang = o.language;
  const w = W[lang];
  const b = new Body();
  const attachments: MailContent['attachments'] = [];
  const date = formatDate(message.at);
  const subject = (job: string, status: string) => fillSubject(o.subject ?? w.subjectDefault, { device: message.device, job, status, date });
  if (message.coalesced) b.para(w.coalesced(message.coalesced));

  switch (message.kind) {
    case 'run': {
      const run = message.run;
      const drill = run.drill ? `${w.drill} ` : '';
      b.title(`${drill}${statusLabel(run, lang)}: ${run.job}`);
      if (message.recovered) b.para(w.recovered(message.recovered.days));
      b.fields(runRows(run, lang, w));
      if (run.targetResults && run.targetResults.length) {
        b.table(w.perTarget, [w.targets, w.status, w.uploaded, w.unchanged, w.deleted, w.skipped, w.failed, w.bytes, ''], run.targetResults.map((t) => [t.id, statusLabel(t, lang), String(t.counts.uploaded), String(t.counts.unchanged), String(t.counts.deleted), String(t.counts.skipped), String(t.counts.failed), formatBytes(t.bytes), t.error ?? '']));
      }
      if (message.failedTotal) {
        b.table((run.drill ? w.drillFiles : w.failedFiles)(message.failedFiles.length, message.failedTotal), ['path', w.targets, w.status, w.reasons, ''], message.failedFiles.map((f) => fileRow(f, lang)));
        const { csv, rows } = await failedCsv(message);
        attachments.push({ filename: `hokan-${run.job}-${run.id}-files.csv`, content: csv, contentType: 'text/csv; charset=utf-8' });
        if (rows < message.failedTotal) b.para(w.csvCut(rows, message.failedTotal).replace('RUN', run.id));
      }
      b.para(w.details(run.id));
      const { text, html } = b.done(w.footer);
      return { subject: subject(run.job, `${drill}${statusLabel(run, lang)}`), text, html, attachments };
    }
    case 'stale': {
      if (message.disk) {
        const disk = message.disk.id.slice(0, 8);
        b.title(w.diskStaleTitle(disk, message.disk.target, message.job, message.daysSince));
        const rows: [string, string][] = [
          [w.job, message.job],
          [w.device, message.device],
          [w.targets, message.disk.target],
          [w.disk, message.disk.id],
          [w.staleLast, message.lastCompleted ? formatDate(message.lastCompleted) : w.never],
        ];
        const lr = message.disk.lastRun;
        if (lr) rows.push([w.diskLastRun, `${formatDate(lr.start)}  ${statusLabel({ status: lr.status, reasons: [] } as never, lang)}  (${lr.id})`]);
        b.fields(rows);
        b.para(w.diskStaleFix);
        b.para(w.diskStaleRepeat);
        const { text, html } = b.done(w.footer);
        return { subject: subject(message.job, w.diskStaleStatus(disk, message.disk.target, message.daysSince)), text, html, attachments };
      }
      b.title(w.staleTitle(message.job, message.daysSince));
      const rows: [string, string][] = [
        [w.job, message.job],
        [w.device, message.device],
        [w.staleLast, message.lastCompleted ? formatDate(message.lastCompleted) : w.never],
      ];
      if (message.lastRun) rows.push([w.lastRun, `${formatDate(message.lastRun.start)}  ${statusLabel(message.lastRun, lang)}  (${message.lastRun.id})`]);
      if (message.lastRun?.reasons.length) rows.push([w.reasons, reasonLines(message.lastRun, lang)]);
      b.fields(rows);
      b.para(w.staleFix);
      b.para(w.staleRepeat);
      const { text, html } = b.done(w.footer);
      return { subject: subject(message.job, w.staleStatus(message.daysSince)), text, html, attachments };
    }
    case 'recovered': {
      const disk = message.disk ? message.disk.id.slice(0, 8) : undefined;
      b.title(message.disk ? w.diskRecoveredTitle(disk!, message.disk.target, message.days) : w.recoveredTitle(message.job, message.days));
      b.fields(runRows(message.run, lang, w));
      const { text, html } = b.done(w.footer);
      return { subject: subject(message.job, message.disk ? w.diskRecoveredStatus(disk!, message.disk.target) : w.recoveredStatus), text, html, attachments };
    }
    case 'usage': {
      b.title(w.usageTitle(message.month));
      const size = (n: number | undefined) => (n !== undefined ? formatBytes(n) : w.unknown);
      b.table(w.targets, [w.targets, w.held, w.files, w.used, w.free, ''], message.targets.map((t) => [`${t.id} (${t.type})`, size(t.held), t.files !== undefined ? String(t.files) : w.unknown, size(t.used), size(t.free), t.error ?? '']));
      const { text, html } = b.done(w.footer);
      return { subject: subject('*', w.usageStatus(message.month)), text, html, attachments };
    }
    case 'test': {
      b.title(w.testTitle);
      b.fields([[w.device, message.device], [w.start, date]]);
      const { text, html } = b.done(w.footer);
      return { subject: subject('-', w.testStatus), text, html, attachments };
    }
    case 'digest': {
      for (const r of message.runs) {
        b.title(`${statusLabel(r.run, lang)}: ${r.run.job}`);
        b.fields(runRows(r.run, lang, w));
        if (r.failedTotal) b.table(w.failedFiles(r.failedFiles.length, r.failedTotal), ['path', w.targets, w.status, w.reasons, ''], r.failedFiles.map((f) => fileRow(f, lang)));
      }
      const { text, html } = b.done(w.footer);
      const worst = message.runs.find((r) => r.run.status !== 'completed') ?? message.runs[0];
      return { subject: subject(message.runs.map((r) => r.run.job).join(', '), worst ? `${statusLabel(worst.run, lang)} — ${w.digestStatus(message.runs.length)}` : w.digestStatus(0)), text, html, attachments };
    }
  }
}
