import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Assembles config.json's JSON Schema from the core's part and the plugins' parts. Deliberately
 * free of TypeBox: at run time the core's part is read from `core/schema/core-schema.json`, which
 * `scripts/gen-schema.mjs` writes from the TypeBox source in `config-schema.ts` (a test fails when
 * it is stale) — importing TypeBox costs more start-up time than `config validate` can spend.
 */

export type { ContributedType, SchemaContributions } from '../plugins/schema-contributions.js';
import type { ContributedType, SchemaContributions } from '../plugins/schema-contributions.js';

export interface CoreSchemaParts {
  config: Record<string, any>;
  targetBase: Record<string, any>;
  notifierBase: Record<string, any>;
  idPattern: string;
}

export const CORE_SCHEMA_FILE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'schema', 'core-schema.json');

/** The core's schema parts as generated from the TypeBox source. */
export function readCoreSchemaParts(): CoreSchemaParts {
  return JSON.parse(readFileSync(CORE_SCHEMA_FILE, 'utf8')) as CoreSchemaParts;
}

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

/** Strips `$schema`/`$id` from a contributed schema and adds the keys every entry has. */
function branch(base: Record<string, unknown>, t: ContributedType): Record<string, unknown> {
  const { $schema: _s, $id: _i, ...schema } = (t.schema ?? {}) as Record<string, unknown>;
  const props = { ...((schema.properties as Record<string, unknown>) ?? {}) };
  for (const [k, v] of Object.entries(base)) if (!(k in props)) props[k] = v;
  props.type = { const: t.type };
  return { ...schema, type: 'object', properties: props };
}

function entrySchema(list: ContributedType[], baseSchema: Record<string, any>): Record<string, unknown> {
  const sorted = [...list].sort((a, b) => a.type.localeCompare(b.type));
  const typeProp = sorted.length
    ? { type: 'string', enum: sorted.map((t) => t.type), description: `One of: ${sorted.map((t) => `${t.type} (${t.plugin})`).join(', ')}.` }
    : { type: 'string' };
  const base = clone(baseSchema);
  return {
    ...base,
    type: 'object',
    required: ['type'],
    properties: { ...base.properties, type: typeProp },
    additionalProperties: true,
    allOf: sorted.filter((t) => t.schema).map((t) => ({ if: { properties: { type: { const: t.type } }, required: ['type'] }, then: branch(base.properties, t) })),
  };
}

/** One JSON Schema for config.json: the core's keys plus each contributed type's schema, selected by `type` (`if`/`then`). */
export function assembleFromParts(parts: CoreSchemaParts, contrib: SchemaContributions): Record<string, unknown> {
  const core = clone(parts.config);
  const target = entrySchema(contrib.targets, parts.targetBase);
  const notifier = entrySchema(contrib.notifiers, parts.notifierBase);
  const { patternProperties: _p, ...targets } = core.properties.targets;
  core.properties.targets = { ...targets, patternProperties: { [parts.idPattern]: target }, additionalProperties: false };
  core.properties.notify = { ...core.properties.notify, items: notifier };
  // Known preset names, for editors to complete; any other name may be a user preset (checked by crossChecks).
  const presets = [...(contrib.presets ?? [])].sort((a, b) => a.name.localeCompare(b.name));
  if (presets.length) {
    const names = (description: string) => ({
      description,
      anyOf: [{ type: 'string', enum: presets.map((p) => p.name), description: presets.map((p) => `${p.name}${p.title ? ` (${p.title})` : ''}`).join(', ') }, { type: 'string' }],
    });
    const source = core.properties.jobs?.items?.properties?.sources?.items?.properties;
    if (source?.preset) source.preset = names(source.preset.description);
    for (const def of Object.values<any>(core.properties.presets?.patternProperties ?? {})) if (def?.properties?.extends) def.properties.extends = names(def.properties.extends.description);
  }
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://github.com/hokan/hokan/config/schema.json',
    title: 'hokan config.json',
    ...core,
  };
}
