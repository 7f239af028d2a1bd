import { ContainerModule, definePlugin, PresetContribution } from '@hokan/core';
import { loadPresetData, type PresetSpec } from './preset-data.js';
import { resolvePreset } from './preset-resolver.js';

/**
 * The category presets ("leave it to us" backup, seed 002 §5.1): each is a JSON file in
 * `presets/`, resolved on this machine from the OS's own user folders (user-folders.ts).
 * `agent presets list|show` (a core command) lists them with every other preset.
 */
export { loadPresetData, extensionsOf, checkPreset, PRESET_DIR, type PresetSpec, type PresetDefaults } from './preset-data.js';
export { resolvePreset, expandTemplate } from './preset-resolver.js';
export { userFolders, parseUserDirs, expandWindowsVars, type UserFolders, type FolderInput } from './user-folders.js';
export { decodeRegOutput, parseRegQuery } from './windows-registry.js';

function contribution(spec: PresetSpec, defaults: ReturnType<typeof loadPresetData>['defaults']): PresetContribution {
  return {
    name: spec.name,
    title: spec.title.en,
    titles: spec.title,
    description: spec.description.en,
    resolve: (env) => resolvePreset(spec, defaults, env),
  };
}

export default definePlugin({
  id: 'category-presets',
  apiVersion: 1,
  module: new ContainerModule(({ bind }) => {
    const { presets, defaults } = loadPresetData();
    for (const spec of presets) bind(PresetContribution).toConstantValue(contribution(spec, defaults));
  }),
});
