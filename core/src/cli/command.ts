import { UsageError } from '../common/errors.js';
import type { CommandContribution } from '../common/plugin-api.js';

/**
 * A built-in command: the same shape as a plugin's CommandContribution, plus optional
 * subcommands (`config validate`, `config show`). Keep each in its own small module under
 * `commands/` and import heavy modules inside the handler, never at the top.
 */
export interface BuiltinCommand extends Omit<CommandContribution, 'handler'> {
  handler?: CommandContribution['handler'];
  subcommands?: BuiltinCommand[];
}

/** `--page N` of a paged listing: a whole number from 1, else bad usage. */
export function pageOption(items: string) {
  return {
    type: 'number' as const,
    default: 1,
    describe: `Page (100 ${items} a page)`,
    coerce: (v: unknown) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new UsageError(`--page must be a whole number from 1, not ${Number.isNaN(n) ? 'a word' : String(v)}`, { hint: 'pages start at 1' });
      return n;
    },
  };
}
