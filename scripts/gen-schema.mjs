#!/usr/bin/env node
// Writes config/schema.json (for editors: the core's keys plus the built-in plugins' schema files)
// and core/schema/core-schema.json (the core's part, read by the config loader so that it need
// not import TypeBox at run time), both from the TypeBox source in core/src/node/config/config-schema.ts.
// Run after `tsc -b`: `npm run gen:schema`. core/src/node/config/schema-file.spec.ts fails when either is stale.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtinConfigSchema, coreSchemaText } from '../core/dist/node/config/schema-file.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { text, warnings } = builtinConfigSchema();
for (const w of warnings) console.error(`warning: ${w}`);
const files = [
  [join(root, 'config', 'schema.json'), text],
  [join(root, 'core', 'schema', 'core-schema.json'), coreSchemaText()],
];
for (const [file, content] of files) {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, content);
  console.log(`wrote ${file}`);
}
