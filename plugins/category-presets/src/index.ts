import { CommandContribution, ContainerModule, definePlugin, HokanError, PresetContribution } from '@hokan/core';

/**
 * The category presets ("automatic backup"). Their names are in the manifest so config validation
 * knows them; resolving one, or `agent presets`, says plainly that it is not implemented yet.
 */
const PRESETS: [string, string][] = [
  ['documents', 'Documents'],
  ['desktop', 'Desktop'],
  ['pictures', 'Pictures'],
  ['music', 'Music'],
  ['videos', 'Videos'],
  ['office', 'Office files'],
  ['finance', 'Finance'],
  ['ebooks', 'E-books/PDF'],
  ['mail', 'Mail'],
  ['bookmarks', 'Bookmarks'],
];

function notImplemented(what: string): never {
  throw new HokanError('E_NOT_IMPLEMENTED', `${what} (@hokan/category-presets) is not implemented yet`, {
    hint: 'use { "path": "~/Documents" } sources for now',
  });
}

const presetsCommand: CommandContribution = {
  command: 'presets [name]',
  describe: 'List the category presets and what each one backs up',
  async handler() {
    notImplemented("the command 'presets'");
  },
};

export default definePlugin({
  id: 'category-presets',
  apiVersion: 1,
  module: new ContainerModule(({ bind }) => {
    for (const [name, title] of PRESETS) {
      bind(PresetContribution).toConstantValue({ name, title, resolve: () => notImplemented(`preset '${name}'`) } satisfies PresetContribution);
    }
    bind(CommandContribution).toConstantValue(presetsCommand);
  }),
});
