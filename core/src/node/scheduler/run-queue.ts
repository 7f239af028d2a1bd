/**
 * The daemon's one queue of work that changes what targets or the index hold: scheduled runs,
 * runs of changed files (watch), and the commands people send (`agent backup`, `restore`,
 * `verify`). Entries start in the order of their time (a scheduled run: its scheduled time; a
 * command: when it came), at most `limit` at once (`maxConcurrentJobs`, default 1).
 *
 * A trigger of the daemon's own (schedule, watch, retry) for a job that is already running or
 * waiting is refused (product.md, seed rule: "a trigger for a job already running or waiting is
 * refused and logged"); a command a person typed waits its turn instead, and says so.
 *
 * An entry that only reads a job (a restore drill, `agent verify`, `agent restore`) names it in
 * `reads`: it does not make a backup trigger of that job a duplicate, but it never runs at the same
 * time as an entry that backs up or reads that job (with `maxConcurrentJobs` above 1, an entry of
 * another job may start before it).
 */

export interface QueueEntry {
  readonly seq: number;
  /** The jobs it backs up (none for a restore or verify). */
  readonly jobs: readonly string[];
  /** Jobs it reads (a drill, a restore, a verify): never at the same time as another entry of them. */
  readonly reads?: readonly string[];
  /** Its time in the queue's order (ms since the epoch). */
  readonly at: number;
  /** What it is, in words (`agent backup docs`, `backup docs (scheduled 23:00)`). */
  readonly label: string;
  readonly since: Date;
  state: 'waiting' | 'running';
}

export interface Turn {
  readonly entry: QueueEntry;
  /** Resolves true when the entry may start, false when it was cancelled while waiting. */
  readonly started: Promise<boolean>;
  /** Ends the entry (ran, failed, or gave up waiting): the next may start. */
  release(): void;
}

export class RunQueue {
  private seq = 0;
  private readonly waiting: { entry: QueueEntry; go: (v: boolean) => void }[] = [];
  private readonly running = new Set<QueueEntry>();

  constructor(private limit = 1) {}

  setLimit(n: number): void {
    this.limit = Math.max(1, n);
    this.pump();
  }

  /** Running first, then waiting in the order they will start. */
  entries(): QueueEntry[] {
    return [...this.running, ...this.waiting.map((w) => w.entry)];
  }

  /** The entry, running or waiting, that backs up `job`. */
  holding(job: string): QueueEntry | undefined {
    return this.entries().find((e) => e.jobs.includes(job));
  }

  /**
   * Takes a place. With `refuseDuplicate`, an entry for a job already running or waiting is not
   * queued: the entry that holds it comes back instead.
   */
  enter(o: { jobs?: readonly string[]; reads?: readonly string[]; at?: number; label: string; refuseDuplicate?: boolean }): Turn | { refused: QueueEntry } {
    const jobs = o.jobs ?? [];
    if (o.refuseDuplicate) {
      for (const j of jobs) {
        const held = this.holding(j);
        if (held) return { refused: held };
      }
    }
    const entry: QueueEntry = { seq: ++this.seq, jobs, ...(o.reads?.length ? { reads: o.reads } : {}), at: o.at ?? Date.now(), label: o.label, since: new Date(), state: 'waiting' };
    let go!: (v: boolean) => void;
    const started = new Promise<boolean>((r) => (go = r));
    // After those of an earlier time; among equal times, in the order they came.
    const i = this.waiting.findIndex((w) => w.entry.at > entry.at);
    this.waiting.splice(i < 0 ? this.waiting.length : i, 0, { entry, go });
    let done = false;
    const release = () => {
      if (done) return;
      done = true;
      const w = this.waiting.findIndex((x) => x.entry === entry);
      if (w >= 0) {
        this.waiting.splice(w, 1);
        go(false);
      }
      this.running.delete(entry);
      this.pump();
    };
    this.pump();
    return { entry, started, release };
  }

  private pump(): void {
    for (let i = 0; this.running.size < this.limit && i < this.waiting.length; ) {
      const { entry, go } = this.waiting[i]!;
      // An entry of a job another running entry backs up or reads waits for it (only possible above a limit of 1).
      if (this.clashes(entry)) {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
      entry.state = 'running';
      this.running.add(entry);
      go(true);
    }
  }

  private clashes(entry: QueueEntry): boolean {
    if (!this.running.size) return false;
    const mine = [...entry.jobs, ...(entry.reads ?? [])];
    if (!mine.length) return false;
    for (const r of this.running) for (const j of [...r.jobs, ...(r.reads ?? [])]) if (mine.includes(j)) return true;
    return false;
  }
}
