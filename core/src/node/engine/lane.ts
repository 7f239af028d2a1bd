import type { FileEntry } from '../../common/model.js';
import type { HeldFile, IndexOp } from '../index/index-store.js';
import type { TargetSession } from './target-session.js';

// One target's share of a backup run: its transfers in flight (bounded by its maxConnections), the
// files waiting for their durability window, its deletion candidates and its retry list.

export interface Candidate {
  root: string;
  rel: string;
  held: HeldFile;
}

/** Per target bookkeeping of one backup run. */
export class Lane {
  readonly inflight = new Set<Promise<void>>();
  /** Who waits for a free slot (not Promise.race: it would subscribe to every transfer, per file). */
  private readonly slotWaiters: (() => void)[] = [];
  async slot(cap: number): Promise<void> {
    while (this.inflight.size >= cap) await new Promise<void>((r) => this.slotWaiters.push(r));
  }
  done(p: Promise<void>): void {
    this.inflight.delete(p);
    this.slotWaiters.shift()?.();
  }
  /** Files put and waiting for their window to be flushed and recorded (deferred durability). */
  unsettled = 0;
  private settleWaiters: (() => void)[] = [];
  settledOne(): void {
    if (--this.unsettled === 0) for (const wake of this.settleWaiters.splice(0)) wake();
  }
  /** Resolves when every file put so far is recorded. */
  async allSettled(): Promise<void> {
    while (this.unsettled > 0) await new Promise<void>((r) => this.settleWaiters.push(r));
  }
  readonly candidates: Candidate[] = [];
  candidateCount = 0;
  /** Held folders gone from the source: they go with the files (not counted against the deletion threshold). */
  readonly folderCandidates: Candidate[] = [];
  /** Files deleted at the source longer ago than `keepDeletedDays`: their versions go after the scan. */
  readonly expired: Candidate[] = [];
  heldFiles = 0;
  /** Unchanged files the spot check looked up here, and those it found missing or damaged (their keys). */
  spotChecked = 0;
  readonly spotBad: string[] = [];
  readonly retryLater: { entry: FileEntry }[] = [];
  refresh: IndexOp[] = [];
  constructor(readonly s: TargetSession) {}
}
