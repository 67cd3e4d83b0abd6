/**
 * assets/scripts/registry-tls.sh run for real with this machine's openssl, in
 * temporary directories, and its certificate checked by a real TLS client.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assetPath } from '../../src/assets';
import { freePort } from '../support/sshd';

const SCRIPT = assetPath('scripts', 'registry-tls.sh');
const SANS = 'IP:127.0.0.1,IP:fd00::12,DNS:localhost';

function run(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync('bash', [SCRIPT, ...args], { encoding: 'utf8' });
  return { code: r.status ?? 1, out: r.stdout, err: r.stderr };
}

function openssl(...args: string[]): string {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);


describe('registry-tls.sh with real openssl', function () {
  let root: string;
  let ca: string;
  let dir: string;
  const files = () => ({ caKey: join(ca, 'ca.key'), caCrt: join(ca, 'ca.crt'), key: join(dir, 'server.key'), crt: join(dir, 'server.crt') });
  const contents = () => Object.fromEntries(Object.entries(files()).map(([name, path]) => [name, readFileSync(path, 'utf8')]));
  const check = (sans = SANS) => run('--check', ca, dir, sans);

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'berth-registry-tls-'));
    ca = join(root, 'registry-ca');
    dir = join(root, 'registry');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('creates the CA and a server certificate for the SANs, root-only keys; check says ok; a second run changes nothing', () => {
    assert.deepEqual(check(), { code: 0, out: 'missing\n', err: '' });
    assert.deepEqual(run(ca, dir, SANS, '825'), { code: 0, out: 'created CA\nissued server certificate\n', err: '' });
    const f = files();
    assert.deepEqual([mode(ca), mode(dir), mode(f.caKey), mode(f.caCrt), mode(f.key), mode(f.crt)], ['700', '700', '600', '644', '600', '644']);
    assert.equal(openssl('x509', '-in', f.crt, '-noout', '-ext', 'subjectAltName'), 'X509v3 Subject Alternative Name: \n    IP Address:127.0.0.1, IP Address:FD00:0:0:0:0:0:0:12, DNS:localhost\n');
    assert.equal(openssl('x509', '-in', f.crt, '-noout', '-ext', 'extendedKeyUsage,basicConstraints'), 'X509v3 Basic Constraints: critical\n    CA:FALSE\nX509v3 Extended Key Usage: \n    TLS Web Server Authentication\n');
    assert.equal(openssl('x509', '-in', f.caCrt, '-noout', '-ext', 'basicConstraints,keyUsage'), 'X509v3 Basic Constraints: critical\n    CA:TRUE\nX509v3 Key Usage: critical\n    Certificate Sign, CRL Sign\n');
    assert.equal(openssl('verify', '-CAfile', f.caCrt, f.crt), `${f.crt}: OK\n`);
    // 825 days for the server, 10 years for the CA.
    openssl('x509', '-in', f.crt, '-noout', '-checkend', String(824 * 86400));
    assert.notEqual(spawnSync('openssl', ['x509', '-in', f.crt, '-noout', '-checkend', String(826 * 86400)]).status, 0);
    openssl('x509', '-in', f.caCrt, '-noout', '-checkend', String(3649 * 86400));
    assert.deepEqual(check(), { code: 0, out: 'ok\n', err: '' });

    const before = contents();
    assert.deepEqual(run(ca, dir, SANS, '825'), { code: 0, out: '', err: '' });
    assert.deepEqual(contents(), before);
  });

  it('other SANs: a new server certificate from the same CA', () => {
    run(ca, dir, SANS, '825');
    const before = contents();
    assert.deepEqual(check('IP:127.0.0.1'), { code: 0, out: 'sans-differ\n', err: '' });
    assert.deepEqual(run(ca, dir, 'IP:127.0.0.1', '825'), { code: 0, out: 'issued server certificate\n', err: '' });
    const after = contents();
    assert.equal(after.caKey, before.caKey);
    assert.equal(after.caCrt, before.caCrt);
    assert.notEqual(after.crt, before.crt);
    assert.notEqual(after.key, before.key);
    assert.equal(openssl('x509', '-in', files().crt, '-noout', '-ext', 'subjectAltName'), 'X509v3 Subject Alternative Name: \n    IP Address:127.0.0.1\n');
    assert.equal(mode(files().key), '600');
    assert.deepEqual(check('IP:127.0.0.1'), { code: 0, out: 'ok\n', err: '' });
  });

  it('reissues a certificate that expires within 30 days, one another CA signed, or one whose key was replaced', () => {
    run(ca, dir, SANS, '20');
    assert.equal(check().out, 'expiring\n');
    assert.equal(run(ca, dir, SANS, '825').out, 'issued server certificate\n');
    assert.equal(check().out, 'ok\n');

    // Another CA: the server certificate is not this one's.
    const other = join(root, 'other');
    run(join(other, 'ca'), join(other, 'registry'), SANS, '825');
    spawnSync('cp', [join(other, 'registry', 'server.crt'), join(other, 'registry', 'server.key'), dir]);
    assert.equal(check().out, 'wrong-ca\n');
    assert.equal(run(ca, dir, SANS, '825').out, 'issued server certificate\n');

    spawnSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', files().key]);
    assert.equal(check().out, 'key-differs\n');
    assert.equal(run(ca, dir, SANS, '825').out, 'issued server certificate\n');

    // A CA whose key is gone is made again, and so is the certificate it signed.
    rmSync(files().caKey);
    assert.equal(check().out, 'missing\n');
    assert.equal(run(ca, dir, SANS, '825').out, 'created CA\nissued server certificate\n');
    assert.equal(check().out, 'ok\n');
  });

  it('refuses bad arguments and changes nothing', () => {
    for (const args of [[ca, dir, SANS], [ca, dir, SANS, '826'], [ca, dir, 'IP:1.2.3.4\nDNS:x', '825'], [ca, dir, 'localhost', '825'], ['--check', ca, dir]]) {
      const r = run(...args);
      assert.equal(r.code, 2, args.join(' '));
      assert.equal(r.out, '');
    }
    assert.equal(spawnSync('test', ['-e', ca]).status, 1);
  });

  it('a TLS client trusts the server certificate through ca.crt, and only through it', async function () {
    run(ca, dir, SANS, '825');
    const port = await freePort();
    const server = spawn('openssl', ['s_server', '-quiet', '-accept', `127.0.0.1:${port}`, '-cert', files().crt, '-key', files().key, '-www'], { stdio: 'ignore' });
    try {
      const curl = (...args: string[]) => spawnSync('curl', ['-sS', '-o', '/dev/null', '--max-time', '5', ...args, `https://127.0.0.1:${port}/`], { encoding: 'utf8' });
      let trusted = curl('--cacert', files().caCrt);
      for (let i = 0; i < 50 && trusted.status === 7; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        trusted = curl('--cacert', files().caCrt);
      }
      assert.equal(trusted.status, 0, trusted.stderr);
      const untrusted = curl();
      assert.equal(untrusted.status, 60, untrusted.stderr);
      assert.match(untrusted.stderr, /certificate/);
    } finally {
      server.kill();
    }
  });
});
