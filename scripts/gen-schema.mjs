#!/usr/bin/env node
// Writes config/schema.json from the core's TypeBox schema and the built-in plugins' schema files
// (run after `tsc -b`; `npm run gen:schema`). The test core/src/node/schema-file.spec.ts fails when
// the checked-in file is stale.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtinConfigSchema } from '../core/dist/node/schema-file.js';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'config', 'schema.json');
const { text, warnings } = builtinConfigSchema();
for (const w of warnings) console.error(`warning: ${w}`);
writeFileSync(out, text);
console.log(`wrote ${out}`);
