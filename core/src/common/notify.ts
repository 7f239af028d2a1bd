import type { FileRecord, NotificationEntry, RunRecord } from './model.js';
export type { NotificationEntry };
import type { Logger } from './logger.js';

// Notifications: what a notifier is asked to say (NotifyMessage), the interface a notifier plugin
// implements (Notifier), and the rules of *when* (`on`), which live here in the core so that every
// notifier — mail, Slack, LINE, ntfy — shares them. A notifier only says things; the core decides.

/** What every message carries. */
interface MessageBase {
  /** This machine's name (config `device`). */
  device: string;
  /** When the message was made (ISO). */
  at: string;
  /** Identical alarms the core held back since the last one was sent (coalesced). */
  coalesced?: number;
}

/** A finished run: a failure (`on: failure`, the default) or a success (`on: success`). */
export interface RunMessage extends MessageBase {
  kind: 'run';
  rule: 'failure' | 'success';
  run: RunRecord;
  /** The first failed or skipped files (at most 20), with their reasons. */
  failedFiles: FileRecord[];
  /** How many files failed or were skipped in all. */
  failedTotal: number;
  /** Every failed or skipped file, read on demand (for an attachment). */
  allFailedFiles(): AsyncIterable<FileRecord>;
  /** The job's stale alarm was on and this completed run ends it ("back to normal"). */
  recovered?: { days: number };
}

/** No `completed` backup of a job for `days` days (`on: stale:Nd`), repeated once a day until fixed. */
export interface StaleMessage extends MessageBase {
  kind: 'stale';
  job: string;
  /** The N of `stale:Nd`. */
  days: number;
  /** The last completed backup (ISO), if there ever was one. */
  lastCompleted?: string;
  /** Whole days since it (or since the job was first seen). */
  daysSince: number;
  /** The newest run of the job, whatever its status (what went wrong). */
  lastRun?: RunRecord;
  /** 1 for the first alarm, 2 for the first daily repeat, … */
  repeat: number;
  /**
   * A rotated disk (`"rotate": true`) that has had no completed backup for `days` days — the job's
   * other disk may be fine (issue 24). `lastCompleted` and `daysSince` are then this disk's.
   */
  disk?: RotatedDisk;
}

/** A disk of a rotation, as alarms name it. */
export interface RotatedDisk {
  target: string;
  /** The disk's instance id (shown by its first 8 characters, as `agent status` does). */
  id: string;
  /** Whether it is the disk the job's newest run wrote to. */
  inUse: boolean;
  /** Its newest backup run, whatever its status. */
  lastRun?: { id: string; start: string; status: string };
}

/** A job whose stale alarm was on completed a backup again ("back to normal"), when no run mail says it. */
export interface RecoveredMessage extends MessageBase {
  kind: 'recovered';
  job: string;
  run: RunRecord;
  /** How long it had gone without a completed backup when the alarm went off. */
  days: number;
  /** A rotated disk's alarm that ended (the disk got a completed backup again). */
  disk?: RotatedDisk;
}

/** Space used per target, on the first run of the month (`on: monthly`). */
export interface UsageMessage extends MessageBase {
  kind: 'usage';
  /** `YYYY/MM` of the month reported. */
  month: string;
  /** `held`: bytes of the backups hokan keeps there (newest versions and generations, from the index), `files` of them; `used`/`free`: what the target itself says. */
  targets: { id: string; type: string; held?: number; files?: number; used?: number; free?: number; error?: string }[];
}

/** `agent notify test`. */
export interface TestMessage extends MessageBase {
  kind: 'test';
}

/** Several run messages of one batch (`digest: true`). */
export interface DigestMessage extends MessageBase {
  kind: 'digest';
  runs: RunMessage[];
}

export type NotifyMessage = RunMessage | StaleMessage | RecoveredMessage | UsageMessage | TestMessage | DigestMessage;

/** What the server said when it took a message (shown by `agent notify test`, kept on the run). */
export interface NotifyReceipt {
  /** The server's answer, e.g. `250 2.0.0 OK queued as 1234`. */
  response?: string;
  messageId?: string;
  /** Recipients the server refused (the others got it). */
  rejected?: string[];
}

/**
 * A notifier: built by a plugin's `NotifierContribution.create` from one `notify` entry. It says
 * what it is given; it never decides when (the core does) and never retries (the core does, for
 * errors not marked `permanent`).
 */
export interface Notifier extends Partial<AsyncDisposable> {
  send(message: NotifyMessage): Promise<NotifyReceipt | void>;
  /** Sends a test message with the current settings (`agent notify test`); resolves with the server's answer. */
  test(message: TestMessage): Promise<NotifyReceipt | void>;
}

export interface NotifierContext {
  /** The notifier's id (its `id`, else its type, numbered when several share one). */
  id: string;
  logger: Logger;
  dataDir: string;
}

/**
 * Marks an error a retry cannot fix (a wrong password, a refused recipient, an unknown host): the
 * core then records it at once instead of retrying.
 */
export function permanentNotifyError<E extends Error>(e: E): E & { permanent: true } {
  return Object.assign(e, { permanent: true as const });
}

export function isPermanentNotifyError(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { permanent?: unknown }).permanent === true;
}

// ---- the rules of when ----------------------------------------------------------------------

export interface NotifyRules {
  failure: boolean;
  success: boolean;
  /** `stale:Nd`: N days without a completed backup. */
  staleDays?: number;
  /** `monthly` (alias `usage`): space used per target, on the first run of the month. */
  monthly: boolean;
}

export const ON_PATTERN = '^(failure|success|monthly|usage|stale:[1-9][0-9]{0,3}d)$';

/** `on` as written in config.json → the rules. Default: `["failure"]`. Throws an Error naming a bad entry. */
export function parseOn(on: readonly string[] | undefined): NotifyRules {
  const rules: NotifyRules = { failure: false, success: false, monthly: false };
  for (const o of on ?? ['failure']) {
    const stale = /^stale:([1-9][0-9]{0,3})d$/.exec(o);
    if (stale) rules.staleDays = Number(stale[1]);
    else if (o === 'failure') rules.failure = true;
    else if (o === 'success') rules.success = true;
    else if (o === 'monthly' || o === 'usage') rules.monthly = true;
    else throw new Error(`unknown "on" value ${JSON.stringify(o)}: expected "failure", "success", "monthly" or "stale:Nd" (N days, e.g. "stale:3d")`);
  }
  return rules;
}

/** Which rule, if any, makes a finished run worth a message. Dry runs and runs still going are not. */
export function runRule(rules: NotifyRules, run: Pick<RunRecord, 'status'>): 'failure' | 'success' | undefined {
  if (run.status === 'running' || run.status === 'waiting') return undefined;
  if (run.status === 'completed') return rules.success ? 'success' : undefined;
  return rules.failure ? 'failure' : undefined;
}

/** What makes two alarms "the same" (coalesced when one was sent a short while ago). */
export function alarmKey(run: Pick<RunRecord, 'job' | 'kind' | 'status' | 'reasons'>): string {
  return `${run.kind}|${run.job}|${run.status}|${[...run.reasons].sort().join(',')}`;
}

const DAY_MS = 24 * 3600_000;

/**
 * Whole days a job has gone without a completed backup, counted from `since` (its last completed
 * backup, else when hokan first saw the job).
 */
export function daysWithout(since: string | number | Date, now: Date): number {
  return Math.floor((now.getTime() - new Date(since).getTime()) / DAY_MS);
}

/** Whether a stale alarm is due now: stale, and none sent in the last day. */
export function staleDue(state: { lastAlarm?: string } | undefined, stale: boolean, now: Date): boolean {
  if (!stale) return false;
  return !state?.lastAlarm || now.getTime() - new Date(state.lastAlarm).getTime() >= DAY_MS - 10 * 60_000;
}
