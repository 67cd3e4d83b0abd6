import { readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Client, utils, type AnyAuthMethod, type AuthenticationType, type ConnectConfig, type ParsedKey } from 'ssh2';
import type { Secret } from '../answers/secret';
import { SshError } from '../engine/transport';
import { connectError, type ConnectContext } from './errors';
import { fingerprint, hostKeyVerdict, knownHostsName, knownKeysFor, preferKnownKeyTypes, type KnownHostKey } from './host-key';
import type { HostKeyQuestion, SshSettings } from './settings';

/**
 * Opening one SSH session (to a host or to its jump host): host key check,
 * authentication, a connect timeout that does not run while the user is
 * asked about a new key, and errors that say what failed.
 */

/** AES-GCM first: Node runs it natively, and it needs no separate MAC. */
export const CIPHERS = ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'aes128-ctr', 'aes192-ctr', 'aes256-ctr', 'chacha20-poly1305@openssh.com'];

const HOST_KEY_ALGORITHMS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];

export interface HostKeyInfo {
  fingerprint: string;
  /** What vouched for it: the pinned fingerprint, known_hosts, or the user (or --accept-new-host-keys) just now. */
  source: 'pinned' | 'known_hosts' | 'accepted';
}

/** One way to log in, with the words used for it in messages. */
interface LoginMethod {
  label: string;
  /** The method name the server lists when it accepts this one. */
  serverMethod: AuthenticationType;
  auth: (username: string) => AnyAuthMethod;
}

/** The login methods, resolved once per host so that reconnecting asks nothing again. */
export class Credentials {
  private constructor(private readonly methods: readonly LoginMethod[]) {}

  static async load(settings: SshSettings, label: string): Promise<Credentials> {
    const methods: LoginMethod[] = [];
    if (settings.privateKeyPath) {
      const path = settings.privateKeyPath;
      const key = await loadPrivateKey(path, settings, label);
      methods.push({ label: `publickey (key file ${path})`, serverMethod: 'publickey', auth: (username) => ({ type: 'publickey', username, key }) });
    }
    if (settings.agentSocket) {
      const agent = settings.agentSocket;
      methods.push({ label: `publickey (ssh-agent at ${agent})`, serverMethod: 'publickey', auth: (username) => ({ type: 'agent', username, agent }) });
    }
    if (settings.password) {
      const password = settings.password;
      methods.push({ label: 'password', serverMethod: 'password', auth: (username) => ({ type: 'password', username, password: password.reveal() }) });
    }
    return new Credentials(methods);
  }

  /** An ssh2 authHandler trying each method the server accepts, in order, recording what it tried. */
  handler(username: string, tried: string[], accepted: { methods?: string[] }): ConnectConfig['authHandler'] {
    const queue = [...this.methods];
    return (methodsLeft, _partial, next) => {
      // The first round asks with "none", which tells which methods the server accepts.
      if (methodsLeft === null) return next({ type: 'none', username });
      accepted.methods = methodsLeft;
      for (let method = queue.shift(); method; method = queue.shift()) {
        if (!methodsLeft.includes(method.serverMethod)) continue;
        tried.push(method.label);
        return next(method.auth(username));
      }
      return next(false as unknown as AuthenticationType); // ssh2 takes false for "no more methods"
    };
  }
}

async function loadPrivateKey(path: string, settings: SshSettings, label: string): Promise<ParsedKey> {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (error) {
    throw new SshError('auth', `${label}: cannot read the private key ${path}: ${(error as Error).message}`);
  }
  let parsed = utils.parseKey(data);
  if (parsed instanceof Error && /no passphrase given/i.test(parsed.message)) {
    const passphrase: Secret | undefined = settings.passphrase ?? (await settings.askPassphrase?.(path));
    if (!passphrase) {
      throw new SshError('auth', `${label}: the private key ${path} is encrypted and no passphrase was given`, 'Set ssh.passphrase in the answers file or run berth on a terminal to be asked.');
    }
    parsed = utils.parseKey(data, passphrase.reveal());
    if (parsed instanceof Error) throw new SshError('auth', `${label}: the passphrase does not open the private key ${path}`);
  }
  if (parsed instanceof Error) throw new SshError('auth', `${label}: ${path} is not a private key ssh2 can read (${parsed.message})`);
  const key = Array.isArray(parsed) ? (parsed[0] as ParsedKey) : parsed;
  if (!key.isPrivateKey()) throw new SshError('auth', `${label}: ${path} holds a public key; give the private key file`);
  return key;
}

/** The keys known_hosts lists for a host; an unreadable or missing file lists none. */
export function knownKeys(path: string | null | undefined, address: string, port: number): KnownHostKey[] {
  if (!path) return [];
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return knownKeysFor(text, knownHostsName(address, port));
}

export interface SessionRequest {
  label: string;
  question: HostKeyQuestion;
  address: string;
  port: number;
  user: string;
  /** A forwarded channel through a jump host instead of a TCP connection. */
  sock?: Duplex;
  pinned?: string;
  known: readonly KnownHostKey[];
  credentials: Credentials;
  settings: SshSettings;
}

export interface Session {
  client: Client;
  hostKey: HostKeyInfo;
}

/** Connects, checks the host key, logs in; rejects with an SshError naming the host. */
export function openSession(request: SessionRequest): Promise<Session> {
  const { label, settings } = request;
  const timeoutMs = settings.connectTimeoutMs ?? 20_000;
  const tried: string[] = [];
  const accepted: { methods?: string[] } = {};
  const context = (): ConnectContext => ({
    label,
    tcpConnected: request.sock !== undefined || tcpConnected,
    authTried: tried,
    authAccepted: accepted.methods,
    user: request.user,
    timeoutSeconds: Math.round(timeoutMs / 1000),
  });
  const client = new Client();
  let tcpConnected = false;
  let hostKey: HostKeyInfo | undefined;
  let hostKeyError: SshError | undefined;
  let settled = false;
  let timer: NodeJS.Timeout | undefined;

  return new Promise<Session>((resolve, reject) => {
    const fail = (error: SshError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.destroy();
      reject(error);
    };
    const startTimer = () => {
      timer = setTimeout(() => fail(connectError({ message: 'timed out', level: 'client-timeout' }, context())), timeoutMs);
    };
    const refuse = (error: SshError, verify: (ok: boolean) => void) => {
      hostKeyError = error;
      verify(false);
      fail(error);
    };

    client.on('connect', () => (tcpConnected = true));
    client.on('error', (error: Error & { code?: string; level?: string }) => {
      if (error.level === 'agent') return; // an unusable agent is one failed method; the auth error lists it
      fail(hostKeyError ?? connectError(error, context()));
    });
    client.on('close', () => fail(hostKeyError ?? connectError({ message: 'connection closed', level: 'protocol' }, context())));
    client.on('ready', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ client, hostKey: hostKey! });
    });

    const hostVerifier = (key: Buffer, verify: (ok: boolean) => void) => {
      const offered = fingerprint(key);
      const verdict = hostKeyVerdict(key, request.pinned, request.known);
      if (verdict.trusted) {
        hostKey = { fingerprint: offered, source: verdict.source };
        return verify(true);
      }
      if (verdict.reason === 'mismatch') {
        return refuse(
          new SshError(
            'hostkey',
            `${label}: HOST KEY MISMATCH: expected ${verdict.expected} (${verdict.expectedFrom === 'pinned' ? 'pinned in the answers file' : 'from known_hosts'}), the host offered ${offered}. Nothing was sent to it.`,
            verdict.expectedFrom === 'pinned'
              ? 'If the host was reinstalled, check the new key out of band and replace hostKey in the answers file; otherwise someone may be intercepting the connection.'
              : `If the host was reinstalled, check the new key out of band and remove the old one with: ssh-keygen -R ${knownHostsName(request.address, request.port)}`,
          ),
          verify,
        );
      }
      if (verdict.reason === 'revoked') {
        return refuse(new SshError('hostkey', `${label}: the host offered ${offered}, a key marked @revoked in known_hosts. Nothing was sent to it.`), verify);
      }
      if (verdict.reason === 'other-type') {
        return refuse(
          new SshError(
            'hostkey',
            `${label}: the host offered a ${verdict.offeredType} key ${offered}, but known_hosts knows it by another key: ${verdict.known.map((k) => `${k.keyType} ${k.fingerprint}`).join(', ')}. This is not a new host, so its key is not trusted as new. Nothing was sent to it.`,
            `Check ${offered} out of band (on the host: ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub) and pin it as hostKey in the answers file.`,
          ),
          verify,
        );
      }
      if (!settings.onNewHostKey) {
        return refuse(
          new SshError(
            'hostkey',
            `${label}: unknown host key ${offered}; nothing vouches for it and nobody was asked`,
            'Pin it as hostKey in the answers file, run on a terminal to be asked, or pass --accept-new-host-keys to trust the keys of hosts seen for the first time.',
          ),
          verify,
        );
      }
      clearTimeout(timer); // the user's time to answer does not count
      settings.onNewHostKey(request.question, offered).then(
        (ok) => {
          if (!ok) return refuse(new SshError('hostkey', `${label}: the host key ${offered} was not accepted`), verify);
          hostKey = { fingerprint: offered, source: 'accepted' };
          startTimer();
          verify(true);
        },
        (error: unknown) => refuse(new SshError('hostkey', `${label}: checking the host key failed: ${(error as Error).message}`), verify),
      );
    };

    startTimer();
    client.connect({
      sock: coalesceWrites(request.sock ?? tcpSocket(request.address, request.port)),
      username: request.user,
      authHandler: request.credentials.handler(request.user, tried, accepted),
      hostVerifier,
      readyTimeout: 0, // the timer above, which pauses while the user is asked
      keepaliveInterval: settings.keepaliveIntervalMs ?? 15_000,
      keepaliveCountMax: settings.keepaliveCountMax ?? 4,
      algorithms: { cipher: CIPHERS as never, serverHostKey: preferKnownKeyTypes(HOST_KEY_ALGORITHMS, request.known) as never },
    });
  });
}

/** A TCP connection without Nagle's delay: commands are small messages that wait for answers. */
function tcpSocket(address: string, port: number): Socket {
  const socket = new Socket();
  socket.setNoDelay(true);
  return socket.connect(port, address);
}

/**
 * ssh2 writes each packet in three or four pieces (length, body, tag); sent
 * one by one they become as many TCP segments, or as many SSH packets
 * through a jump host. Joining the writes of one tick sends each burst
 * whole. ssh2 ignores write()'s return value (its channel windows pace it),
 * so this loses nothing.
 */
function coalesceWrites(stream: Duplex): Duplex {
  const write = stream.write.bind(stream) as (chunk: Buffer) => boolean;
  const end = stream.end.bind(stream) as () => Duplex;
  let pending: Buffer[] | undefined;
  const flush = () => {
    const chunks = pending;
    pending = undefined;
    if (chunks && stream.writable) write(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
  };
  stream.write = ((chunk: Buffer) => {
    if (!pending) {
      pending = [];
      process.nextTick(flush);
    }
    pending.push(chunk);
    return true;
  }) as Duplex['write'];
  // ssh2 writes its goodbye and ends the stream in one go: the goodbye goes first.
  stream.end = (() => {
    flush();
    return end();
  }) as Duplex['end'];
  return stream;
}

/** A channel through `jump` to the target, for the target's session. */
export function forwardThrough(jump: Client, address: string, port: number, label: string, timeoutMs: number): Promise<Duplex> {
  const context: ConnectContext = { label, tcpConnected: false, authTried: [], user: '', timeoutSeconds: Math.round(timeoutMs / 1000) };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(connectError({ message: 'timed out', level: 'client-timeout' }, context)), timeoutMs);
    jump.forwardOut('127.0.0.1', 0, address, port, (error, channel) => {
      clearTimeout(timer);
      if (!error) return resolve(channel);
      const message = error.message.replace(/^\(SSH\) Channel open failure: /, '');
      reject(connectError(/not known|resolve|getaddrinfo/i.test(message) ? { message, code: 'ENOTFOUND' } : { message }, context));
    });
  });
}
