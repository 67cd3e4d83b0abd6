import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STRIP_TOOL } from '../../build/package';

const root = join(__dirname, '..', '..');
const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;

/** Runs test/host-setup.sh with nothing on PATH but an apt-get that records what it is asked to install. */
function setupWants(args: string[], env: NodeJS.ProcessEnv = {}): { installed: string[]; stdout: string; status: number | null } {
  const bin = mkdtempSync(join(tmpdir(), 'berth-host-setup-'));
  try {
    const log = join(bin, 'apt-get.log');
    writeFileSync(join(bin, 'apt-get'), `#!/bin/sh\necho "$*" >> ${log}\n`, { mode: 0o755 });
    const run = spawnSync('/bin/bash', [join(root, 'test', 'host-setup.sh'), ...args], { encoding: 'utf8', env: { PATH: bin, ...env } });
    const install = readFileSync(log, 'utf8').split('\n').find((line) => line.startsWith('install ')) ?? '';
    return { installed: install.split(' ').filter((word) => !word.startsWith('-')).slice(1), stdout: run.stdout, status: run.status };
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
}

describe('npm run package sets up what it needs', () => {
  it('runs test/host-setup.sh package first (and so does the start-up benchmark, which packages too)', () => {
    assert.equal(scripts.package, 'bash test/host-setup.sh package && tsx build/package.ts');
    assert.match(scripts['bench:startup'], /^bash test\/host-setup\.sh package && /);
  });

  it('host-setup.sh package installs the strip tools and qemu, none of the test hosts’ packages, and starts no dockerd', () => {
    const { installed, stdout, status } = setupWants(['package']);
    assert.equal(status, 0, stdout);
    for (const arch of Object.values(STRIP_TOOL)) assert.ok(installed.includes(arch.debianPackage), `${arch.debianPackage} in ${installed.join(' ')}`);
    assert.ok(installed.includes('qemu-user'), installed.join(' '));
    for (const testOnly of ['docker.io', 'debootstrap', 'openssh-server', 'gpg']) assert.ok(!installed.includes(testOnly), `${testOnly} in ${installed.join(' ')}`);
    assert.doesNotMatch(stdout, /dockerd/);
    assert.ok(!setupWants(['package'], { BERTH_ARM64_SMOKE: '0' }).installed.includes('qemu-user'), 'BERTH_ARM64_SMOKE=0 leaves qemu out');
  });

  it('host-setup.sh refuses an unknown mode', () => {
    const bin = spawnSync('/bin/bash', [join(root, 'test', 'host-setup.sh'), 'bogus'], { encoding: 'utf8' });
    assert.equal(bin.status, 2);
    assert.match(bin.stderr, /usage: .*host-setup\.sh \[package\]/);
  });
});
