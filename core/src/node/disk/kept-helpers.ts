/**
 * Helpers worth keeping between runs in a long-lived process (`agent run`): a local target's copy
 * workers, the `sync -f` helper of a disk. A run that ends parks them here instead of stopping them,
 * and the next run that needs one of the same kind takes it: a worker thread's start costs ~50–60 ms
 * and as much CPU, a helper's spawn 10–25 ms of the main thread — at every run of a daemon that
 * backs up a few changed files, a good part of the run. A one-shot process keeps nothing (`park`
 * stops the helper at once). Parked helpers never keep the process alive and are stopped after
 * IDLE_MS unused, or all at once by `keepHelpers(false)`.
 */

/** A parked helper is stopped after this long unused. */
const IDLE_MS = 10 * 60_000;
/** At most this many helpers of one key are kept (jobs running side by side each use their own). */
const PER_KEY = 2;

interface Parked {
  helper: unknown;
  stop: () => void | Promise<void>;
  timer: NodeJS.Timeout;
}

let kept = false;
const parked = new Map<string, Parked[]>();

/** Keep helpers between runs (`agent run`), or not (the default; off again stops the parked ones). */
export function keepHelpers(on: boolean): void {
  kept = on;
  if (on) return;
  const all = [...parked.values()].flat();
  parked.clear();
  for (const p of all) {
    clearTimeout(p.timer);
    void Promise.resolve().then(p.stop).catch(() => undefined);
  }
}

/** Whether this process keeps helpers between runs. */
export function helpersKept(): boolean {
  return kept;
}

/** A parked helper of this key (the most recently parked), now the caller's; undefined when none. */
export function takeHelper<T>(key: string): T | undefined {
  const list = parked.get(key);
  const p = list?.pop();
  if (!p) return undefined;
  if (!list!.length) parked.delete(key);
  clearTimeout(p.timer);
  return p.helper as T;
}

/**
 * A helper its owner is done with: parked for the next run when this process keeps helpers and
 * there is room, else stopped (what `stop` returns is returned, so a one-shot run still waits for it).
 */
export function parkHelper<T>(key: string, helper: T, stop: (h: T) => void | Promise<void>): void | Promise<void> {
  const list = parked.get(key) ?? [];
  if (!kept || list.length >= PER_KEY) return stop(helper);
  const p: Parked = {
    helper,
    stop: () => stop(helper),
    timer: setTimeout(() => {
      const l = parked.get(key);
      const i = l?.indexOf(p) ?? -1;
      if (i >= 0) l!.splice(i, 1);
      if (l && !l.length) parked.delete(key);
      void Promise.resolve().then(p.stop).catch(() => undefined);
    }, IDLE_MS),
  };
  p.timer.unref();
  list.push(p);
  parked.set(key, list);
}
