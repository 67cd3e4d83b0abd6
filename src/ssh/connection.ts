import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { constants } from 'node:os';
import { Readable, Transform, type Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { Client, ClientChannel } from 'ssh2';
import { pack } from 'tar-stream';
import type { Secret } from '../answers/secret';
import { redact } from '../engine/redact';
import { SshError, type ExecOptions, type ExecResult, type HostConnection, type LargeUpload, type UploadEntry } from '../engine/transport';
import { Credentials, forwardThrough, knownKeys, openSession, type HostKeyInfo } from './connect';
import { hostLabel, lastLines } from './errors';
import {
  LARGE_UPLOAD_CHECKSUM,
  LARGE_UPLOAD_SHORT,
  SCRIPT_NOT_RECEIVED,
  SUDO_PASSWORD_CHECK,
  SUDO_PROBE,
  TIMEOUT_EXIT_CODES,
  KILL_AFTER_SECONDS,
  largeUploadScript,
  scriptCommand,
  scriptPreamble,
  sudoPasswordLine,
  uploadPlan,
  type Privilege,
} from './remote';
import { DEFAULT_KNOWN_HOSTS, type SshSettings, type SshTarget } from './settings';

const DEFAULT_TIMEOUT_MS = 10 * 60_000;

/** How a command is run on the host: the sudo mode and, for sudo -S, the password. */
interface RunAs {
  privilege: Privilege;
  password?: Secret;
}

/** What a raw command gets on stdin after nothing (the writer ends the stream). */
type InputWriter = (stdin: Writable) => void;

interface RunOptions {
  timeoutMs: number;
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
}

/**
 * An SSH connection to one host, implementing the engine's HostConnection.
 * One ssh2 session is reused for every command; when it drops between
 * commands the next command reconnects (with the host key seen first, so a
 * swapped host is still refused). A command running when it drops rejects
 * with kind 'lost'.
 */
export class SshConnection implements HostConnection {
  readonly name: string;
  readonly address: string;
  readonly user: string;
  readonly port: number;
  private readonly label: string;
  private session?: { client: Client; jump?: Client };
  private connecting?: Promise<Client>;
  private runAs?: Promise<RunAs>;
  private readonly inFlight = new Set<(error: SshError) => void>();
  private closed = false;
  /** Set by the first connection; every reconnection must see the same keys. */
  private knownHostKey!: HostKeyInfo;
  private knownJumpHostKey?: HostKeyInfo;

  private constructor(
    private readonly target: SshTarget,
    private readonly settings: SshSettings,
    /** The jump host's too: it logs in the same way, only its user may differ. */
    private readonly credentials: Credentials,
  ) {
    this.name = target.name;
    this.address = target.address;
    this.port = target.port ?? 22;
    this.user = settings.user;
    this.label = hostLabel(this.name, this.address, this.port, settings.jumpHost && `${settings.jumpHost.address} port ${settings.jumpHost.port ?? 22}`);
  }

  /** The host's key and what vouched for it; `accepted` means the caller should pin it (hosts[].hostKey). */
  get hostKey(): HostKeyInfo {
    return this.knownHostKey;
  }

  /** The jump host's key, when there is one, likewise. */
  get jumpHostKey(): HostKeyInfo | undefined {
    return this.knownJumpHostKey;
  }

  static async open(target: SshTarget, settings: SshSettings): Promise<SshConnection> {
    const label = hostLabel(target.name, target.address, target.port ?? 22);
    const connection = new SshConnection(target, settings, await Credentials.load(settings, label));
    await connection.client();
    return connection;
  }

  /** The live ssh2 client, connecting (once, shared by concurrent callers) when there is none. */
  private client(): Promise<Client> {
    if (this.closed) return Promise.reject(new SshError('other', `${this.label}: the connection was closed`));
    if (this.session) return Promise.resolve(this.session.client);
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<Client> {
    const { settings } = this;
    const knownHostsPath = settings.knownHostsPath === undefined ? DEFAULT_KNOWN_HOSTS : settings.knownHostsPath;
    let jump: Client | undefined;
    let sock;
    if (settings.jumpHost) {
      const { address, port = 22, user = settings.user, hostKey } = settings.jumpHost;
      const jumpLabel = hostLabel(`jump host for ${this.name}`, address, port);
      const jumpSession = await openSession({
        label: jumpLabel,
        question: { name: `jump host for ${this.name}`, address, port, jumpFor: this.name },
        address,
        port,
        user,
        pinned: this.knownJumpHostKey?.fingerprint ?? hostKey,
        known: knownKeys(knownHostsPath, address, port),
        credentials: this.credentials,
        settings,
      });
      this.knownJumpHostKey ??= jumpSession.hostKey;
      jump = jumpSession.client;
      jump.on('error', () => undefined); // its loss shows as the target's loss
      try {
        sock = await forwardThrough(jump, this.address, this.port, this.label, settings.connectTimeoutMs ?? 20_000);
      } catch (error) {
        jump.end();
        throw error;
      }
    }
    let session;
    try {
      session = await openSession({
        label: this.label,
        question: { name: this.name, address: this.address, port: this.port },
        address: this.address,
        port: this.port,
        user: this.user,
        sock,
        pinned: this.knownHostKey?.fingerprint ?? this.target.hostKey,
        known: knownKeys(knownHostsPath, this.address, this.port),
        credentials: this.credentials,
        settings,
      });
    } catch (error) {
      jump?.end();
      throw error;
    }
    const { client } = session;
    if (this.closed) {
      // close() was called while this connection was being made
      client.end();
      jump?.end();
      throw new SshError('other', `${this.label}: the connection was closed`);
    }
    this.knownHostKey ??= session.hostKey;
    this.session = { client, jump };
    let lastError = '';
    client.on('error', (error: Error) => (lastError = error.message));
    client.on('close', () => {
      if (this.session?.client === client) this.session = undefined;
      jump?.end();
      const lost = new SshError(
        'lost',
        `${this.label}: the connection was lost while a command ran${lastError ? ` (${redact(lastError)})` : ''}; it may or may not have finished`,
        'Rerun: berth continues where it stopped.',
      );
      for (const reject of this.inFlight) reject(lost);
    });
    return client;
  }

  /**
   * Runs `command` with the stdin `writeInput` writes, collecting output.
   * Resolves with the exit code; rejects with 'lost' or 'timeout'.
   */
  private async run(command: string, writeInput: InputWriter, options: RunOptions): Promise<ExecResult> {
    let client = await this.client();
    let channel: Exec;
    try {
      channel = await openExec(client, command);
    } catch (error) {
      const message = (error as Error).message;
      if (this.session?.client === client) throw new SshError('other', `${this.label}: cannot start a command: ${message}`);
      // ssh2's words once the exec request went out: the command may have started.
      if (message === 'Unable to exec') throw new SshError('lost', `${this.label}: the connection was lost as a command started; it may or may not have run`);
      // The connection dropped before the command was sent: connect again and send it.
      client = await this.client();
      channel = await openExec(client, command);
    }
    return new Promise<ExecResult>((resolve, reject) => {
      let stdout = '';
      let stderr = '';
      let timer: NodeJS.Timeout | undefined;
      const finish = (error?: SshError) => {
        clearTimeout(timer);
        this.inFlight.delete(finish);
        if (error) {
          channel.destroy();
          reject(error);
        } else if (channel.exitCode === undefined) {
          reject(new SshError('lost', `${this.label}: the command ended without an exit status; the connection may have dropped`));
        } else {
          resolve({ code: channel.exitCode, stdout, stderr });
        }
      };
      this.inFlight.add(finish);
      if (options.timeoutMs > 0) {
        timer = setTimeout(
          () => finish(new SshError('timeout', `${this.label}: no answer from the command within ${Math.round(options.timeoutMs / 1000)} s`)),
          options.timeoutMs,
        );
      }
      const out = new StringDecoder('utf8');
      const err = new StringDecoder('utf8');
      // Both streams must be read, or the channel never closes.
      channel.on('data', (chunk: Buffer) => {
        const text = out.write(chunk);
        stdout += text;
        if (text) options.onStdout?.(text);
      });
      channel.stderr.on('data', (chunk: Buffer) => {
        const text = err.write(chunk);
        stderr += text;
        if (text) options.onStderr?.(text);
      });
      channel.on('error', () => undefined); // writes after the command exited; the exit status tells
      channel.on('close', () => {
        stdout += out.end();
        stderr += err.end();
        finish();
      });
      writeInput(channel);
    });
  }

  /** How to become root (or stay the login user), found out once per connection. */
  private runAsFor(asRoot: boolean): Promise<RunAs> {
    if (!asRoot || this.user === 'root') return Promise.resolve({ privilege: 'login' });
    this.runAs ??= this.detectSudo().catch((error: unknown) => {
      this.runAs = undefined; // ask again next time, e.g. after the user fixed sudoers
      throw error;
    });
    return this.runAs;
  }

  private async detectSudo(): Promise<RunAs> {
    const options = { timeoutMs: 60_000 };
    const probe = await this.run(SUDO_PROBE, (stdin) => stdin.end(), options);
    if (probe.code === 0) return { privilege: 'sudo' };
    if (!/password is required/.test(probe.stderr)) {
      throw new SshError('sudo', `${this.label}: ${this.user} cannot run commands as root with sudo: ${lastLines(probe.stderr, 3) || `sudo exited ${probe.code}`}`, 'Log in as root, or give the user sudo rights.');
    }
    const password = this.settings.sudoPassword ?? (await this.settings.askSudoPassword?.(this.target, this.user));
    if (!password) {
      throw new SshError('sudo', `${this.label}: sudo needs ${this.user}'s password and none was given`, 'Set ssh.sudoPassword in the answers file, or run berth on a terminal to be asked.');
    }
    const check = await this.run(SUDO_PASSWORD_CHECK, (stdin) => stdin.end(sudoPasswordLine(password.reveal())), options);
    if (check.code !== 0) {
      throw new SshError('sudo', `${this.label}: sudo refused ${this.user}: ${lastLines(check.stderr, 3) || `sudo exited ${check.code}`}`, 'Check ssh.sudoPassword and that the user may use sudo.');
    }
    return { privilege: 'sudo-password', password };
  }

  /** A script with the bootstrap of remote.ts, as root or as the login user. */
  private async runScript(script: string, asRoot: boolean, writeInput: InputWriter, options: RunOptions): Promise<ExecResult> {
    const runAs = await this.runAsFor(asRoot);
    const timeoutSeconds = Math.ceil(options.timeoutMs / 1000);
    const command = scriptCommand(runAs.privilege, timeoutSeconds);
    const preamble = scriptPreamble(script, runAs.password?.reveal());
    const started = Date.now();
    const result = await this.run(
      command,
      (stdin) => {
        stdin.write(preamble);
        writeInput(stdin);
      },
      // The host's `timeout` stops the command; this one only fires when the host does not answer at all.
      { ...options, timeoutMs: options.timeoutMs > 0 ? options.timeoutMs + (KILL_AFTER_SECONDS + 20) * 1000 : 0 },
    );
    if (options.timeoutMs > 0 && TIMEOUT_EXIT_CODES.includes(result.code) && Date.now() - started >= options.timeoutMs - 1000) {
      throw new SshError('timeout', `${this.label}: the command did not finish within ${timeoutSeconds} s and was stopped${result.stderr ? `; its last error output:\n${lastLines(result.stderr)}` : ''}`);
    }
    if (result.code === SCRIPT_NOT_RECEIVED && result.stdout === '') {
      throw new SshError('lost', `${this.label}: the script did not reach the host whole${result.stderr ? `: ${lastLines(result.stderr, 3)}` : ''}`);
    }
    return result;
  }

  exec(script: string, options: ExecOptions = {}): Promise<ExecResult> {
    const { stdin } = options;
    return this.runScript(
      script,
      options.asRoot ?? true,
      (channel) => {
        if (!(stdin instanceof Readable)) return channel.end(stdin);
        stdin.on('error', () => channel.destroy()); // the command sees its input cut short
        stdin.pipe(channel);
      },
      { timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS, onStdout: options.onStdout, onStderr: options.onStderr },
    );
  }

  async upload(entries: readonly UploadEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const plan = uploadPlan(entries, randomBytes(6).toString('hex'));
    const archive = pack();
    for (const member of plan.members) archive.entry({ name: member.name, mode: 0o600, type: 'file' }, Buffer.from(member.content));
    archive.finalize();
    const result = await this.runScript(plan.script, true, (channel) => (plan.members.length ? archive.pipe(channel) : channel.end()), { timeoutMs: DEFAULT_TIMEOUT_MS });
    if (result.code !== 0) {
      const paths = entries.map((entry) => entry.path);
      throw new SshError('other', `${this.label}: placing ${paths.length === 1 ? paths[0] : `${paths.length} files`} failed (exit ${result.code}): ${lastLines(result.stderr, 5)}`);
    }
  }

  async uploadLarge(upload: LargeUpload): Promise<{ sha256: string }> {
    const size = (await stat(upload.localPath)).size;
    const script = largeUploadScript(upload, size, randomBytes(6).toString('hex'));
    const source = createReadStream(upload.localPath, { highWaterMark: 1 << 20, ...(size > 0 ? { end: size - 1 } : {}) });
    // The SHA-256 of the bytes as they are read, before the tamper hook: what the host must have received.
    // Here on the main thread, from the chunks in hand: a worker re-reading the file cost about twice the CPU,
    // on the same cores that encrypt and, on a shared machine, in the same scheduling share (BENCHMARKS.md).
    const hash = createHash('sha256');
    let sha256: string | undefined;
    let sent = 0;
    let readError: Error | undefined;
    const send = (channel: Writable) => {
      const fail = (error: Error) => {
        readError = error;
        channel.destroy();
      };
      source.on('data', (chunk) => {
        hash.update(chunk);
        sent += chunk.length;
        upload.onProgress?.(sent, size);
      });
      source.on('error', fail);
      const tamper = this.settings.tamperLargeUpload;
      const wire = tamper ? new Transform({ transform: (chunk: Buffer, _encoding, done) => done(null, tamper(chunk)) }) : undefined;
      // The hash line follows the last byte that reached the channel.
      (wire ?? source).on('end', () => {
        sha256 = hash.digest('hex');
        channel.end(`${sha256}\n`);
      });
      if (wire) source.pipe(wire).pipe(channel, { end: false });
      else source.pipe(channel, { end: false });
    };
    let result: ExecResult;
    try {
      result = await this.runScript(script, true, send, { timeoutMs: 0 });
    } catch (error) {
      throw readError ? new SshError('other', `${this.label}: reading ${upload.localPath} failed: ${readError.message}`) : error;
    } finally {
      source.destroy(); // when the host stopped early, the rest is never read
    }
    if (result.code === 0 && sha256 !== undefined) return { sha256 };
    const what = `${this.label}: uploading ${upload.localPath} to ${upload.remotePath} failed`;
    if (result.code === LARGE_UPLOAD_CHECKSUM) {
      throw new SshError('other', `${what}: the host received different bytes (${lastLines(result.stderr, 1)})`, 'Retry; if it happens again, the network or a disk corrupts data.');
    }
    if (result.code === LARGE_UPLOAD_SHORT) throw new SshError('other', `${what}: the transfer was cut short (${lastLines(result.stderr, 1)})`);
    throw new SshError('other', `${what} (exit ${result.code}): ${lastLines(result.stderr, 5)}`);
  }

  async close(): Promise<void> {
    this.closed = true;
    const session = this.session;
    this.session = undefined;
    if (!session) return;
    const closed = new Promise<void>((resolve) => session.client.once('close', () => resolve()));
    session.client.end();
    session.jump?.end();
    await closed;
  }
}

/** An exec channel and the command's exit status once it came (a signal as 128 + its number). */
type Exec = ClientChannel & { exitCode?: number };

/**
 * Starts `command`. The exit status is caught from the start: a command that
 * ends at once (sudo -n refusing) may send it in the same burst of packets as
 * the channel's opening, and ssh2 emits `exit` while still parsing them,
 * before a caller awaiting this promise could listen (its output is buffered,
 * the exit event is not).
 */
export function openExec(client: Pick<Client, 'exec'>, command: string): Promise<Exec> {
  return new Promise((resolve, reject) => {
    try {
      client.exec(command, (error, channel: Exec) => {
        if (error) return reject(error);
        channel.on('exit', (code: number | null, signal?: string) => {
          channel.exitCode = code ?? 128 + (constants.signals[`SIG${signal}` as keyof typeof constants.signals] ?? 0);
        });
        resolve(channel);
      });
    } catch (error) {
      reject(error as Error); // ssh2 throws when the socket is gone
    }
  });
}

/** Connects to `target` and logs in; rejects with an SshError naming the host and what failed. */
export function connectHost(target: SshTarget, settings: SshSettings): Promise<SshConnection> {
  return SshConnection.open(target, settings);
}
