/**
 * The daemon's one queue of work that changes what targets or the index hold: scheduled runs,
 * runs of changed files (watch), and the commands people send (`agent backup`, `restore`,
 * `verify`). Entries start in the order of their time (a scheduled run: its scheduled time; a
 * command: when it came), at most `limit` at once (`maxConcurrentJobs`, default 1).
 *
 * A trigger of the daemon's own (schedule, watch, retry) for a job that is already running or
 * waiting is refused (product.md, seed rule: "a trigger for a job already running or waiting is
 * refused and logged"); a command a person typed waits its turn instead, and says so.
 */

export interface QueueEntry {
  readonly seq: number;
  /** The jobs it backs up (none for a restore or verify). */
  readonly jobs: readonly string[];
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
  enter(o: { jobs?: readonly string[]; at?: number; label: string; refuseDuplicate?: boolean }): Turn | { refused: QueueEntry } {
    const jobs = o.jobs ?? [];
    if (o.refuseDuplicate) {
      for (const j of jobs) {
        const held = this.holding(j);
        if (held) return { refused: held };
      }
    }
    const entry: QueueEntry = { seq: ++this.seq, jobs, at: o.at ?? Date.now(), label: o.label, since: new Date(), state: 'waiting' };
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
    while (this.running.size < this.limit && this.waiting.length) {
      const { entry, go } = this.waiting.shift()!;
      entry.state = 'running';
      this.running.add(entry);
      go(true);
    }
  }
}
