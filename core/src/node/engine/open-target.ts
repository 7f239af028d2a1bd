import { randomBytes } from 'node:crypto';
import { HokanError, TargetError, UsageError, describeError } from '../../common/errors.js';
import type { JobConfig } from '../../common/config-types.js';
import type { Logger } from '../../common/logger.js';
import type { Target } from '../../common/target.js';
import type { IndexStore, TargetState } from '../index/index-store.js';
import { targetFingerprint, type EngineDeps } from './deps.js';
import { JobStore, closeTarget } from './job-store.js';
import { HEAD_KEY, LAYOUT_FORMAT, MARKER_KEY, type JobHead, type OwnerMarker } from './layout.js';
import { importRunRecords, rebuildFromTarget } from './manifests.js';

// Opening a job's place on a target, shared by every operation: who owns it (the marker), and an
// index that knows what it holds (rebuilt from the target when it does not).

/** A job's target opened, checked and indexed, for reading. */
export interface OpenedJobTarget {
  id: string;
  target: Target;
  store: JobStore;
  /** The first run the place holds (its marker's `since`): older runs are not on it. */
  since?: string;
}

/** Opens the target a restore (or `versions`, `verify`) reads from: the one asked for, else the first that answers. */
export async function openForReading(deps: EngineDeps, job: JobConfig, targetId: string | undefined): Promise<OpenedJobTarget> {
  const ids = targetId ? [targetId] : job.targets;
  if (targetId && !job.targets.includes(targetId)) throw new UsageError(`job "${job.id}" has no target "${targetId}"`, { hint: `its targets: ${job.targets.join(', ')}` });
  const errors: string[] = [];
  for (const id of ids) {
    let target: Target | undefined;
    try {
      target = await deps.openTarget(id);
      const store = new JobStore(target, job.id);
      const markerText = await checkAndReadMarker(target, store);
      // Wiped or replaced since the index last saw it: what the index believes is there is not.
      // Gone: said, and left for the next backup to heal (it needs to know). Another instance (a
      // replaced disk with a backup of its own): the index is rebuilt from what that one holds.
      const { reset, marker: found, text } = await detectReset(deps.index, markerText, job.id, id, targetFingerprint(deps.config, id), deps.config.targets[id]?.rotate === true);
      if (reset && found !== 'missing') await deps.index.forgetPlace(job.id, id);
      const marker = await ensureOwner(store, deps.config.device, job.id, false, { text });
      if (!marker && (reset || !(await deps.index.getTargetState(job.id, id)))) {
        throw new TargetError('not-found', `target "${id}" holds no backup of job "${job.id}"${reset ? ' any more: it was wiped or replaced since the last backup' : ' yet'}`, {
          hint: reset ? 'restore from another target of the job (--target), or plug in the disk that holds the backup' : 'run `agent backup` first, or check the target settings',
        });
      }
      await ensureIndexed(deps.index, store, job.id, id, targetFingerprint(deps.config, id), deps.logger);
      return { id, target, store, since: marker?.since };
    } catch (e) {
      await closeTarget(target);
      errors.push(`${id}: ${describeError(e)}`);
      if (targetId) throw e;
    }
  }
  throw new HokanError('E_NO_TARGET', `no target of job "${job.id}" can be read:\n  ${errors.join('\n  ')}`, { hint: 'plug in the disk or check the network, or name another target with --target' });
}

/** The owner marker's text on the target, or undefined when there is none. */
async function readMarkerText(store: JobStore): Promise<string | undefined> {
  try {
    return await store.getText(MARKER_KEY);
  } catch (e) {
    if (TargetError.isNotFound(e)) return undefined;
    throw e;
  }
}

/**
 * The target's own check and the one read of the job's marker, side by side (one round trip less
 * per run on a remote target). The check's error wins: it says what is wrong with the place (not
 * mounted, wrong key), where the marker's read would only fail after it.
 */
export async function checkAndReadMarker(target: Target, store: JobStore): Promise<string | undefined> {
  const [checked, text] = await Promise.allSettled([target.check(), readMarkerText(store)]);
  if (checked.status === 'rejected') throw checked.reason;
  // The check may have made the place (createContainer, createBucket, a WebDAV root): read again after it.
  return text.status === 'fulfilled' ? text.value : readMarkerText(store);
}

/** The marker in a text: read, or damaged (not JSON with a device and a job). */
function parseMarker(text: string): OwnerMarker | 'damaged' {
  try {
    const m = JSON.parse(text) as OwnerMarker;
    return typeof m.device === 'string' && typeof m.job === 'string' ? m : 'damaged';
  } catch {
    return 'damaged';
  }
}

/**
 * Whether the place was wiped or replaced since this index last saw it (issue 24): the index holds
 * state for it, but the marker is gone, or names another instance. Its held state is then false —
 * files it believes stored are not — so it is forgotten, and the run sends everything again (or
 * refuses, with `onTargetReset: "refuse"`). A damaged marker is not a reset (ensureOwner says so).
 * `text`: the marker as read (checkAndReadMarker), undefined when there is none.
 */
export async function detectReset(
  index: IndexStore,
  text: string | undefined,
  job: string,
  targetId: string,
  fingerprint: string,
  rotate = false,
): Promise<{ reset: boolean; marker: OwnerMarker | 'missing' | 'damaged'; text: string | undefined; rotated?: RotatedIn }> {
  const state = await index.getTargetState(job, targetId);
  const marker: OwnerMarker | 'missing' | 'damaged' = text === undefined ? 'missing' : parseMarker(text);
  const result = (reset: boolean, rotated?: RotatedIn) => ({ reset, marker, text, rotated });
  // Another place in the settings (a new path or bucket): not a reset — ensureCurrent starts afresh.
  if (!state || state.fingerprint !== fingerprint || marker === 'damaged') return result(false);
  const other = marker === 'missing' || !!(state.instance && marker.instance && state.instance !== marker.instance);
  if (!other) return result(false);
  if (!rotate) return result(true);
  // Rotated disks: another disk of the rotation (or a new one) is in. What this index knows of the
  // disk that was is parked under TARGET@INSTANCE; what it knew of this one, if anything, comes back.
  const instance = marker === 'missing' ? undefined : marker.instance;
  await index.movePlace(job, targetId, `${targetId}@${state.instance ?? 'earlier'}`);
  const known = instance !== undefined && (await index.getTargetState(job, `${targetId}@${instance}`)) !== undefined;
  if (known) await index.movePlace(job, `${targetId}@${instance}`, targetId);
  return result(false, { from: state.instance, to: instance, known });
}

/** A rotated disk came in (`"rotate": true`): the one that was, this one (none: a new disk), and whether this index knew it. */
export interface RotatedIn {
  from?: string;
  to?: string;
  known: boolean;
}

/** Marks the index's state for the place with the place's instance, once known. */
export async function noteInstance(index: IndexStore, job: string, targetId: string, state: TargetState, instance: string | undefined): Promise<TargetState> {
  if (!instance || state.instance === instance) return state;
  const next = { ...state, instance };
  await index.batch([index.targetStateOp(job, targetId, next)]);
  return next;
}

/**
 * Reads the owner marker; writes it on first use; refuses a place another device or job owns.
 * `run`: the run that writes (stamped as the marker's `since`). `claim: false` checks without
 * writing: a backup checks before it takes the place's lease and writes the marker only under it
 * (TargetSession.prepare calls this again), so two runs starting together cannot both write one.
 */
export async function ensureOwner(store: JobStore, device: string, job: string, write: boolean, known?: { text: string | undefined }, run?: string, claim = true): Promise<OwnerMarker | undefined> {
  let marker: OwnerMarker | undefined;
  const text = known ? known.text : await readMarkerText(store);
  if (text !== undefined) {
    try {
      marker = JSON.parse(text) as OwnerMarker;
      if (typeof marker.device !== 'string' || typeof marker.job !== 'string') throw new Error('no device or job in it');
    } catch (e) {
      const file = store.fullKey(MARKER_KEY);
      // Reading goes on (the journals say what the place holds); writing needs to know the owner.
      if (!write) return undefined;
      throw new HokanError('E_MARKER_DAMAGED', `the owner marker ${file} on the target is damaged (${(e as Error).message}): hokan cannot tell whose backup this place holds`, {
        hint: `if this place holds the backup of job "${job}" from device "${device}", delete ${file} and run again (hokan writes a new one); otherwise give the job another target path or prefix`,
      });
    }
  }
  if (marker) {
    const format = typeof marker.format === 'number' ? marker.format : 1;
    if (format > LAYOUT_FORMAT) {
      throw new HokanError('E_LAYOUT_NEWER', `this place on the target (${store.fullKey(MARKER_KEY)}) was written by a newer hokan (layout ${format}; this one knows up to ${LAYOUT_FORMAT})`, {
        hint: 'update hokan on this machine; nothing was changed on the target',
      });
    }
    store.format = format;
  }
  if (!marker) {
    if (!write || !claim) return undefined;
    marker = { format: LAYOUT_FORMAT, device, job, created: new Date().toISOString(), instance: newInstanceId(), ...(run ? { since: run } : {}) };
    await store.putText(MARKER_KEY, JSON.stringify(marker, null, 2));
    return marker;
  }
  if (write && (marker.device !== device || marker.job !== job)) {
    throw new HokanError(
      'E_TARGET_OWNED',
      `this place on the target already holds the backup of job "${marker.job}" from device "${marker.device}" (since ${marker.created}); hokan will not mix a second owner into it`,
      { hint: `give this job another target path or prefix; if this machine replaces "${marker.device}", set "device": "${marker.device}" in config.json` },
    );
  }
  if (write && claim && !marker.instance) {
    // A marker from before instances: it gets one (the put is atomic), so a later reset is seen.
    marker = { ...marker, instance: newInstanceId() };
    await store.putText(MARKER_KEY, JSON.stringify(marker, null, 2));
  }
  return marker;
}

function newInstanceId(): string {
  return randomBytes(8).toString('hex');
}

/** Makes sure the index knows what the target holds for the job, rebuilding it from the target if not. */
export async function ensureIndexed(index: IndexStore, store: JobStore, job: string, targetId: string, fingerprint: string, logger: Logger): Promise<TargetState> {
  return (await ensureCurrent(index, store, job, targetId, fingerprint, logger)).state;
}

/**
 * Makes sure the index is current for the job's place on the target before anything acts on it:
 * rebuilt from the target when it holds nothing for it (a new machine, a deleted index) or when the
 * target's settings changed, and brought up to date when the head says someone else wrote since
 * (another data folder or machine). `caughtUp` is that head, for the run to say so.
 */
export async function ensureCurrent(index: IndexStore, store: JobStore, job: string, targetId: string, fingerprint: string, logger: Logger): Promise<{ state: TargetState; caughtUp?: JobHead; firstLook: boolean }> {
  let state = await index.getTargetState(job, targetId);
  // This index never backed up to the place as it is set now: what it knows of it is only what it reads there.
  const firstLook = !state || state.fingerprint !== fingerprint;
  const head = await readHead(store, logger);
  if (state && state.fingerprint !== fingerprint) {
    logger.info({ job, target: targetId }, 'target settings changed: rebuilding the index from what the target holds');
    await index.clearHeld(job, targetId);
    state = undefined;
  }
  let caughtUp: JobHead | undefined;
  if (state && head && !sameHead(state, head) && sameChange(state, head)) {
    // Runs that changed nothing since (another data folder's no-change runs): the held state is
    // current; their run records are taken for the history (every one this index lacks).
    await importRunRecords(index, store, logger);
    state = { ...state, headSeq: head.seq, headRun: head.run };
    await index.batch([index.targetStateOp(job, targetId, state)]);
    return { state, firstLook };
  }
  if (state && head !== undefined && (head === null || !sameHead(state, head))) {
    // Another writer moved the place on: this index's view is stale, and acting on it could
    // overwrite what that writer kept. Rebuild it from the target's own records.
    caughtUp = head ?? undefined;
    logger.info({ job, target: targetId, head }, 'the target moved on since this index last saw it: bringing the index up to date from the target');
    await index.clearHeld(job, targetId);
    state = undefined;
  }
  if (!state) {
    state = await rebuildFromTarget(index, store, job, targetId, fingerprint, logger);
    if (head) {
      state.headSeq = head.seq;
      state.changeSeq = head.changeSeq;
      state.headRun = head.run;
      if (head.changeRun) state.changeRun = head.changeRun;
      await index.batch([index.targetStateOp(job, targetId, state)]);
    }
  }
  return { state, caughtUp, firstLook };
}

/**
 * Whether the head is the one this index last wrote or read. A wiped place numbers its heads from 1
 * again (the data folder that wrote there after the wipe never saw the old numbers), so the number
 * alone can match the one an index saw before the wipe: the run that wrote the head must match too
 * (when the index recorded it: indexes from before `headRun` compare numbers only).
 */
function sameHead(state: TargetState, head: JobHead): boolean {
  return head.seq === state.headSeq && (state.headRun === undefined || head.run === state.headRun);
}

/** Whether the place's last change is the one this index saw (numbered, and by the same run when both say which). A head from before `changeRun` is not trusted against an index that has one. */
function sameChange(state: TargetState, head: JobHead): boolean {
  return head.changeSeq === state.changeSeq && (state.changeRun === undefined || head.changeRun === state.changeRun);
}

/** The job's head on the target: undefined when there is none yet, null when it cannot be read (damaged). */
export async function readHead(store: JobStore, logger: Logger): Promise<JobHead | null | undefined> {
  let text: string;
  try {
    text = await store.getText(HEAD_KEY);
  } catch (e) {
    if (TargetError.isNotFound(e)) return undefined;
    throw e;
  }
  try {
    const head = JSON.parse(text) as JobHead;
    if (typeof head.seq !== 'number') throw new Error('no sequence number');
    return head;
  } catch (e) {
    logger.warn({ file: store.fullKey(HEAD_KEY), err: String(e) }, `the head ${store.fullKey(HEAD_KEY)} on the target is damaged: the index is rebuilt from the target's journals, and the next backup writes a new head`);
    return null;
  }
}

/** Writes the job's head (atomically: a put is all or nothing on every target). */
export async function writeHead(store: JobStore, head: JobHead): Promise<void> {
  await store.putText(HEAD_KEY, JSON.stringify(head, null, 2));
}
