import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parkHelper, takeHelper } from './kept-helpers.js';

/**
 * `sync -f ROOT` (coreutils: syncfs of the disk that holds ROOT) on request, from one long-lived
 * shell: spawning `sync` per flush costs this thread ~25 ms each time (a fork of a big process),
 * a line to a running shell costs nothing. The shell ends when its input does (close, or the agent
 * dying). Linux only; a failure tells the caller to fall back to fsync per file. Shared by
 * target-hdd's durability windows and the restore's (exported from @hokan/core). `take` and
 * `release` keep one between runs of `agent run` (kept-helpers.ts).
 */
export class Syncer {
  private child?: ChildProcess;
  private readonly waiters: Array<(e?: Error) => void> = [];

  constructor(private readonly root: string) {}

  /** A helper for the disk of `root`: one an earlier run parked (`agent run`), or a new one. */
  static take(root: string): Syncer {
    return takeHelper<Syncer>(`syncer ${root}`) ?? new Syncer(root);
  }

  /** Done with it: parked for the next run where this process keeps helpers, else stopped. */
  release(): void {
    if (this.waiters.length || !this.child) return this.close();
    void parkHelper(`syncer ${this.root}`, this, (s) => s.close());
  }

  /** Starts the helper now, so the first `sync` does not pay its spawn. */
  warm(): void {
    this.child ??= this.start();
  }

  sync(): Promise<void> {
    const child = (this.child ??= this.start());
    return new Promise((resolve, reject) => {
      this.waiters.push((e) => (e ? reject(e) : resolve()));
      child.ref(); // a flush in progress keeps the agent alive; an idle helper does not
      child.stdin!.write('\n');
    });
  }

  close(): void {
    this.child?.stdin?.end();
    this.child = undefined;
  }

  private start(): ChildProcess {
    const script = 'while read -r _; do if sync -f "$1" 2>/dev/null; then echo ok; else echo failed; fi; done';
    const child = spawn('/bin/sh', ['-c', script, 'hokan-sync', this.root], { stdio: ['pipe', 'pipe', 'ignore'] });
    const fail = (e: Error) => {
      if (this.child === child) this.child = undefined;
      for (const w of this.waiters.splice(0)) w(e);
    };
    createInterface({ input: child.stdout! }).on('line', (line) => {
      this.waiters.shift()?.(line === 'ok' ? undefined : new Error(`sync -f ${this.root} failed`));
      if (!this.waiters.length) child.unref();
    });
    child.on('error', fail);
    child.on('exit', (code) => fail(new Error(`the sync helper stopped (exit code ${code})`)));
    child.stdin!.on('error', () => undefined); // an exit is reported above
    for (const s of [child.stdin, child.stdout]) (s as unknown as { unref?: () => void }).unref?.();
    child.unref();
    return child;
  }
}
