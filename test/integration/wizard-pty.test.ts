import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { freePort } from '../support/sshd';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { ensureBinary } from '../support/binary';
import { converse, KEY, type Step } from '../support/terminal';
import { parse } from 'yaml';


describe('the wizard in a real terminal (packaged binary under script(1))', function () {
  this.timeout(180_000);
  let binary: string;

  before(async () => {
    binary = await ensureBinary();
  });

  it('asks, writes a valid answers file (mode 0600) and its schema, then goes on to install', async () => {
    const home = mkdtempSync(join(tmpdir(), 'berth-pty-home-'));
    mkdirSync(join(home, '.ssh'), { mode: 0o700 });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(home, '.ssh', 'id_ed25519')]);
    const work = mkdtempSync(join(tmpdir(), 'berth-pty-'));
    const port = await freePort();
    const steps: Step[] = [
      [/Address of vm1/, `127.0.0.2${KEY.enter}`],
      [/Address of vm2/, `127.0.0.3${KEY.enter}`],
      [/Add another VM\?/, 'n'],
      [/Use the original layout/, 'y'],
      [/User berth logs in as first/, KEY.enter],
      [/SSH port/, `${'\u007f'.repeat(4)}${port}${KEY.enter}`],
      [/Private key file/, KEY.enter],
      [/Admin \(sudo\) user/, KEY.enter],
      [/Who may reach SSH/, KEY.enter],
      [/DNS mirror/, KEY.enter],
      [/Upstream DNS/, `${KEY.down}${KEY.enter}`],
      [/Where Docker comes from/, KEY.enter],
      [/Docker Hub mirrors/, KEY.enter],
      [/The password of the private registry/, KEY.enter],
      [/Django's SECRET_KEY/, KEY.enter],
      [/MariaDB's root password/, KEY.enter],
      [/The app's MariaDB password/, KEY.enter],
      [/Write these answers\?/, 'y'],
      [/Save the answers to/, KEY.enter],
    ];
    // script(1) gives berth a pseudo-terminal; what we write to its stdin is typed there.
    const child = spawn('script', ['-qfec', `${binary} install --no-color`, '/dev/null'], { cwd: work, env: { ...process.env, HOME: home, TERM: 'xterm', NO_COLOR: '1' } });
    const talk = converse(steps, (keys) => child.stdin.write(keys));
    child.stdout.on('data', (chunk: Buffer) => talk.feed(chunk));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const screen = talk.screen();

    // The install after the wizard reaches for the hosts and is refused (nothing listens there).
    assert.equal(code, 1, screen);
    assert.match(screen, /Saved the answers to berth\.yaml \(mode 0600\)/);
    assert.match(screen, /vm1 \(127\.0\.0\.2 port \d+\).*refused/i);
    // It failed while planning, before the question that precedes any change: the advice is true for that.
    assert.match(screen, /Plan incomplete: vm1, vm2 could not be planned/);
    assert.doesNotMatch(screen, /Make these changes on the hosts\?/);
    assert.match(screen, /Nothing was changed\. Fix what is reported above and run `berth install --answers berth\.yaml` again\./);

    const file = join(work, 'berth.yaml');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const text = readFileSync(file, 'utf8');
    assert.match(text, /^# yaml-language-server: \$schema=\.\/berth\.schema\.json/);
    assert.match(text, /upstreams: \[ "403" \]/);
    assert.ok(statSync(join(work, 'berth.schema.json')).isFile());
    const validate = spawn(binary, ['answers', 'validate', file], { cwd: work, env: { ...process.env, HOME: home } });
    let out = '';
    validate.stderr.on('data', (c: Buffer) => (out += c));
    assert.equal(await new Promise((r) => validate.on('close', r)), 0, out);
    assert.match(out, /berth\.yaml is valid/);
    // What was typed or generated as a secret never showed on the screen.
    const doc = parse(text) as { registry: { password: string }; app: { secretKey: string }; db: { rootPassword: string; password: string } };
    for (const secret of [doc.registry.password, doc.app.secretKey, doc.db.rootPassword, doc.db.password]) {
      assert.ok(secret.length >= 32, 'generated secrets are long');
      assert.ok(!screen.includes(secret), 'a secret was shown on the terminal');
    }
  });
});
