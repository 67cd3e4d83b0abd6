import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { Secret } from '../../src/answers/secret';
import { SshError, type SshErrorKind } from '../../src/engine/transport';
import { connectHost, type SshConnection, type SshSettings, type SshTarget } from '../../src/ssh';
import { sshConnector } from '../../src/ssh/connector';
import { testAnswers } from '../support/answers';
import {
  ensureTestUsers,
  freePort,
  generateKey,
  NOPASSWD_USER,
  PASSWORD_USER,
  removeTestUsers,
  SUDOERS_OVERRIDE_FILE,
  TestAgent,
  TestSshd,
  type KeyPair,
  type TestUsers,
  writeSudoers,
} from '../support/sshd';

/** The sshd process serving a session: walks up from the script's shell. */
const SESSION_SSHD_PID = `p=$$; while [ "$(cat /proc/$p/comm)" != sshd ]; do p=$(awk '{print $4}' /proc/$p/stat); done; echo "$p"`;

async function rejectsWith(promise: Promise<unknown>, kind: SshErrorKind, message?: RegExp): Promise<SshError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof SshError, `expected an SshError, got ${String(error)}`);
    assert.equal(error.kind, kind, error.message);
    if (message) assert.match(error.message, message);
    return error;
  }
  assert.fail(`expected an SshError of kind ${kind}`);
}

/** Every process's command line on this machine (the test host is this machine). */
function allCommandLines(): string {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      } catch {
        return '';
      }
    })
    .join('\n');
}

describe('SSH transport against a real sshd', function () {
  this.timeout(60_000);
  let sshd: TestSshd;
  let users: TestUsers;
  let dir: string;
  let rootKey: KeyPair;
  let userKey: KeyPair;
  const open: SshConnection[] = [];

  before(async () => {
    users = await ensureTestUsers();
    sshd = await TestSshd.start();
    dir = mkdtempSync(join(tmpdir(), 'berth-ssh-test-'));
    rootKey = await generateKey(dir, 'root-key');
    userKey = await generateKey(dir, 'user-key');
    sshd.authorize('root', rootKey.publicKey);
    sshd.authorize(NOPASSWD_USER, userKey.publicKey);
    sshd.authorize(PASSWORD_USER, userKey.publicKey);
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((connection) => connection.close().catch(() => undefined)));
  });

  after(async () => {
    await sshd?.stop();
    await removeTestUsers();
    rmSync(dir, { recursive: true, force: true });
  });

  const target = (extra: Partial<SshTarget> = {}): SshTarget => ({ name: 'vm1', address: '127.0.0.1', port: sshd.port, hostKey: sshd.hostKeyFingerprint, ...extra });
  const asRoot = (extra: Partial<SshSettings> = {}): SshSettings => ({ user: 'root', privateKeyPath: rootKey.path, knownHostsPath: null, ...extra });
  async function connect(to: SshTarget, settings: SshSettings): Promise<SshConnection> {
    const connection = await connectHost(to, settings);
    open.push(connection);
    return connection;
  }

  describe('exec', () => {
    it('runs a script as root with errexit, nounset and pipefail, its stdin after the script', async () => {
      const host = await connect(target(), asRoot());
      assert.deepEqual(await host.exec('id -u; cat; echo', { stdin: 'data on stdin' }), {
        code: 0,
        stdout: '0\ndata on stdin\n',
        stderr: '',
      });
      assert.equal((await host.exec('false; echo not reached')).code, 1);
      const unset = await host.exec('echo "$NOT_SET_ANYWHERE"; echo not reached');
      assert.notEqual(unset.code, 0);
      assert.match(unset.stderr, /NOT_SET_ANYWHERE: unbound variable/);
      assert.notEqual((await host.exec('false | true')).code, 0);
      const failed = await host.exec('echo out; echo err >&2; exit 7');
      assert.deepEqual(failed, { code: 7, stdout: 'out\n', stderr: 'err\n' });
    });

    it('passes scripts of any length and binary stdin byte for byte', async () => {
      const host = await connect(target(), asRoot());
      const long = `${Array.from({ length: 20_000 }, (_, i) => `v${i}="line ${i} with 'quotes' and \\"escapes\\" é"`).join('\n')}\necho "$v19999"\n`;
      assert.ok(long.length > 500_000);
      assert.equal((await host.exec(long)).stdout, `line 19999 with 'quotes' and "escapes" é\n`);
      const binary = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256));
      const digest = await host.exec('sha256sum | cut -d" " -f1', { stdin: binary });
      assert.equal(digest.stdout.trim(), createHash('sha256').update(binary).digest('hex'));
    });

    it('streams output as it comes and reuses one connection for every command', async () => {
      const host = await connect(target(), asRoot());
      const chunks: string[] = [];
      const first = await host.exec(`${SESSION_SSHD_PID}; echo progress >&2`, { onStderr: (text) => chunks.push(text) });
      const second = await host.exec(SESSION_SSHD_PID);
      assert.equal(chunks.join(''), 'progress\n');
      // Each session runs under its own sshd process; the same one means the same connection.
      assert.equal(first.stdout, second.stdout);
    });

    it('stops a command at its timeout, on the host too', async () => {
      const host = await connect(target(), asRoot());
      const marker = `41.${Date.now()}`; // a sleep no other process runs
      await rejectsWith(host.exec(`echo started; sleep ${marker}`, { timeoutMs: 1500 }), 'timeout', /vm1 \(127\.0\.0\.1 port \d+\).*within 2 s/);
      assert.ok(!allCommandLines().includes(`sleep ${marker}`), 'the command still runs on the host');
      assert.equal((await host.exec('echo still usable')).stdout, 'still usable\n');
    });

    it("rejects a running command with 'lost' when the connection drops, and reconnects for the next", async () => {
      const host = await connect(target(), asRoot());
      let killed = false;
      const running = host.exec(`${SESSION_SSHD_PID}; sleep 30`, {
        onStdout: (text) => {
          if (killed) return;
          killed = true;
          process.kill(Number(text.trim()), 'SIGKILL');
        },
      });
      await rejectsWith(running, 'lost', /vm1 .*connection was lost/);
      assert.ok(killed);
      assert.equal((await host.exec('echo back')).stdout, 'back\n');
      assert.equal(host.hostKey.fingerprint, sshd.hostKeyFingerprint);
    });

    it('reconnects transparently when the connection dropped between commands', async () => {
      const host = await connect(target(), asRoot());
      const before = (await host.exec(SESSION_SSHD_PID)).stdout;
      process.kill(Number(before), 'SIGKILL');
      const after = await host.exec(SESSION_SSHD_PID);
      assert.equal(after.code, 0);
      assert.notEqual(after.stdout, before, 'a new session');
    });
  });

  describe('authentication', () => {
    it('logs in with an encrypted key, asking for the passphrase once', async () => {
      const encrypted = await generateKey(dir, 'encrypted-key', 'correct horse battery');
      sshd.authorize('root', rootKey.publicKey, encrypted.publicKey);
      const asked: string[] = [];
      const host = await connect(target(), asRoot({ privateKeyPath: encrypted.path, askPassphrase: async (path) => (asked.push(path), new Secret('correct horse battery', 'test')) }));
      assert.equal((await host.exec('id -un')).stdout, 'root\n');
      assert.deepEqual(asked, [encrypted.path]);
      // Given in the settings, or for a plain key, nobody is asked.
      await connect(target(), asRoot({ privateKeyPath: encrypted.path, passphrase: new Secret('correct horse battery', 'test'), askPassphrase: async () => assert.fail('asked') }));
      await connect(target(), asRoot({ askPassphrase: async () => assert.fail('asked') }));
      await rejectsWith(connect(target(), asRoot({ privateKeyPath: encrypted.path, passphrase: new Secret('wrong passphrase', 'test') })), 'auth', /passphrase does not open/);
      await rejectsWith(connect(target(), asRoot({ privateKeyPath: encrypted.path })), 'auth', /encrypted and no passphrase/);
    });

    it('logs in with a password', async () => {
      const host = await connect(target(), { user: PASSWORD_USER, password: new Secret(users.password[PASSWORD_USER], 'test'), knownHostsPath: null });
      assert.equal((await host.exec('id -un', { asRoot: false })).stdout, `${PASSWORD_USER}\n`);
    });

    it('logs in with a key from ssh-agent', async () => {
      const agent = await TestAgent.start(dir);
      try {
        await agent.add(rootKey.path);
        const host = await connect(target(), { user: 'root', agentSocket: agent.socket, knownHostsPath: null });
        assert.equal((await host.exec('id -u')).stdout, '0\n');
      } finally {
        await agent.stop();
      }
    });

    it('names every method it tried when the host refuses them all', async () => {
      const stranger = await generateKey(dir, 'stranger-key');
      const agent = await TestAgent.start(dir);
      try {
        await agent.add(stranger.path);
        const error = await rejectsWith(
          connect(target(), { user: PASSWORD_USER, privateKeyPath: stranger.path, agentSocket: agent.socket, password: new Secret('not-the-password', 'test'), knownHostsPath: null }),
          'auth',
        );
        assert.match(error.message, new RegExp(`vm1 \\(127\\.0\\.0\\.1 port \\d+\\): authentication as ${PASSWORD_USER} failed`));
        assert.match(error.message, new RegExp(`tried publickey \\(key file ${stranger.path}\\), publickey \\(ssh-agent at ${agent.socket}\\), password`));
        assert.doesNotMatch(error.message, /not-the-password/);
      } finally {
        await agent.stop();
      }
    });
  });

  describe('host keys', () => {
    it('refuses a host whose key differs from the pinned one before logging in', async () => {
      const other = await generateKey(dir, 'other-host-key');
      const wrong = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${other.path}.pub`], { encoding: 'utf8' }).split(' ')[1];
      const logBefore = sshd.log().length;
      const marker = join(dir, 'marker-never-created');
      const error = await rejectsWith(connect(target({ hostKey: wrong }), asRoot()).then((host) => host.exec(`touch ${marker}`)), 'hostkey');
      assert.ok(!existsSync(marker));
      assert.ok(error.message.includes(`expected ${wrong}`), error.message);
      assert.ok(error.message.includes(`offered ${sshd.hostKeyFingerprint}`), error.message);
      assert.match(error.message, /^vm1 \(127\.0\.0\.1 port \d+\)/);
      await new Promise((resolve) => setTimeout(resolve, 200)); // let sshd log the closed connection
      const log = sshd.log().slice(logBefore);
      // Proof that nothing was sent: the connection ended before any login attempt, which precedes every command.
      assert.match(log, /Disconnected from 127\.0\.0\.1|Connection (closed|reset) by 127\.0\.0\.1/);
      assert.doesNotMatch(log, /Accepted|Failed|Postponed|session opened|User child/);
    });

    it('asks about an unknown key and pins it when accepted', async () => {
      const questions: string[] = [];
      const accept = connect(target({ hostKey: undefined }), asRoot({ onNewHostKey: async (host, fp) => (questions.push(`${host.name} ${host.address}:${host.port} ${fp}`), true) }));
      const host = await accept;
      assert.deepEqual(questions, [`vm1 127.0.0.1:${sshd.port} ${sshd.hostKeyFingerprint}`]);
      assert.deepEqual(host.hostKey, { fingerprint: sshd.hostKeyFingerprint, source: 'accepted' });
      await rejectsWith(connect(target({ hostKey: undefined }), asRoot({ onNewHostKey: async () => false })), 'hostkey', /was not accepted/);
      await rejectsWith(connect(target({ hostKey: undefined }), asRoot()), 'hostkey', /unknown host key SHA256:/);
    });

    it('the connector asks about a new host key once per host, whichever logins it tries', async () => {
      // The admin user does not exist yet: its login fails after the key was shown, and root's login shows it again.
      const answers = testAnswers({
        ssh: { user: 'root', privateKey: rootKey.path, port: sshd.port },
        sshHardening: { port: sshd.port },
        admin: { user: `nosuchadmin${process.pid % 1000}` },
        hosts: [
          { name: 'vm1', address: '127.0.0.1', roles: ['app', 'lb', 'db', 'registry', 'dns'] },
        ],
      });
      const questions: string[] = [];
      const connector = sshConnector(answers, dir, { onNewHostKey: async (question, fp) => (questions.push(`${question.name} ${fp}`), true) });
      const agents = await Promise.all([connector.connect(answers.hosts[0]), connector.connect(answers.hosts[0])]);
      try {
        assert.deepEqual(agents.map((agent) => agent.user), ['root', 'root']);
        assert.deepEqual(questions, [`vm1 ${sshd.hostKeyFingerprint}`]);
        assert.deepEqual([...connector.acceptedHostKeys], [['vm1', sshd.hostKeyFingerprint]]);
      } finally {
        await Promise.all(agents.map((agent) => agent.close()));
      }
    });

    it('honours known_hosts, hashed entries too, and treats a different key there as a mismatch', async () => {
      const knownHosts = join(dir, 'known_hosts');
      const never = async () => assert.fail('asked about a key known_hosts vouches for');
      writeFileSync(knownHosts, `# comment\nother.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE7qC6kV5bB4bTj3rY7nW7o7lqX3Yk9Wm1sRzWZ2B7uZ\n${sshd.knownHostsLine()}\n`);
      const plain = await connect(target({ hostKey: undefined }), asRoot({ knownHostsPath: knownHosts, onNewHostKey: never }));
      assert.deepEqual(plain.hostKey, { fingerprint: sshd.hostKeyFingerprint, source: 'known_hosts' });

      execFileSync('ssh-keygen', ['-H', '-f', knownHosts], { stdio: 'ignore' });
      assert.doesNotMatch(readFileSync(knownHosts, 'utf8'), /127\.0\.0\.1/);
      const hashed = await connect(target({ hostKey: undefined }), asRoot({ knownHostsPath: knownHosts, onNewHostKey: never }));
      assert.equal(hashed.hostKey.source, 'known_hosts');

      const impostor = await generateKey(dir, 'impostor-host-key');
      writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${impostor.publicKey}\n`);
      await rejectsWith(connect(target({ hostKey: undefined }), asRoot({ knownHostsPath: knownHosts, onNewHostKey: never })), 'hostkey', /MISMATCH.*from known_hosts/);
    });

    it('a key of another type than the one known_hosts holds is not new: refused, both fingerprints named, even when new keys are accepted', async () => {
      const knownHosts = join(dir, 'known_hosts');
      // The test sshd has an ed25519 host key only; known_hosts knows the host by an ECDSA key.
      execFileSync('ssh-keygen', ['-q', '-t', 'ecdsa', '-N', '', '-f', join(dir, 'ecdsa-host-key')]);
      const ecdsa = readFileSync(join(dir, 'ecdsa-host-key.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
      const ecdsaFp = execFileSync('ssh-keygen', ['-lf', join(dir, 'ecdsa-host-key.pub')], { encoding: 'utf8' }).split(' ')[1];
      writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${ecdsa}\n`);
      const accept = async () => assert.fail('asked whether to trust a key of a host known_hosts knows');
      const refused = connect(target({ hostKey: undefined }), asRoot({ knownHostsPath: knownHosts, onNewHostKey: accept }));
      await rejectsWith(refused, 'hostkey', new RegExp(`offered a ssh-ed25519 key ${sshd.hostKeyFingerprint.replace(/[+/]/g, '\\$&')}, but known_hosts knows it by another key: ecdsa-sha2-nistp256 ${ecdsaFp.replace(/[+/]/g, '\\$&')}\\. This is not a new host`));
    });
  });

  describe('sudo', () => {
    it('runs as root through passwordless sudo, and as the login user when asked', async () => {
      const host = await connect(target(), { user: NOPASSWD_USER, privateKeyPath: userKey.path, knownHostsPath: null });
      assert.equal((await host.exec('id -u')).stdout, '0\n');
      assert.equal((await host.exec('id -un', { asRoot: false })).stdout, `${NOPASSWD_USER}\n`);
      assert.equal((await host.exec('cat', { stdin: 'through sudo' })).stdout, 'through sudo');
    });

    it('sends the sudo password on stdin only: never on a command line, in output or in logs', async () => {
      const password = users.password[PASSWORD_USER];
      const output: string[] = [];
      const host = await connect(target(), { user: PASSWORD_USER, privateKeyPath: userKey.path, knownHostsPath: null, sudoPassword: new Secret(password, 'test') });
      let commandLines = '';
      const result = await host.exec('echo started; sleep 2; id -u; cat', {
        stdin: 'after the password',
        onStdout: (text) => {
          output.push(text);
          if (text.startsWith('started')) commandLines = allCommandLines();
        },
        onStderr: (text) => output.push(text),
      });
      assert.deepEqual(result, { code: 0, stdout: 'started\n0\nafter the password', stderr: '' });
      assert.match(commandLines, /sudo -S -p {2}-k -- timeout/, 'the sudo command was seen running');
      assert.ok(!commandLines.includes(password), 'password on a command line');
      assert.ok(!output.join('').includes(password), 'password in the output');
      assert.ok(!sshd.log().includes(password), 'password in the sshd log');
    });

    it('keeps working, and never runs the password, when sudo stops asking for it during the run', async () => {
      const password = users.password[PASSWORD_USER];
      const host = await connect(target(), { user: PASSWORD_USER, privateKeyPath: userKey.path, knownHostsPath: null, sudoPassword: new Secret(password, 'test') });
      assert.equal((await host.exec('id -u')).stdout, '0\n');
      // As the admin phase may do for the login user: a later sudoers rule makes sudo passwordless.
      await writeSudoers(SUDOERS_OVERRIDE_FILE, `${PASSWORD_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n`);
      try {
        assert.deepEqual(await host.exec('id -u; cat', { stdin: 'input' }), { code: 0, stdout: '0\ninput', stderr: '' });
      } finally {
        rmSync(SUDOERS_OVERRIDE_FILE, { force: true });
      }
    });

    it('asks for the sudo password when needed, and says so when there is none or it is wrong', async () => {
      const asked: string[] = [];
      const settings: SshSettings = { user: PASSWORD_USER, privateKeyPath: userKey.path, knownHostsPath: null };
      const prompted = await connect(target(), { ...settings, askSudoPassword: async (host, user) => (asked.push(`${host.name} ${user}`), new Secret(users.password[PASSWORD_USER], 'test')) });
      assert.equal((await prompted.exec('id -u')).stdout, '0\n');
      assert.equal((await prompted.exec('id -u')).stdout, '0\n');
      assert.deepEqual(asked, [`vm1 ${PASSWORD_USER}`]);
      const none = await connect(target(), settings);
      await rejectsWith(none.exec('id -u'), 'sudo', new RegExp(`vm1 .*sudo needs ${PASSWORD_USER}'s password and none was given`));
      const wrong = await connect(target(), { ...settings, sudoPassword: new Secret('wrong-sudo-password', 'test') });
      const error = await rejectsWith(wrong.exec('id -u'), 'sudo', new RegExp(`sudo refused ${PASSWORD_USER}: .*incorrect password`, 's'));
      assert.doesNotMatch(error.message, /wrong-sudo-password/);
    });
  });

  describe('connection errors', () => {
    it('says the port refuses connections', async () => {
      const port = await freePort();
      await rejectsWith(connect(target({ port }), asRoot()), 'refused', new RegExp(`^vm1 \\(127\\.0\\.0\\.1 port ${port}\\): connection refused`));
    });

    it('says the name does not resolve', async () => {
      await rejectsWith(connect(target({ address: 'no-such-host.invalid' }), asRoot()), 'dns', /^vm1 \(no-such-host\.invalid port \d+\): the name could not be resolved/);
    });

    it('times out on a server that accepts and never speaks', async () => {
      const silent: Server = createServer(() => undefined);
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      try {
        const port = (silent.address() as { port: number }).port;
        await rejectsWith(connect(target({ port }), asRoot({ connectTimeoutMs: 1000 })), 'timeout', /connected, but no SSH handshake and login within 1 s/);
      } finally {
        silent.close();
      }
    });
  });

  describe('upload', () => {
    it('places a tree of files and directories with modes and owners, atomically', async () => {
      const base = join(dir, 'tree');
      mkdirSync(join(base, 'existing'), { recursive: true });
      writeFileSync(join(base, 'existing', 'replaced.conf'), 'old');
      const oldInode = statSync(join(base, 'existing', 'replaced.conf')).ino;
      const host = await connect(target(), { user: NOPASSWD_USER, privateKeyPath: userKey.path, knownHostsPath: null });
      await host.upload([
        { path: `${base}/app`, mode: 0o750, owner: NOPASSWD_USER, group: NOPASSWD_USER },
        { path: `${base}/app/config/settings.py`, content: 'DEBUG = False\n', mode: 0o640, owner: 'root', group: NOPASSWD_USER },
        { path: `${base}/app/secret key's file`, content: Buffer.from([0, 1, 2, 255]), mode: 0o600 },
        { path: `${base}/existing/replaced.conf`, content: 'new', mode: 0o644, owner: NOPASSWD_USER },
      ]);
      const uid = Number(execFileSync('id', ['-u', NOPASSWD_USER], { encoding: 'utf8' }));
      const app = statSync(`${base}/app`);
      assert.ok(app.isDirectory());
      assert.equal(app.mode & 0o7777, 0o750);
      assert.equal(app.uid, uid);
      const settings = statSync(`${base}/app/config/settings.py`);
      assert.deepEqual([settings.mode & 0o7777, settings.uid, settings.gid], [0o640, 0, uid]);
      assert.equal(readFileSync(`${base}/app/config/settings.py`, 'utf8'), 'DEBUG = False\n');
      assert.deepEqual([...readFileSync(`${base}/app/secret key's file`)], [0, 1, 2, 255]);
      assert.equal(statSync(`${base}/app/secret key's file`).mode & 0o7777, 0o600);
      const replaced = statSync(`${base}/existing/replaced.conf`);
      assert.equal(readFileSync(`${base}/existing/replaced.conf`, 'utf8'), 'new');
      assert.notEqual(replaced.ino, oldInode, 'renamed into place, not rewritten');
      assert.equal(replaced.uid, uid);
      for (const folder of [`${base}/app`, `${base}/app/config`, `${base}/existing`]) {
        assert.deepEqual(readdirSync(folder).filter((name) => name.startsWith('.berth-upload')), [], `staged files left in ${folder}`);
      }
    });

    it('reports a failed upload and leaves nothing staged', async () => {
      const base = join(dir, 'blocked');
      mkdirSync(join(base, 'target-is-a-directory'), { recursive: true });
      const host = await connect(target(), asRoot());
      await rejectsWith(host.upload([{ path: `${base}/target-is-a-directory`, content: 'x', mode: 0o644 }]), 'other', /vm1 .*placing .*target-is-a-directory failed/);
      assert.deepEqual(readdirSync(base), ['target-is-a-directory']);
    });

    describe('a large file', () => {
      const size = 200 * 1024 * 1024;
      let source: string;
      let expected: string;

      before(() => {
        source = join(dir, 'large.bin');
        const hash = createHash('sha256');
        const fd = openSync(source, 'w');
        const block = Buffer.alloc(1024 * 1024);
        for (let i = 0; i < size / block.length; i++) {
          block.fill(i % 251);
          block.writeUInt32BE(i, 0);
          writeSync(fd, block);
          hash.update(block);
        }
        closeSync(fd);
        expected = hash.digest('hex');
      });

      it('streams 200 MB with progress, checks its SHA-256 on the host and moves it into place', async () => {
        const host = await connect(target(), { user: NOPASSWD_USER, privateKeyPath: userKey.path, knownHostsPath: null });
        const remotePath = join(dir, 'received', 'large.bin');
        const progress: number[] = [];
        const result = await host.uploadLarge({ localPath: source, remotePath, mode: 0o640, owner: NOPASSWD_USER, onProgress: (sent, total) => (assert.equal(total, size), progress.push(sent)) });
        assert.equal(result.sha256, expected);
        assert.equal(progress.at(-1), size);
        assert.deepEqual(progress, [...progress].sort((a, b) => a - b));
        const placed = statSync(remotePath);
        assert.deepEqual([placed.size, placed.mode & 0o7777, placed.uid], [size, 0o640, Number(execFileSync('id', ['-u', NOPASSWD_USER], { encoding: 'utf8' }))]);
        assert.equal(execFileSync('sha256sum', [remotePath], { encoding: 'utf8' }).split(' ')[0], expected);
        assert.deepEqual(readdirSync(join(dir, 'received')), ['large.bin']);
      });

      it('detects bytes changed on the way and places nothing', async () => {
        let tampered = false;
        const tamperLargeUpload = (chunk: Buffer) => {
          if (tampered) return chunk;
          tampered = true;
          const copy = Buffer.from(chunk);
          copy[copy.length - 1] ^= 0xff;
          return copy;
        };
        const host = await connect(target(), asRoot({ tamperLargeUpload }));
        const remotePath = join(dir, 'corrupted', 'large.bin');
        await rejectsWith(host.uploadLarge({ localPath: source, remotePath, mode: 0o644 }), 'other', new RegExp(`received different bytes \\(berth: checksum mismatch: sent ${expected}`));
        assert.ok(tampered);
        assert.deepEqual(readdirSync(join(dir, 'corrupted')), []);
      });

      it('reports a transfer cut short and places nothing', async () => {
        let dropped = false;
        // One chunk of 1 MiB never reaches the host: it gets the rest and the hash line, short of the size.
        const tamperLargeUpload = (chunk: Buffer) => (dropped ? chunk : ((dropped = true), Buffer.alloc(0)));
        const host = await connect(target(), asRoot({ tamperLargeUpload }));
        const remotePath = join(dir, 'short', 'large.bin');
        await rejectsWith(host.uploadLarge({ localPath: source, remotePath, mode: 0o644 }), 'other', new RegExp(`the transfer was cut short \\(berth: received ${size - 1024 * 1024 + 65} of ${size} bytes\\)`));
        assert.ok(dropped);
        assert.deepEqual(readdirSync(join(dir, 'short')), []);
      });
    });
  });

  describe('jump host', () => {
    let behind: TestSshd;
    before(async () => {
      behind = await TestSshd.start();
      behind.authorize('root', rootKey.publicKey);
    });
    after(async () => behind?.stop());

    it('reaches a host through a jump host, checking both host keys', async () => {
      const jumpLog = sshd.log().length;
      const questions: string[] = [];
      const host = await connect(
        { name: 'vm2', address: '127.0.0.1', port: behind.port, hostKey: behind.hostKeyFingerprint },
        asRoot({ jumpHost: { address: '127.0.0.1', port: sshd.port }, onNewHostKey: async (question, fp) => (questions.push(`${question.name} ${fp}`), true) }),
      );
      assert.equal((await host.exec('id -u')).stdout, '0\n');
      assert.deepEqual(questions, [`jump host for vm2 ${sshd.hostKeyFingerprint}`]);
      assert.deepEqual(host.jumpHostKey, { fingerprint: sshd.hostKeyFingerprint, source: 'accepted' });
      assert.deepEqual(host.hostKey, { fingerprint: behind.hostKeyFingerprint, source: 'pinned' });
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.match(sshd.log().slice(jumpLog), /Accepted publickey for root/);
    });
  });
});
