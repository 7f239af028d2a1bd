/** VS Code-style disposables: everything that registers something hands back a way to undo it. */
export interface Disposable {
  dispose(): void | Promise<void>;
}

export const Disposable = {
  create(fn: () => void | Promise<void>): Disposable {
    let done = false;
    return {
      dispose() {
        if (done) return;
        done = true;
        return fn();
      },
    };
  },
  NULL: { dispose() {} } as Disposable,
};

/** Collects disposables and disposes them in reverse order of registration. */
export class DisposableCollection implements Disposable {
  private readonly items: Disposable[] = [];

  push(...d: Disposable[]): Disposable {
    this.items.push(...d);
    return Disposable.create(() => {
      for (const x of d) {
        const i = this.items.indexOf(x);
        if (i >= 0) this.items.splice(i, 1);
      }
    });
  }

  get disposed(): boolean {
    return this.items.length === 0;
  }

  async dispose(): Promise<void> {
    const errors: unknown[] = [];
    while (this.items.length) {
      const d = this.items.pop()!;
      try {
        await d.dispose();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, 'several disposables failed');
  }
}
