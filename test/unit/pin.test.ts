import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pinHostKeys } from '../../src/answers/save';

describe('pinning host keys into the answers file', () => {
  const text = ['# my cluster', 'ssh:', '  jumpHost: { address: bastion.example.com }', 'hosts:', '  - name: vm1 # the app', '    address: 10.0.0.11', '  - name: vm2', '    address: 10.0.0.12', '    hostKey: SHA256:old', ''].join('\n');
  const fp1 = `SHA256:${'A'.repeat(43)}`;
  const fp2 = `SHA256:${'B'.repeat(43)}`;
  const fpJump = `SHA256:${'C'.repeat(43)}`;

  it('sets hostKey for the hosts given, keeps comments, writes mode 0600', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'berth-pin-')), 'berth.yaml');
    const pinned = pinHostKeys(file, text, new Map([['vm1', fp1], ['vm2', fp2], ['jump host', fpJump]]), 'jump host');
    assert.deepEqual(pinned, ['vm1', 'vm2', 'jump host']);
    const out = readFileSync(file, 'utf8');
    assert.match(out, /^# my cluster/);
    assert.match(out, /- name: vm1 # the app\n {4}address: 10\.0\.0\.11\n {4}hostKey: SHA256:A{43}\n/);
    assert.match(out, /hostKey: SHA256:B{43}/);
    assert.match(out, /jumpHost: \{ address: bastion\.example\.com, hostKey: SHA256:C{43} \}/);
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });

  it('writes mode 0600 even over a temporary file left behind with another mode', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-pin-'));
    writeFileSync(join(dir, `.berth.yaml.${process.pid}.tmp`), 'left behind', { mode: 0o644 });
    pinHostKeys(join(dir, 'berth.yaml'), text, new Map([['vm1', fp1]]));
    assert.equal(statSync(join(dir, 'berth.yaml')).mode & 0o777, 0o600);
    assert.match(readFileSync(join(dir, 'berth.yaml'), 'utf8'), /hostKey: SHA256:A{43}/);
  });

  it('writes nothing when every key is already pinned', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'berth-pin-')), 'berth.yaml');
    assert.deepEqual(pinHostKeys(file, text, new Map([['vm2', 'SHA256:old']])), []);
    assert.throws(() => statSync(file));
  });

  it('keeps a JSON answers file JSON', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'berth-pin-')), 'berth.json');
    pinHostKeys(file, '{"hosts": [{"name": "vm1", "address": "10.0.0.11"}]}', new Map([['vm1', fp1]]));
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { hosts: [{ name: 'vm1', address: '10.0.0.11', hostKey: fp1 }] });
  });
});
