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
