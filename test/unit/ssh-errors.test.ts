import assert from 'node:assert/strict';
import { Secret } from '../../src/answers/secret';
import { clearSecretsForTest } from '../../src/engine/redact';
import { connectError, hostLabel, lastLines, type ConnectContext } from '../../src/ssh/errors';

const context: ConnectContext = {
  label: hostLabel('vm1', '203.0.113.5', 22),
  tcpConnected: false,
  authTried: [],
  user: 'root',
  timeoutSeconds: 20,
};

describe('SSH error classification', () => {
  afterEach(() => clearSecretsForTest());

  it('names the host, its address and port, and the jump host', () => {
    assert.equal(hostLabel('vm1', '203.0.113.5', 22), 'vm1 (203.0.113.5 port 22)');
    assert.equal(hostLabel('vm2', '10.0.0.2', 2222, 'bastion port 22'), 'vm2 (10.0.0.2 port 2222, via jump host bastion port 22)');
  });

  it('maps socket errors and ssh2 levels to kinds', () => {
    const kind = (failure: { message: string; code?: string; level?: string }, extra: Partial<ConnectContext> = {}) => connectError(failure, { ...context, ...extra }).kind;
    assert.equal(kind({ message: 'getaddrinfo ENOTFOUND x.invalid', code: 'ENOTFOUND', level: 'client-socket' }), 'dns');
    assert.equal(kind({ message: 'getaddrinfo EAI_AGAIN x', code: 'EAI_AGAIN' }), 'dns');
    assert.equal(kind({ message: "Error while looking up IPv4 address for 'x'", level: 'client-dns' }), 'dns');
    assert.equal(kind({ message: 'connect ECONNREFUSED 203.0.113.5:22', code: 'ECONNREFUSED' }), 'refused');
    assert.equal(kind({ message: 'Connection refused' }), 'refused');
    assert.equal(kind({ message: 'connect EHOSTUNREACH', code: 'EHOSTUNREACH' }), 'unreachable');
    assert.equal(kind({ message: 'connect ENETUNREACH', code: 'ENETUNREACH' }), 'unreachable');
    assert.equal(kind({ message: 'connect ETIMEDOUT', code: 'ETIMEDOUT' }), 'timeout');
    assert.equal(kind({ message: 'timed out', level: 'client-timeout' }), 'timeout');
    assert.equal(kind({ message: 'All configured authentication methods failed', level: 'client-authentication' }), 'auth');
    assert.equal(kind({ message: 'read ECONNRESET', code: 'ECONNRESET' }), 'lost');
    assert.equal(kind({ message: 'Connection lost before handshake', level: 'protocol' }), 'lost');
    assert.equal(kind({ message: 'Handshake failed: no matching cipher', level: 'handshake' }), 'other');
  });

  it('says what to check, per kind', () => {
    assert.equal(connectError({ message: 'x', code: 'ENOTFOUND' }, context).message, 'vm1 (203.0.113.5 port 22): the name could not be resolved');
    assert.equal(connectError({ message: 'x', code: 'ECONNREFUSED' }, context).message, 'vm1 (203.0.113.5 port 22): connection refused (nothing listens on that port)');
    assert.equal(connectError({ message: 'x', level: 'client-timeout' }, context).message, 'vm1 (203.0.113.5 port 22): no answer within 20 s');
    assert.equal(
      connectError({ message: 'x', level: 'client-timeout' }, { ...context, tcpConnected: true }).message,
      'vm1 (203.0.113.5 port 22): connected, but no SSH handshake and login within 20 s',
    );
  });

  it('lists the authentication methods tried and those the server accepts', () => {
    const error = connectError(
      { message: 'All configured authentication methods failed', level: 'client-authentication' },
      { ...context, authTried: ['publickey (key file /k)', 'password'], authAccepted: ['publickey', 'password'] },
    );
    assert.equal(error.message, 'vm1 (203.0.113.5 port 22): authentication as root failed; tried publickey (key file /k), password; the server accepts: publickey, password');
    assert.match(connectError({ message: 'x', level: 'client-authentication' }, context).message, /tried no method \(none configured\)/);
  });

  it('redacts secrets in messages it passes on', () => {
    new Secret('hunter2-secret', 'test');
    assert.equal(connectError({ message: 'weird failure with hunter2-secret' }, context).message, 'vm1 (203.0.113.5 port 22): weird failure with [redacted]');
    assert.equal(lastLines('a\nb\nc hunter2-secret\n', 2), 'b\nc [redacted]');
  });
});
