/**
 * A --json document whose list is too long to hold: `{ "files": [ …each item as it comes… ], "run": … }`,
 * formatted as `printJson` formats a whole one (two-space indents). The first `holdUpTo` items are
 * held and, if that is all, printed as one document in the command's usual key order; past that,
 * they go out as they come (a restore of a million files holds no million records).
 */
import type { CliOutput } from './output.js';

const indent = (text: string, pad: string) => text.split('\n').join('\n' + pad);

export class JsonListDocument<T> {
  private held: T[] | undefined = [];
  private chunk = '';

  constructor(
    private readonly out: CliOutput,
    private readonly listKey: string,
    private readonly holdUpTo = 1000,
  ) {}

  add(item: T): void {
    if (this.held) {
      this.held.push(item);
      if (this.held.length <= this.holdUpTo) return;
      const items = this.held;
      this.held = undefined;
      this.chunk = `{\n  ${JSON.stringify(this.listKey)}: [`;
      items.forEach((it, i) => this.append(it, i === 0));
      return;
    }
    this.append(item, false);
  }

  private append(item: T, first: boolean): void {
    this.chunk += `${first ? '' : ','}\n    ${indent(JSON.stringify(item, null, 2), '    ')}`;
    if (this.chunk.length >= 64 * 1024) this.send();
  }

  private send(): void {
    // Not awaited: on Linux a one-shot command's stdout (file or pipe) is written synchronously;
    // through `agent run` the relay takes it in order.
    void this.out.write(this.chunk);
    this.chunk = '';
  }

  /** Ends the document with the other keys (before the list when it was held: the usual order). */
  finish(rest: Record<string, unknown>): void {
    if (this.held) {
      this.out.printJson({ ...rest, [this.listKey]: this.held });
      return;
    }
    this.chunk += '\n  ]';
    for (const [k, v] of Object.entries(rest)) this.chunk += `,\n  ${JSON.stringify(k)}: ${indent(JSON.stringify(v, null, 2), '  ')}`;
    this.chunk += '\n}\n';
    this.send();
  }
}
