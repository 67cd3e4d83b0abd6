import { redact } from '../engine/redact';
import { SshError, type SshErrorKind } from '../engine/transport';

/** How a host is named in every message: `vm1 (203.0.113.5 port 22)`, plus the jump host when there is one. */
export function hostLabel(name: string, address: string, port: number, via?: string): string {
  return `${name} (${address} port ${port}${via ? `, via jump host ${via}` : ''})`;
}

/** The parts of an error that Node's sockets and ssh2 fill in. */
export interface ConnectFailure {
  message: string;
  /** errno name from the socket or resolver, e.g. ECONNREFUSED. */
  code?: string | number;
  /** ssh2's stage: client-socket, client-dns, client-timeout, client-authentication, protocol, handshake, agent. */
  level?: string;
}

/** What happened while connecting, beyond the error itself. */
export interface ConnectContext {
  label: string;
  /** Whether the TCP connection (or the jump host's forwarded channel) was established. */
  tcpConnected: boolean;
  /** The authentication methods tried, in order, e.g. `publickey (key file ~/.ssh/id_ed25519)`. */
  authTried: readonly string[];
  /** The methods the server said it accepts, once known. */
  authAccepted?: readonly string[];
  user: string;
  timeoutSeconds: number;
}

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_NODATA', 'EAI_FAIL']);
const UNREACHABLE_CODES = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL']);
const LOST_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

function kindOf(failure: ConnectFailure): SshErrorKind {
  const code = String(failure.code ?? '');
  if (failure.level === 'client-dns' || DNS_CODES.has(code)) return 'dns';
  if (code === 'ECONNREFUSED' || /connection refused/i.test(failure.message)) return 'refused';
  if (UNREACHABLE_CODES.has(code) || /no route to host|network is unreachable/i.test(failure.message)) return 'unreachable';
  if (code === 'ETIMEDOUT' || failure.level === 'client-timeout') return 'timeout';
  if (failure.level === 'client-authentication') return 'auth';
  if (LOST_CODES.has(code) || /connection lost|no response from server/i.test(failure.message)) return 'lost';
  return 'other';
}

/** An SshError for a failure to connect, naming the host and saying what to check. */
export function connectError(failure: ConnectFailure, context: ConnectContext): SshError {
  const kind = kindOf(failure);
  const { label } = context;
  switch (kind) {
    case 'dns':
      return new SshError(kind, `${label}: the name could not be resolved`, 'Check the address in the answers file and this machine\'s DNS.');
    case 'refused':
      return new SshError(kind, `${label}: connection refused (nothing listens on that port)`, 'Check that sshd runs on the host and that ssh.port is right.');
    case 'unreachable':
      return new SshError(kind, `${label}: host unreachable (${failure.message})`, 'Check the address, the network path and any firewall in between.');
    case 'timeout':
      return new SshError(
        kind,
        context.tcpConnected
          ? `${label}: connected, but no SSH handshake and login within ${context.timeoutSeconds} s`
          : `${label}: no answer within ${context.timeoutSeconds} s`,
        context.tcpConnected
          ? 'Something answers on that port but does not complete SSH; check the port and the server.'
          : 'The host may be down or a firewall drops the traffic; check the address and ssh.connectTimeout.',
      );
    case 'auth': {
      const tried = context.authTried.length ? context.authTried.join(', ') : 'no method (none configured)';
      const accepted = context.authAccepted?.length ? `; the server accepts: ${context.authAccepted.join(', ')}` : '';
      return new SshError(
        kind,
        `${label}: authentication as ${context.user} failed; tried ${tried}${accepted}`,
        'Check ssh.user, ssh.privateKey (is its public key in the host\'s authorized_keys?), the ssh-agent and ssh.password.',
      );
    }
    case 'lost':
      return new SshError(kind, `${label}: the connection was closed during the SSH handshake (${failure.message})`, 'The server may limit connections (MaxStartups) or block this address.');
    default:
      return new SshError(kind, `${label}: ${redact(failure.message)}`);
  }
}

/** The last lines of a command's error output, for messages. */
export function lastLines(text: string, count = 10): string {
  return redact(text.trimEnd().split('\n').slice(-count).join('\n'));
}
