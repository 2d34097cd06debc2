/**
 * The extension's types for the status answer, generated from the server's JSON Schema
 * (jupyter_ai_access/schemas/status.schema.json) by json-schema-to-typescript:
 *   node scripts/schema-types.mjs          writes src/status.d.ts
 *   node scripts/schema-types.mjs --check  exits 1 when src/status.d.ts is not what the schema gives
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { compile } from 'json-schema-to-typescript';

const here = dirname(fileURLToPath(import.meta.url));
const schemaPath = join(here, '..', '..', 'jupyter_ai_access', 'schemas', 'status.schema.json');
const target = join(here, '..', 'src', 'status.d.ts');

const schema = JSON.parse(readFileSync(schemaPath, 'utf8'));
const generated = await compile(schema, 'TokenStatus', {
  additionalProperties: false,
  bannerComment:
    '/* Generated from jupyter_ai_access/schemas/status.schema.json by ' +
    'labextension/scripts/schema-types.mjs (npm run schema:types): do not edit. */',
  style: { singleQuote: true, trailingComma: 'none', arrowParens: 'avoid' }
});

if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    // missing: reported below
  }
  if (current !== generated) {
    console.error(
      'src/status.d.ts does not match jupyter_ai_access/schemas/status.schema.json: ' +
        'run `npm run schema:types` in labextension/ and adapt the extension to the change.'
    );
    process.exit(1);
  }
  console.log('src/status.d.ts matches the status schema.');
} else {
  writeFileSync(target, generated);
  console.log(`wrote ${target}`);
}
