import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { HokanError, TargetError, describeError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { JobStore } from './job-store.js';
import { LEASES_PREFIX } from './layout.js';

/**
 * One writer at a time per job and target: a lease on the job's place, after restic's locks. It
 * needs nothing of a store but put, list, get and remove with a consistent listing (local disks,
 * S3 since 2020, Azure, WebDAV), so it holds on servers that ignore conditional writes (s3rver):
 *
 * 1. write `.hokan/leases/ID.json` (who: device, host, process, data folder; since; until);
 * 2. list the leases; forget those whose `until` passed, and take over those of a dead process on
 *    this host (removed, with a line);
 * 3. if another live lease is there, the older one (by `since`, then id) holds: two writers that
 *    each see the other agree on which — the younger removes its own lease and waits or stops.
 *
 * The holder renews its lease while it runs (every third of its lifetime) and removes it at the end.
 * Restores and verifies read without a lease: the journal they read names only what is in place.
 */
export interface LeaseRecord {
  id: string;
  device: string;
  host: string;
  pid: number;
  dataDir: string;
  run: string;
  since: string;
  until: string;
}

/** A lease lives this long unless renewed: a holder killed without a trace blocks others at most this long. */
export const LEASE_TTL_MS = 15 * 60_000;

export interface LeaseOptions {
  device: string;
  dataDir: string;
  run: string;
  logger: Logger;
  /** Wait for a holder to finish (polling) up to this long; 0 = stop at once with the holder named. */
  waitMs?: number;
  ttlMs?: number;
  /** Whether a process of this host is alive (tests replace it). */
  alive?: (pid: number) => boolean;
}

/** The leases this process holds now: one of this process that is not among them was left behind (a run that lost its target). */
const heldHere = new Set<string>();

export class Lease {
  private timer?: NodeJS.Timeout;
  private renewing: Promise<void> = Promise.resolve();
  private constructor(
    private readonly store: JobStore,
    readonly record: LeaseRecord,
    private readonly o: LeaseOptions,
  ) {}

  /** Takes the lease on the job's place, or throws E_TARGET_BUSY naming the holder. */
  static async take(store: JobStore, o: LeaseOptions): Promise<Lease> {
    const ttl = o.ttlMs ?? LEASE_TTL_MS;
    const deadline = Date.now() + (o.waitMs ?? 0);
    for (let attempt = 0; ; attempt++) {
      const now = Date.now();
      const record: LeaseRecord = { id: `${now.toString(36)}-${randomBytes(4).toString('hex')}`, device: o.device, host: hostname(), pid: process.pid, dataDir: o.dataDir, run: o.run, since: new Date(now).toISOString(), until: new Date(now + ttl).toISOString() };
      heldHere.add(record.id); // before it is visible: another run of this process must not take it for left behind
      try {
        await store.putText(leaseKey(record.id), JSON.stringify(record, null, 2));
      } catch (e) {
        heldHere.delete(record.id);
        throw e;
      }
      const holder = await olderLiveLease(store, record, o);
      if (!holder) {
        const lease = new Lease(store, record, o);
        lease.timer = setInterval(() => void lease.renew(), Math.max(1000, ttl / 3));
        lease.timer.unref();
        return lease;
      }
      await store.remove(leaseKey(record.id)).catch(() => undefined);
      heldHere.delete(record.id);
      if (Date.now() >= deadline) {
        throw new HokanError('E_TARGET_BUSY', `another run writes to this job's place on the target: ${describeHolder(holder)}`, {
          hint: `wait for it to finish and run again (or run with --wait); a lease whose holder died expires at ${holder.until}`,
        });
      }
      if (attempt === 0) o.logger.warn({ holder }, `waiting for the run that holds the target: ${describeHolder(holder)}`);
      await new Promise((r) => setTimeout(r, Math.min(2000, Math.max(50, deadline - Date.now()))));
    }
  }

  /** Pushes `until` on while the run lasts (the rewrite is atomic: a put is all or nothing). */
  renew(): Promise<void> {
    this.renewing = this.renewing.then(async () => {
      const ttl = this.o.ttlMs ?? LEASE_TTL_MS;
      this.record.until = new Date(Date.now() + ttl).toISOString();
      try {
        await this.store.putText(leaseKey(this.record.id), JSON.stringify(this.record, null, 2));
      } catch (e) {
        this.o.logger.warn({ err: describeError(e) }, 'could not renew the lease on the target');
      }
    });
    return this.renewing;
  }

  async release(): Promise<void> {
    clearInterval(this.timer);
    heldHere.delete(this.record.id);
    await this.renewing;
    await this.store.remove(leaseKey(this.record.id)).catch((e) => this.o.logger.warn({ err: describeError(e) }, 'could not remove the lease from the target; it expires by itself'));
  }
}

const leaseKey = (id: string) => `${LEASES_PREFIX}${id}.json`;

function describeHolder(h: LeaseRecord): string {
  return `device "${h.device}" (host ${h.host}, process ${h.pid}, data folder ${h.dataDir}), run ${h.run}, since ${h.since}`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The live lease older than ours, if any; expired and dead ones are left out (dead ones of this host removed). */
async function olderLiveLease(store: JobStore, mine: LeaseRecord, o: LeaseOptions): Promise<LeaseRecord | undefined> {
  const alive = o.alive ?? processAlive;
  let holder: LeaseRecord | undefined;
  for await (const obj of store.list(LEASES_PREFIX)) {
    if (obj.key === leaseKey(mine.id) || !obj.key.endsWith('.json')) continue;
    let other: LeaseRecord;
    try {
      other = JSON.parse(await store.getText(obj.key)) as LeaseRecord;
    } catch (e) {
      if (TargetError.isNotFound(e)) continue; // released meanwhile
      // A lease cut short by a crash of the disk or the network: it cannot hold anything.
      o.logger.warn({ file: store.fullKey(obj.key) }, 'an unreadable lease on the target is ignored');
      continue;
    }
    if (Date.parse(other.until) < Date.now()) continue;
    const leftBehind = other.pid === process.pid ? !heldHere.has(other.id) : !alive(other.pid);
    if (other.host === mine.host && leftBehind) {
      o.logger.warn({ holder: other }, `taking over the lease of a process that is gone: ${describeHolder(other)}`);
      await store.remove(obj.key).catch(() => undefined);
      continue;
    }
    const older = other.since < mine.since || (other.since === mine.since && other.id < mine.id);
    if (older && (!holder || other.since < holder.since)) holder = other;
  }
  return holder;
}
