import { assembleSchema, coreSchemaParts } from './config-schema.js';
import { BUILTIN_PLUGINS, CORE_ROOT, PluginHost } from '../plugins/plugin-host.js';

/**
 * The JSON Schema checked in as `config/schema.json`: the core's keys plus the schemas the six
 * built-in plugins' manifests name. `scripts/gen-schema.mjs` writes it; a test fails when the
 * checked-in file differs.
 */
export function builtinConfigSchema(): { schema: Record<string, unknown>; warnings: string[]; text: string } {
  const warnings: string[] = [];
  const host = PluginHost.discover([...BUILTIN_PLUGINS], CORE_ROOT);
  for (const p of host.problems) warnings.push(p.error.message);
  const schema = assembleSchema(host.schemaContributions({ warn: (m) => warnings.push(m) }));
  return { schema, warnings, text: JSON.stringify(schema, null, 2) + '\n' };
}

/** The text of `core/schema/core-schema.json`: the core's part, read by the config loader at run time. */
export function coreSchemaText(): string {
  return JSON.stringify(coreSchemaParts(), null, 2) + '\n';
}
