import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { assetPath } from '../../src/assets';

/** Every shell script berth ships, as paths relative to assets/. */
function shellScripts(dir = assetPath()): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return shellScripts(path);
    return entry.name.endsWith('.sh') ? [relative(assetPath(), path)] : [];
  });
}

describe('shipped shell scripts', () => {
  it('are shellcheck-clean (assets/**/*.sh)', () => {
    const scripts = shellScripts();
    assert.ok(scripts.includes(join('scripts', 'berth-firewall.sh')), scripts.join(' '));
    const result = spawnSync('shellcheck', ['--norc', ...scripts], { cwd: assetPath(), encoding: 'utf8' });
    if (result.error) throw new Error(`shellcheck does not run here (${result.error.message}); bash test/host-setup.sh installs it`);
    assert.equal(result.status, 0, result.stdout + result.stderr);
  });
});
