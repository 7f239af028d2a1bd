import type { FileStatus, Reason, RunStatus } from './statuses.js';

// The statuses and reasons of product.md in words a person reads, in Japanese and English — for
// every notifier (mail, chat) and any plugin that reports. The Japanese ones follow the seeds'
// labels (完了, 未完了 (通信エラー), 未実行, …). Pure: no node imports.

export type Language = 'ja' | 'en';

interface Words {
  /** A short label (`incomplete`, `未完了`). */
  label: string;
  /** One sentence: what happened. */
  text: string;
}

export const RUN_STATUS_TEXTS: Record<Language, Record<RunStatus, Words>> = {
  en: {
    waiting: { label: 'waiting', text: 'The run is waiting for another one to finish.' },
    running: { label: 'running', text: 'The run is in progress.' },
    completed: { label: 'completed', text: 'Every file was backed up.' },
    incomplete: { label: 'incomplete', text: 'The run finished, but some files or targets could not be backed up.' },
    aborted: { label: 'aborted', text: 'The run was stopped by a person before it finished.' },
    interrupted: { label: 'interrupted', text: 'The agent stopped in the middle of the run (a crash, a shutdown or a power cut); it was found at the next start.' },
    'not-executed': { label: 'not executed', text: 'A scheduled run could not take place.' },
  },
  ja: {
    waiting: { label: '待機中', text: '他の処理が終わるのを待っています。' },
    running: { label: '実行中', text: 'バックアップを実行中です。' },
    completed: { label: '完了', text: 'すべてのファイルをバックアップしました。' },
    incomplete: { label: '未完了', text: 'バックアップは終了しましたが、一部のファイルまたは保存先をバックアップできませんでした。' },
    aborted: { label: '中断', text: 'バックアップは完了する前に利用者によって中断されました。' },
    interrupted: { label: '未完了 (不慮の事態)', text: 'バックアップの途中でエージェントが停止しました (異常終了・シャットダウン・停電など)。次回の起動時に検出されました。' },
    'not-executed': { label: '未実行', text: '予定されていたバックアップを実行できませんでした。' },
  },
};

export const REASON_TEXTS: Record<Language, Record<Reason, Words & { fix: string }>> = {
  en: {
    'access-denied': { label: 'access denied', text: 'hokan had no permission to read a file or folder, or the target refused the credentials.', fix: 'Grant read permission on the source, or check the target\'s user name and password.' },
    'forbidden-name': { label: 'forbidden name', text: 'A file or folder name contains a character the target cannot hold.', fix: 'Rename it without \\ / : * ? " < > |.' },
    'path-too-long': { label: 'path too long', text: 'A path is longer than the target allows.', fix: 'Shorten the folder or file names.' },
    'file-too-large': { label: 'file too large', text: 'A file is larger than the limit set for this job or target.', fix: 'Raise "maxFileSize", or exclude the file.' },
    'invalid-settings': { label: 'invalid settings', text: 'A source or target folder was deleted or renamed, or the settings are wrong.', fix: 'Check the job\'s sources and targets in config.json.' },
    'quota-exceeded': { label: 'quota exceeded', text: 'The target is full, or its quota was reached.', fix: 'Free space on the target, or move to a larger plan.' },
    'network-error': { label: 'network error', text: 'The network failed during the backup.', fix: 'Check the connection; the next run sends what is missing.' },
    'changed-during-backup': { label: 'changed during backup', text: 'A file was being changed, was open in another program, or was moved while it was read.', fix: 'Nothing to do: it is sent again at the next run.' },
    'target-unavailable': { label: 'target unavailable', text: 'A target could not be reached (unplugged, switched off, or the server did not answer).', fix: 'Connect or switch on the target, then run the backup again.' },
    'target-busy': { label: 'target busy', text: 'Another run (another computer or data folder) was writing to the same place on the target.', fix: 'Wait for it to finish; if it died, its lease expires in 15 minutes.' },
    'not-found': { label: 'not found', text: 'Something the run needed was not on the target.', fix: 'Run `agent verify` for this job.' },
    'hash-mismatch': { label: 'damaged copy', text: 'A stored copy did not match its recorded checksum.', fix: 'Run `agent verify`; the next backup sends the file again.' },
    'version-pruned': { label: 'version pruned', text: 'The version asked for was already removed by the generations rule.', fix: 'Restore from a later run, or keep more generations.' },
    'deletion-threshold': { label: 'too many deletions', text: 'The run would have deleted more files than the safety limit allows, so it deleted none.', fix: 'Check the source folder; if the deletions are wanted, raise "deletionThreshold".' },
    'target-reset': { label: 'backup destination reset', text: 'The backup destination was wiped or replaced since the last backup (this job\'s marker on it was gone or another), so everything was sent to it again.', fix: 'Nothing to do if the disk or bucket was meant to start afresh; otherwise check that the right disk is plugged in. "onTargetReset": "refuse" stops instead.' },
    'io-error': { label: 'input/output error', text: 'A disk or server error stopped a file.', fix: 'Check the disk or the server; see `agent show RUN` for the message.' },
    'agent-not-running': { label: 'agent not running', text: 'A scheduled backup time passed while the hokan agent was not running.', fix: 'Keep `agent run` running (install it as a service: docs/design.md), or set "catchUp": true to run a missed backup when the agent starts.' },
    'machine-asleep': { label: 'computer asleep', text: 'A scheduled backup time passed while the computer was asleep (or its clock jumped).', fix: 'Choose a time the computer is on, or set "catchUp": true to run a missed backup when it wakes.' },
    paused: { label: 'paused', text: 'A scheduled backup time fell in a pause (the job\'s pause window, or `agent pause`).', fix: 'Move the schedule out of the pause window, or set "catchUp": true to run it when the pause ends.' },
    'multiple-errors': { label: 'multiple errors', text: 'Several different problems happened in this run.', fix: 'See each reason below and the list of files.' },
  },
  ja: {
    'access-denied': { label: 'アクセス不可', text: 'ファイルやフォルダを読む権限がないか、保存先が認証情報を拒否しました。', fix: 'バックアップ元の読み取り権限、または保存先のユーザー名とパスワードを確認してください。' },
    'forbidden-name': { label: '禁止文字検出', text: 'ファイル名またはフォルダ名に保存先で使えない文字が含まれています。', fix: '\\ / : * ? " < > | を使わない名前に変更してください。' },
    'path-too-long': { label: 'パス長超過', text: 'パスが保存先で扱える長さを超えています。', fix: 'フォルダ名やファイル名を短くしてください。' },
    'file-too-large': { label: 'ファイルサイズ超過', text: 'ファイルがこのジョブまたは保存先の上限より大きいです。', fix: '"maxFileSize" を引き上げるか、ファイルを除外してください。' },
    'invalid-settings': { label: '設定内容不正', text: 'バックアップ元または保存先のフォルダが削除・名前変更されたか、設定に誤りがあります。', fix: 'config.json のジョブのバックアップ元と保存先を確認してください。' },
    'quota-exceeded': { label: '容量不足', text: '保存先の空き容量がないか、容量の上限に達しました。', fix: '保存先の不要なファイルを削除するか、容量の大きいプランに変更してください。' },
    'network-error': { label: '通信エラー', text: 'バックアップ中にネットワークの問題が発生しました。', fix: '接続を確認してください。次回のバックアップで不足分を送ります。' },
    'changed-during-backup': { label: 'バックアップ中に変更', text: 'ファイルが更新中、他のアプリで使用中、または読み取り中に移動されました。', fix: '対応は不要です。次回のバックアップで再送します。' },
    'target-unavailable': { label: '保存先に接続できません', text: '保存先に接続できませんでした (未接続・電源オフ・サーバーが応答しない)。', fix: '保存先を接続または起動してから、もう一度バックアップしてください。' },
    'target-busy': { label: '保存先が使用中', text: '別のパソコンまたは別のデータフォルダのバックアップが同じ保存先に書き込んでいました。', fix: '終わるまでお待ちください。停止した場合は 15 分で解除されます。' },
    'not-found': { label: '未存在', text: '必要なデータが保存先にありませんでした。', fix: 'このジョブで `agent verify` を実行してください。' },
    'hash-mismatch': { label: '破損', text: '保存されたコピーが記録されたチェックサムと一致しません。', fix: '`agent verify` を実行してください。次回のバックアップで再送します。' },
    'version-pruned': { label: '世代削除済み', text: '指定された版は世代数の設定によりすでに削除されています。', fix: 'より新しい実行から復元するか、世代数を増やしてください。' },
    'deletion-threshold': { label: '削除数の上限超過', text: '安全のための上限を超える数のファイルを削除しようとしたため、削除を行いませんでした。', fix: 'バックアップ元のフォルダを確認してください。意図した削除であれば "deletionThreshold" を引き上げてください。' },
    'target-reset': { label: 'バックアップ先の初期化', text: '前回のバックアップの後にバックアップ先が消去または交換されていたため (このジョブの目印がないか別のもの)、すべてのファイルを送り直しました。', fix: '新しいディスクやバケットで始め直したのであれば対応は不要です。そうでなければ正しいディスクが接続されているか確認してください。"onTargetReset": "refuse" にすると送り直さずに止めます。' },
    'io-error': { label: '入出力エラー', text: 'ディスクまたはサーバーのエラーでファイルを保存できませんでした。', fix: 'ディスクやサーバーを確認してください。詳細は `agent show RUN` で確認できます。' },
    'agent-not-running': { label: 'エージェント停止中', text: '予定時刻にバックアップエージェントが動いていませんでした。', fix: '`agent run` を常駐させる (サービスとして登録する) か、"catchUp": true で起動時に実行してください。' },
    'machine-asleep': { label: 'スリープ中', text: '予定時刻にパソコンがスリープしていました (または時計が飛びました)。', fix: 'パソコンが動いている時刻を指定するか、"catchUp": true で復帰時に実行してください。' },
    paused: { label: '一時停止中', text: '予定時刻が一時停止 (停止時間帯、または `agent pause`) の間でした。', fix: '予定を停止時間帯の外にするか、"catchUp": true で停止の終了時に実行してください。' },
    'multiple-errors': { label: '不慮の事態 (複数のエラー)', text: 'この実行で複数の異なる問題が発生しました。', fix: '下記の各原因とファイルの一覧を確認してください。' },
  },
};

export const FILE_STATUS_TEXTS: Record<Language, Record<FileStatus, string>> = {
  en: { uploaded: 'uploaded', unchanged: 'unchanged', deleted: 'deleted', skipped: 'skipped', failed: 'failed', restored: 'restored', filtered: 'left out by filters' },
  ja: { uploaded: 'アップロード', unchanged: '差分なし', deleted: '削除', skipped: 'スキップ', failed: '失敗', restored: '復元', filtered: 'フィルタで除外' },
};

/** `incomplete (network error)` / `未完了 (通信エラー)`; several reasons are listed after the first. */
export function statusLabel(run: { status: RunStatus; reasons: readonly Reason[] }, lang: Language): string {
  const s = RUN_STATUS_TEXTS[lang][run.status]?.label ?? run.status;
  const reasons = run.reasons.filter((r) => r !== 'multiple-errors');
  if (!reasons.length || run.status === 'interrupted') return s;
  const words = reasons.map((r) => REASON_TEXTS[lang][r]?.label ?? r);
  return lang === 'ja' ? `${s} (${words.join('、')})` : `${s} (${words.join(', ')})`;
}

/** A reason's words; an unknown reason (from a newer version) is shown as it is. */
export function reasonText(reason: string, lang: Language): Words & { fix: string } {
  return (REASON_TEXTS[lang] as Record<string, Words & { fix: string }>)[reason] ?? { label: reason, text: reason, fix: '' };
}
