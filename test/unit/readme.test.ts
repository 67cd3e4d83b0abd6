import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

describe('README', () => {
  it('shows the shipped example answers file, unchanged', () => {
    assert.ok(readme.includes(readFileSync(join(root, 'assets', 'answers.example.yaml'), 'utf8')));
  });

  it('gives the commands .ci/run runs', () => {
    const ci = readFileSync(join(root, '.ci', 'run'), 'utf8');
    for (const cmd of ci.split('\n').filter((l) => l.startsWith('npm '))) assert.ok(readme.includes(cmd), cmd);
  });

  it('names every npm script it mentions correctly', () => {
    const scripts = Object.keys((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts);
    for (const [, name] of readme.matchAll(/npm run ([a-z0-9:-]+)/g)) assert.ok(scripts.includes(name), name);
  });
});
