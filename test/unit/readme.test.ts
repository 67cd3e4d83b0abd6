import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { binaryPath } from '../../build/package';

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

  it('says how to get the binary before the quick start runs it, with the path packaging writes', () => {
    const quickStart = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('\n## ', readme.indexOf('## Quick start') + 1));
    const build = quickStart.indexOf('npm ci && npm run package');
    assert.ok(build >= 0, 'the quick start builds the binary');
    assert.ok(build < quickStart.indexOf('./berth-linux-x64'), 'before running it');
    assert.ok(quickStart.includes(`cp ${relative(root, binaryPath('x64'))} .`), 'and copies it from where build/package.ts writes it');
  });

  it('names every npm script it mentions correctly', () => {
    const scripts = Object.keys((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts);
    for (const [, name] of readme.matchAll(/npm run ([a-z0-9:-]+)/g)) assert.ok(scripts.includes(name), name);
  });
});
