import { relFromKey, type HeldFile } from '../index/index-store.js';
import { compareRel } from './held.js';

// The index side of a backup's merge: what a target holds for one root, read in the scanner's order.

/** Returned by `HeldCursor.advance` when its buffer ran dry: `await fill()` and ask again. */
export const NEED_MORE = Symbol('need-more');

/**
 * Walks the held entries of one root in step with the scan (both in the same order). Entries come
 * from LevelDB in batches and `advance` is synchronous while the batch lasts, so the no-change run
 * costs no promise per file. Keys are compared as stored; only passed (deleted) ones are decoded.
 */
export class HeldCursor {
  private buf: [string, HeldFile][] = [];
  private i = 0;
  private done = false;
  constructor(private readonly batches: AsyncGenerator<[string, HeldFile][]>) {}

  async fill(): Promise<void> {
    while (this.i >= this.buf.length && !this.done) {
      const n = await this.batches.next();
      if (n.done) this.done = true;
      else {
        this.buf = n.value;
        this.i = 0;
      }
    }
  }

  /** Passes every held path before `rel` to `passed`, and returns what is held at `rel`. */
  advance(rel: string, passed: (rel: string, held: HeldFile) => void): HeldFile | undefined | typeof NEED_MORE {
    for (;;) {
      if (this.i >= this.buf.length) return this.done ? undefined : NEED_MORE;
      const e = this.buf[this.i]!;
      const c = compareRel(e[0], rel);
      if (c > 0) return undefined;
      this.i++;
      if (c === 0) return e[1];
      passed(relFromKey(e[0]), e[1]);
    }
  }

  /**
   * Takes the held entries under `rel/` — right after `rel` in the order, so the cursor stands on
   * them once `advance(rel)` returned. They are in the way of a file at `rel` (a folder the source
   * now has as a file). Costs one character check per file when there are none.
   */
  async takeUnder(rel: string): Promise<[string, HeldFile][]> {
    const out: [string, HeldFile][] = [];
    for (;;) {
      if (this.i >= this.buf.length) {
        if (this.done) return out;
        await this.fill();
        continue;
      }
      const k = this.buf[this.i]![0];
      const c = k.length > rel.length ? k.charCodeAt(rel.length) : -1;
      if ((c !== 0 && c !== 47) || compareRel(k.slice(0, rel.length), rel) !== 0) return out;
      out.push([relFromKey(k), this.buf[this.i++]![1]]);
    }
  }

  /** Whether the next held entry may lie under `rel/` (then `takeUnder` decides); synchronous. */
  mayHoldUnder(rel: string): boolean {
    if (this.i >= this.buf.length) return !this.done;
    const k = this.buf[this.i]![0];
    const c = k.length > rel.length ? k.charCodeAt(rel.length) : -1;
    return c === 0 || c === 47;
  }

  async drain(passed: (rel: string, held: HeldFile) => void): Promise<void> {
    for (;;) {
      await this.fill();
      if (this.i >= this.buf.length) return;
      const e = this.buf[this.i++]!;
      passed(relFromKey(e[0]), e[1]);
    }
  }

  async close(): Promise<void> {
    await this.batches.return(undefined);
  }
}
