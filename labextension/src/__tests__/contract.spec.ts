/**
 * The extension's side of the status contract: jupyter_ai_access/schemas/status.schema.json.
 * The types the extension compiles against are generated from it (src/status.d.ts, checked by
 * `npm run schema:check`); here the answers the unit tests feed the extension must be valid
 * answers of the server, and the extension must name every state the server can send.
 */
import { readFileSync } from 'fs';
import { join } from 'path';

import Ajv2020 from 'ajv/dist/2020';
import { nullTranslator } from '@jupyterlab/translation';

import { stateLabel } from '../item';
import { STATES, statusIn } from './fixtures';

const schemaPath = join(
  __dirname,
  '..',
  '..',
  '..',
  'jupyter_ai_access',
  'schemas',
  'status.schema.json'
);
const schema = JSON.parse(readFileSync(schemaPath, 'utf8'));
const validate = new Ajv2020({ allErrors: true, strict: true }).compile(schema);

describe('the status schema', () => {
  it('lists exactly the states the extension handles', () => {
    expect([...schema.$defs.TokenState.enum].sort()).toEqual(
      [...STATES].sort()
    );
  });

  it.each(STATES)('accepts the extension fixture in state %s', state => {
    const valid = validate(statusIn(state));
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it('refuses an answer the extension would misread', () => {
    expect(validate({ ...statusIn('fresh'), state: 'unavailable' })).toBe(
      false
    );
    expect(validate({ ...statusIn('fresh'), version: '3' })).toBe(false);
    const { expires_at, ...missing } = statusIn('fresh');
    expect(expires_at).not.toBeNull();
    expect(validate(missing)).toBe(false);
  });

  it('has a label of its own for every state', () => {
    const trans = nullTranslator.load('jupyter_ai_access');
    const labels = STATES.map(state => stateLabel(trans, state));
    expect(new Set(labels).size).toBe(STATES.length);
  });
});
