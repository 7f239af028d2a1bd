import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CORE_SCHEMA_FILE } from './schema-assemble.js';
import { builtinConfigSchema, coreSchemaText } from './schema-file.js';
import { CORE_ROOT } from '../plugins/plugin-host.js';

describe('generated schema files', () => {
  it('config/schema.json is up to date (run `npm run gen:schema` after changing a schema)', () => {
    const checkedIn = readFileSync(join(CORE_ROOT, '..', 'config', 'schema.json'), 'utf8');
    expect(checkedIn).toBe(builtinConfigSchema().text);
  });

  it('core/schema/core-schema.json is up to date with the TypeBox source', () => {
    expect(readFileSync(CORE_SCHEMA_FILE, 'utf8')).toBe(coreSchemaText());
  });

  it('the assembled schema selects each built-in target type\'s schema by `type`', () => {
    const s = builtinConfigSchema().schema as any;
    const entry = Object.values(s.properties.targets.patternProperties)[0] as any;
    expect(entry.properties.type.enum).toEqual(['azure', 'hdd', 'nas', 's3']);
    expect(entry.allOf.map((b: any) => b.if.properties.type.const)).toEqual(['azure', 'hdd', 'nas', 's3']);
    expect(s.properties.notify.items.properties.type.enum).toEqual(['smtp']);
  });
});
