import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BOOTSTRAP,
  LARGE_UPLOAD_CHECKSUM,
  LARGE_UPLOAD_SHORT,
  largeUploadScript,
  SCRIPT_NOT_RECEIVED,
  scriptCommand,
  scriptPreamble,
  stagedPath,
  SUDO_PASSWORD_CHECK,
  SUDO_PROBE,
  uploadPlan,
} from '../../src/ssh/remote';

const QUOTED_BOOTSTRAP = `'IFS= read -r -d "" berth_script && IFS= read -r -d "" berth_script || exit 97; set -euo pipefail; eval "$berth_script"'`;

/** Runs a command line the way sshd does (`bash -c`), here on this machine, with `input` on stdin. */
function runLocally(command: string, input: Buffer) {
  const result = spawnSync('bash', ['-c', command], { input });
  return { code: result.status, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

describe('remote command lines and scripts', () => {
  it('builds one short command line per privilege mode, with the host-side timeout', () => {
    assert.equal(scriptCommand('login', 600), `timeout -k 10 600 bash -c ${QUOTED_BOOTSTRAP}`);
    assert.equal(scriptCommand('login', 0), `bash -c ${QUOTED_BOOTSTRAP}`);
    assert.equal(scriptCommand('sudo', 30), `sudo -n -- timeout -k 10 30 bash -c ${QUOTED_BOOTSTRAP}`);
    assert.equal(scriptCommand('sudo-password', 30), `sudo -S -p '' -k -- timeout -k 10 30 bash -c ${QUOTED_BOOTSTRAP}`);
    assert.equal(SUDO_PROBE, 'env LC_ALL=C sudo -n true');
    assert.equal(SUDO_PASSWORD_CHECK, `sudo -S -p '' -k true`);
  });

  it('puts the sudo password line and a NUL, then the script and a NUL ahead of the input', () => {
    assert.deepEqual(scriptPreamble('echo hi\n'), Buffer.from('\0echo hi\n\0'));
    assert.deepEqual(scriptPreamble('id -u', 'pa ss'), Buffer.from('pa ss\n\0id -u\0'));
    assert.throws(() => scriptPreamble('a\0b'), /NUL/);
    assert.throws(() => scriptPreamble('id', 'two\nlines'), /line break/);
  });

  it('the bootstrap reads exactly the script and leaves the rest of stdin to it', () => {
    const script = `echo "é ${'x'.repeat(100_000)}" | wc -c; cat | od -An -tx1 | tr -d ' \\n'; echo`;
    const data = Buffer.from([0, 1, 2, 0xff]);
    const result = runLocally(scriptCommand('login', 0), Buffer.concat([scriptPreamble(script), data]));
    assert.deepEqual(result, { code: 0, stdout: '100004\n000102ff\n', stderr: '' });
  });

  it('the bootstrap runs with errexit, nounset and pipefail, and says when the script was cut short', () => {
    assert.equal(runLocally(`bash -c ${QUOTED_BOOTSTRAP}`, scriptPreamble('false; echo not reached')).stdout, '');
    assert.notEqual(runLocally(`bash -c ${QUOTED_BOOTSTRAP}`, scriptPreamble('echo "$UNSET_VARIABLE"')).code, 0);
    assert.notEqual(runLocally(`bash -c ${QUOTED_BOOTSTRAP}`, scriptPreamble('false | true')).code, 0);
    assert.equal(runLocally(`bash -c ${QUOTED_BOOTSTRAP}`, Buffer.from('\0echo no terminator')).code, SCRIPT_NOT_RECEIVED);
    assert.ok(BOOTSTRAP.length < 200);
  });

  it('never runs the sudo password line, whether or not sudo read it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-bootstrap-'));
    try {
      const marker = join(dir, 'password-ran');
      // A password that is also a command: if the bootstrap ever evaluated it, the marker would exist.
      const preamble = scriptPreamble('echo script ran; cat', `touch ${marker}`);
      const input = Buffer.concat([preamble, Buffer.from('input')]);
      // sudo asked: it consumed the password line, up to its newline.
      const consumed = input.subarray(input.indexOf('\n') + 1);
      assert.deepEqual(runLocally(scriptCommand('login', 0), consumed), { code: 0, stdout: 'script ran\ninput', stderr: '' });
      // sudo did not ask (NOPASSWD): the password line reaches bash.
      assert.deepEqual(runLocally(scriptCommand('login', 0), input), { code: 0, stdout: 'script ran\ninput', stderr: '' });
      assert.equal(existsSync(marker), false, 'the password line was run as a command');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stages each file beside its target', () => {
    assert.equal(stagedPath('/etc/berth/app.env', 'abc', 3), '/etc/berth/.berth-upload.abc.3');
    assert.throws(() => stagedPath('relative/path', 'abc', 0), /not an absolute path/);
  });

  it('plans an upload: directories, parents, one tar, then mode, owner and rename per file', () => {
    const plan = uploadPlan(
      [
        { path: '/etc/berth', mode: 0o750, owner: 'root', group: 'berth' },
        { path: '/etc/berth/a b.conf', content: 'x', mode: 0o640, group: 'berth' },
        { path: '/opt/x/y', content: 'y', mode: 0o755 },
      ],
      'tag1',
    );
    assert.equal(
      plan.script,
      [
        'berth_staged=(/etc/berth/.berth-upload.tag1.1 /opt/x/.berth-upload.tag1.2)',
        `trap 'rm -f -- "\${berth_staged[@]}"' EXIT`,
        'mkdir -p -- /etc/berth',
        'chmod 0750 -- /etc/berth',
        'chown root:berth -- /etc/berth',
        'mkdir -p -- /etc/berth /opt/x',
        'tar -x -f - -C / --no-same-owner --no-same-permissions',
        'chmod 0640 -- /etc/berth/.berth-upload.tag1.1',
        'chown :berth -- /etc/berth/.berth-upload.tag1.1',
        `mv -f -T -- /etc/berth/.berth-upload.tag1.1 '/etc/berth/a b.conf'`,
        'chmod 0755 -- /opt/x/.berth-upload.tag1.2',
        'mv -f -T -- /opt/x/.berth-upload.tag1.2 /opt/x/y',
        'trap - EXIT',
        '',
      ].join('\n'),
    );
    assert.deepEqual(plan.members, [
      { name: 'etc/berth/.berth-upload.tag1.1', content: 'x' },
      { name: 'opt/x/.berth-upload.tag1.2', content: 'y' },
    ]);
    assert.equal(uploadPlan([{ path: '/srv/data', mode: 0o700 }], 't').script, 'mkdir -p -- /srv/data\nchmod 0700 -- /srv/data\n');
  });

  it("runs a file's validate command on the staged file before the rename (the old file stays when it refuses)", () => {
    const plan = uploadPlan([{ path: '/etc/sudoers.d/berth-debian', content: 'x', mode: 0o440, validate: ['visudo', '-cf'] }], 't');
    assert.equal(
      plan.script,
      [
        'berth_staged=(/etc/sudoers.d/.berth-upload.t.0)',
        `trap 'rm -f -- "\${berth_staged[@]}"' EXIT`,
        'mkdir -p -- /etc/sudoers.d',
        'tar -x -f - -C / --no-same-owner --no-same-permissions',
        'chmod 0440 -- /etc/sudoers.d/.berth-upload.t.0',
        'visudo -cf /etc/sudoers.d/.berth-upload.t.0',
        'mv -f -T -- /etc/sudoers.d/.berth-upload.t.0 /etc/sudoers.d/berth-debian',
        'trap - EXIT',
        '',
      ].join('\n'),
    );
  });

  it('receives a large file in one pass: counted, staged and hashed on the way, then checked and renamed', () => {
    assert.equal(
      largeUploadScript({ remotePath: '/srv/big file.tar', mode: 0o640, owner: 'app', group: 'app' }, 1234, 'tag1'),
      [
        'berth_staged=(/srv/.berth-upload.tag1.0)',
        `trap 'rm -f -- "\${berth_staged[@]}"' EXIT`,
        'mkdir -p -- /srv',
        'if command -v openssl >/dev/null 2>&1; then berth_sha256() { openssl dgst -sha256 -r; }; else berth_sha256() { sha256sum; }; fi',
        'actual=$(umask 077 && dd bs=64K iflag=fullblock,count_bytes count=1234 status=none | tee -- /srv/.berth-upload.tag1.0 | berth_sha256)',
        'received=$(stat -c %s -- /srv/.berth-upload.tag1.0)',
        'if [ "$received" != 1234 ]; then echo "berth: received $received of 1234 bytes" >&2; exit 98; fi',
        'IFS= read -r expected || true',
        'actual=${actual%% *}',
        'if [ "$actual" != "$expected" ]; then echo "berth: checksum mismatch: sent $expected, received $actual" >&2; exit 99; fi',
        'chmod 0640 -- /srv/.berth-upload.tag1.0',
        'chown app:app -- /srv/.berth-upload.tag1.0',
        "mv -f -T -- /srv/.berth-upload.tag1.0 '/srv/big file.tar'",
        'trap - EXIT',
        '',
      ].join('\n'),
    );
  });

  describe('the large upload script, run here with bash', () => {
    let dir: string;
    const data = Buffer.from('the payload of a large upload\n'.repeat(1000));
    const digest = createHash('sha256').update(data).digest('hex');
    const receive = (input: Buffer) => runLocally(scriptCommand('login', 0), Buffer.concat([scriptPreamble(largeUploadScript({ remotePath: join(dir, 'in', 'file.bin'), mode: 0o640 }, data.length, 't')), input]));

    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'berth-large-upload-'));
      mkdirSync(join(dir, 'in'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('places the file when the checksum matches', () => {
      assert.deepEqual(receive(Buffer.concat([data, Buffer.from(`${digest}\n`)])), { code: 0, stdout: '', stderr: '' });
      assert.deepEqual(readFileSync(join(dir, 'in', 'file.bin')), data);
      assert.equal(statSync(join(dir, 'in', 'file.bin')).mode & 0o7777, 0o640);
      assert.deepEqual(readdirSync(join(dir, 'in')), ['file.bin']);
    });

    it('refuses different bytes and a short transfer, leaving nothing behind', () => {
      const changed = Buffer.from(data);
      changed[5] ^= 1;
      const mismatch = receive(Buffer.concat([changed, Buffer.from(`${digest}\n`)]));
      assert.equal(mismatch.code, LARGE_UPLOAD_CHECKSUM);
      assert.match(mismatch.stderr, new RegExp(`checksum mismatch: sent ${digest}, received [0-9a-f]{64}`));
      const short = receive(data.subarray(0, 100));
      assert.equal(short.code, LARGE_UPLOAD_SHORT);
      assert.match(short.stderr, new RegExp(`received 100 of ${data.length} bytes`));
      assert.deepEqual(readdirSync(join(dir, 'in')), []);
    });

    it('hashes with sha256sum where openssl is missing, and takes an empty file', () => {
      const bin = join(dir, 'bin');
      mkdirSync(bin);
      for (const tool of ['bash', 'dd', 'tee', 'stat', 'mkdir', 'chmod', 'mv', 'rm', 'sha256sum']) symlinkSync(execFileSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(bin, tool));
      const script = largeUploadScript({ remotePath: join(dir, 'in', 'file.bin'), mode: 0o600 }, data.length, 't');
      const run = spawnSync(join(bin, 'bash'), ['-c', scriptCommand('login', 0)], { input: Buffer.concat([scriptPreamble(script), data, Buffer.from(`${digest}\n`)]), env: { PATH: bin, SHLVL: '1' } }); // SHLVL: bash skips ~/.bashrc, which it reads when stdin is a socket
      assert.deepEqual([run.status, run.stderr.toString()], [0, '']);
      assert.deepEqual(readFileSync(join(dir, 'in', 'file.bin')), data);
      const empty = createHash('sha256').digest('hex');
      const none = runLocally(scriptCommand('login', 0), Buffer.concat([scriptPreamble(largeUploadScript({ remotePath: join(dir, 'in', 'empty'), mode: 0o644 }, 0, 'e')), Buffer.from(`${empty}\n`)]));
      assert.deepEqual(none, { code: 0, stdout: '', stderr: '' });
      assert.equal(statSync(join(dir, 'in', 'empty')).size, 0);
    });

    it('fails when the staged file cannot be written', () => {
      const result = runLocally(scriptCommand('login', 0), Buffer.concat([scriptPreamble(largeUploadScript({ remotePath: join(dir, 'in', 'missing-dir', 'x', 'file.bin'), mode: 0o644 }, data.length, 't').replace(/^mkdir .*$/m, 'true')), data, Buffer.from(`${digest}\n`)]));
      assert.notEqual(result.code, 0);
      assert.notEqual(result.code, LARGE_UPLOAD_CHECKSUM);
      assert.match(result.stderr, /tee: .*No such file or directory/);
    });
  });
});
