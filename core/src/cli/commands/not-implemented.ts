import { HokanError } from '../../common/errors.js';
import type { BuiltinCommand } from '../command.js';

function notImplemented(what: string, issue: string): never {
  throw new HokanError('E_NOT_IMPLEMENTED', `'agent ${what}' is not implemented yet`, { hint: `it arrives with ${issue}` });
}

export const notifyCommand: BuiltinCommand = {
  command: 'notify',
  describe: 'Notifiers',
  subcommands: [
    {
      command: 'test [id]',
      describe: 'Send a test message through a notifier (not implemented yet)',
      builder: (y) => y.positional('id', { type: 'string', describe: 'The notifier\'s id (default: all)' }),
      handler: async () => notImplemented('notify test', 'the notifiers'),
    },
  ],
};
