/**
 * Real OpenSSH servers for integration tests: Debian's /usr/sbin/sshd on
 * 127.0.0.1, a free port, throwaway host keys and a private config, plus the
 * test users, keys and an ssh-agent the tests log in with. Needs root and
 * openssh-server, openssh-client and sudo (test/host-setup.sh installs them).
 */
import { pidAlive } from '../../src/engine/hoststate';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Users the tests log in as: one whose sudo needs no password, one whose sudo
 * needs theirs. Named after this process, so that test runs on one machine at
 * the same time leave each other's users alone.
 */
export const NOPASSWD_USER = `berthtest-nopw-${process.pid}`;
export const PASSWORD_USER = `berthtest-pw-${process.pid}`;
const SUDOERS_FILE = `/etc/sudoers.d/berthtest-${process.pid}`;
const TEST_USER = /^berthtest-(?:nopw|pw)-(\d+)$/;

export interface TestUsers {
  /** Login (and sudo) password of each test user. */
  password: Record<string, string>;
}

async function userExists(name: string): Promise<boolean> {
  try {
    await run('id', ['-u', name]);
    return true;
  } catch {
    return false;
  }
}

async function setPassword(name: string, password: string): Promise<void> {
  const child = spawn('chpasswd', [], { stdio: ['pipe', 'ignore', 'inherit'] });
  child.stdin.end(`${name}:${password}\n`);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`chpasswd for ${name} exited ${code}`);
}


/**
 * Writes a sudoers drop-in whole: sudo skips names with a dot, so the file is
 * written under one and renamed. Written in place, a sudo run by a test
 * running at the same time could read half of it and refuse everything.
 */
export async function writeSudoers(path: string, content: string): Promise<void> {
  const staged = `${dirname(path)}/.${basename(path)}.tmp`;
  writeFileSync(staged, content, { mode: 0o440 });
  try {
    await run('visudo', ['-c', '-q', '-f', staged]);
    renameSync(staged, path);
  } finally {
    rmSync(staged, { force: true });
  }
}

/** A rule read after the test users' own (sudo reads the drop-ins in name order, the last match wins). */
export const SUDOERS_OVERRIDE_FILE = `/etc/sudoers.d/berthtest-${process.pid}-z`;

async function removeUser(name: string, sudoersFile: string): Promise<void> {
  rmSync(sudoersFile, { force: true });
  rmSync(`${sudoersFile}-z`, { force: true });
  if (!(await userExists(name))) return;
  await run('pkill', ['-KILL', '-u', name]).catch(() => undefined);
  await run('userdel', ['--remove', name]).catch(() => undefined);
}

/** Removes test users (and their sudoers files) left by test runs that died before cleaning up. */
async function removeStaleTestUsers(): Promise<void> {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const match = TEST_USER.exec(line.split(':')[0]);
    if (match && !pidAlive(Number(match[1]))) await removeUser(match[0], `/etc/sudoers.d/berthtest-${match[1]}`);
  }
}

/** Creates this run's test users (idempotent: an existing one gets a fresh password) and their sudoers rules. */
export async function ensureTestUsers(): Promise<TestUsers> {
  await removeStaleTestUsers();
  const password: Record<string, string> = {};
  for (const name of [NOPASSWD_USER, PASSWORD_USER]) {
    if (!(await userExists(name))) await run('useradd', ['--create-home', '--shell', '/bin/bash', name]);
    password[name] = `Pw-${randomBytes(12).toString('base64url')}`;
    await setPassword(name, password[name]);
  }
  await writeSudoers(SUDOERS_FILE, `${NOPASSWD_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n${PASSWORD_USER} ALL=(ALL:ALL) ALL\n`);
  return { password };
}

export async function removeTestUsers(): Promise<void> {
  for (const name of [NOPASSWD_USER, PASSWORD_USER]) await removeUser(name, SUDOERS_FILE);
}

export interface KeyPair {
  path: string;
  /** The `ssh-ed25519 AAAA… comment` line. */
  publicKey: string;
}

export async function generateKey(dir: string, name: string, passphrase = ''): Promise<KeyPair> {
  const path = join(dir, name);
  rmSync(path, { force: true });
  rmSync(`${path}.pub`, { force: true });
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', name, '-f', path]);
  return { path, publicKey: readFileSync(`${path}.pub`, 'utf8').trim() };
}

/** The `SHA256:…` fingerprint OpenSSH prints for a public key file. */
export async function fingerprintOf(publicKeyPath: string): Promise<string> {
  const { stdout } = await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', publicKeyPath]);
  return stdout.split(' ')[1];
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export interface SshdOptions {
  /**
   * sshd_config lines that add to or override the defaults, e.g.
   * `SetEnv SHLVL=1`: bash then skips ~/.bashrc, which Debian's bash sources
   * for every SSH command and which on some machines is slow (root's here
   * runs pyenv, ~300 ms per command); a real VM's is not.
   */
  config?: string[];
  /**
   * Give sshd (and so every session) a private, empty /var/lib/berth: a
   * mount namespace of its own with a tmpfs there. Two such sshds act as two
   * hosts with their own berth state on one machine.
   */
  privateBerthState?: boolean;
}

/** One sshd on 127.0.0.1 with its own directory, host key, authorized keys and log. */
export class TestSshd {
  private output = '';

  private constructor(
    readonly dir: string,
    readonly port: number,
    /** Path of the host's public key, e.g. for known_hosts lines. */
    readonly hostPublicKeyPath: string,
    readonly hostKeyFingerprint: string,
    private readonly process: ChildProcess,
  ) {
    process.stderr!.setEncoding('utf8').on('data', (text: string) => {
      this.output += text;
    });
  }

  static async start(options: SshdOptions = {}): Promise<TestSshd> {
    const dir = mkdtempSync(join(tmpdir(), 'berth-sshd-'));
    chmodSync(dir, 0o755); // users read their authorized_keys below it
    mkdirSync(join(dir, 'authorized_keys'), { mode: 0o755 });
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege separation directory
    const hostKey = join(dir, 'host_ed25519');
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'berth-test-host', '-f', hostKey]);
    const port = await freePort();
    const config = [
      // sshd keeps the first value it reads for a keyword: these come first so that they win.
      ...(options.config ?? []),
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys', '%u')}`,
      'StrictModes no', // the keys live under /tmp, which is world-writable
      'UsePAM no',
      'PermitRootLogin yes',
      'PubkeyAuthentication yes',
      'PasswordAuthentication yes',
      'KbdInteractiveAuthentication no',
      'AllowTcpForwarding yes',
      'MaxSessions 50',
      'MaxStartups 50',
      'LogLevel VERBOSE',
      'Subsystem sftp /usr/lib/openssh/sftp-server',
    ];
    const configPath = join(dir, 'sshd_config');
    writeFileSync(configPath, `${config.join('\n')}\n`, { mode: 0o600 });
    const sshdArgs = ['/usr/sbin/sshd', '-D', '-e', '-f', configPath];
    if (options.privateBerthState) mkdirSync('/var/lib/berth', { recursive: true, mode: 0o700 });
    const [program, ...args] = options.privateBerthState
      ? ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount -t tmpfs -o mode=0700 berth-state /var/lib/berth && exec "$@"', 'sshd', ...sshdArgs]
      : sshdArgs;
    const child = spawn(program, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const sshd = new TestSshd(dir, port, `${hostKey}.pub`, await fingerprintOf(`${hostKey}.pub`), child);
    await sshd.waitForListening();
    return sshd;
  }

  private async waitForListening(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      if (this.output.includes('Server listening on')) return;
      if (this.process.exitCode !== null) throw new Error(`sshd exited ${this.process.exitCode}:\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`sshd did not start listening:\n${this.output}`);
  }

  /** The listening sshd's process id (its finished connections' CPU time adds up in its children's times). */
  get pid(): number {
    return this.process.pid!;
  }

  /** Everything sshd logged so far. */
  log(): string {
    return this.output;
  }

  /** Replaces the keys allowed to log in as `user`. */
  authorize(user: string, ...publicKeys: string[]): void {
    writeFileSync(join(this.dir, 'authorized_keys', user), publicKeys.map((key) => `${key}\n`).join(''), { mode: 0o644 });
  }

  /** A known_hosts line for this server, as OpenSSH writes it for a non-standard port. */
  knownHostsLine(hostPattern = `[127.0.0.1]:${this.port}`): string {
    const [type, key] = readFileSync(this.hostPublicKeyPath, 'utf8').split(' ');
    return `${hostPattern} ${type} ${key}`;
  }

  async stop(): Promise<void> {
    if (this.process.exitCode === null && this.process.signalCode === null) {
      const exited = new Promise((resolve) => this.process.once('exit', resolve));
      this.process.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A running ssh-agent holding the keys added to it. */
export class TestAgent {
  private constructor(
    readonly socket: string,
    private readonly process: ChildProcess,
  ) {}

  static async start(dir: string): Promise<TestAgent> {
    const socket = join(dir, `agent-${randomBytes(4).toString('hex')}.sock`);
    const child = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      try {
        readFileSync(socket);
      } catch (error) {
        // a socket cannot be read: ENXIO means it is there
        if ((error as NodeJS.ErrnoException).code === 'ENXIO') return new TestAgent(socket, child);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    child.kill();
    throw new Error('ssh-agent did not create its socket');
  }

  async add(keyPath: string): Promise<void> {
    await run('ssh-add', ['-q', keyPath], { env: { ...process.env, SSH_AUTH_SOCK: this.socket } });
  }

  async stop(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    const exited = new Promise((resolve) => this.process.once('exit', resolve));
    this.process.kill('SIGTERM');
    await exited;
  }
}
