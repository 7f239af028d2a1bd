// A uniform random sample in bounded memory: the restore drill's files per target (drill.ts) draw
// from a stream of unknown length. (The backup's spot check picks during the walk instead, so its
// looks overlap the walk: backup.ts `unchanged`.)

/**
 * A uniform random sample of `k` items from a stream of unknown length, in O(k) memory
 * (Algorithm R: the i-th item replaces a random slot with probability k/i).
 */
export class Reservoir<T> {
  private readonly slots: T[] = [];
  /** Items offered so far. */
  seen = 0;
  constructor(
    readonly k: number,
    private readonly random: () => number = Math.random,
  ) {}

  offer(item: T): void {
    this.seen++;
    if (this.slots.length < this.k) {
      this.slots.push(item);
      return;
    }
    const j = Math.floor(this.random() * this.seen);
    if (j < this.k) this.slots[j] = item;
  }

  get items(): readonly T[] {
    return this.slots;
  }
}
