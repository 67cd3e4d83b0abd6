import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const RENDER = join(__dirname, '..', '..', 'src', 'render');

describe('layers', () => {
  it('src/render (pure: answers in, file contents out) imports neither src/phases nor src/engine', () => {
    const offending = readdirSync(RENDER)
      .filter((name) => name.endsWith('.ts'))
      .flatMap((name) => [...readFileSync(join(RENDER, name), 'utf8').matchAll(/from '(\.\.\/(?:phases|engine)\/[^']*)'/g)].map((m) => `${name}: ${m[1]}`));
    assert.deepEqual(offending, []);
  });
});
