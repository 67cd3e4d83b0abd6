import assert from 'node:assert/strict';
import { backupUnlessRevertPending, cancelRevertScript, revertStateScript, scheduleRevertScript } from '../../src/engine/commands';
import { ActionFailedError, executeActions, type ExecutorDeps } from '../../src/engine/executor';
import { memoryLog } from '../../src/engine/log';
import type { Action } from '../../src/engine/plan';
import type { ExecOptions, ExecResult, HostConnection, UploadEntry } from '../../src/engine/transport';
import { Secret } from '../../src/answers/secret';

/** A connection that records what it is asked and answers from a script of results. */
/** A host that confirms guarded changes: the revert had not run. */
const confirms = (script: string): Partial<ExecResult> => (script === cancelRevertScript('firewall') ? { stdout: 'confirmed\n' } : {});

function recordingConnection(answer: (script: string) => Partial<ExecResult> = confirms) {
  const calls: { script?: string; upload?: UploadEntry[]; uploadLarge?: string; stdin?: ExecOptions['stdin'] }[] = [];
  const conn: HostConnection = {
    name: 'vm1',
    address: '10.0.0.11',
    port: 22,
    user: 'root',
    async exec(script, options = {}) {
      calls.push({ script, stdin: options.stdin });
      return { code: 0, stdout: '', stderr: '', ...answer(script) };
    },
    async upload(entries) {
      calls.push({ upload: [...entries] });
    },
    async uploadLarge(upload) {
      calls.push({ uploadLarge: upload.localPath });
      for (const sent of [10, 55, 100]) upload.onProgress?.(sent, 100);
      return { sha256: 'a'.repeat(64) };
    },
    async close() {},
  };
  return { conn, calls };
}

function deps(conn: HostConnection, extra: Partial<ExecutorDeps> = {}): ExecutorDeps & { slept: number[] } {
  const slept: number[] = [];
  return {
    conn,
    phase: 'firewall',
    log: memoryLog(),
    revertAfterSeconds: 60,
    sleep: async (ms) => {
      slept.push(ms);
    },
    // A new connection on which the confirmation wins, as it does when no revert fired.
    connectFresh: async () => recordingConnection((s) => (s === cancelRevertScript('firewall') ? { stdout: 'confirmed\n' } : {})).conn,
    readPeerFile: async () => null,
    probeFromInstaller: async () => ({ status: 0, headers: {}, body: '', error: 'not used' }),
    slept,
    ...extra,
  };
}

describe('executor', () => {
  const upload: Action = { kind: 'upload', localPath: '/tmp/context.tar', remotePath: '/var/lib/berth/app/context.tar', sha256: 'a'.repeat(64), size: 100, mode: 0o600, title: 'the build context' };

  it('streams a large upload with progress in tenths, and checks it is the file that was planned', async () => {
    const { conn, calls } = recordingConnection();
    const progress: string[] = [];
    await executeActions(deps(conn, { onAction: (d) => progress.push(d) }), [upload]);
    assert.deepEqual(calls, [{ uploadLarge: '/tmp/context.tar' }]);
    const line = 'upload the build context to /var/lib/berth/app/context.tar (0.0 MB, sha256 aaaaaaaaaaaa)';
    assert.deepEqual(progress, [line, `${line}: 10%`, `${line}: 50%`]);
    const changed = { ...upload, sha256: 'b'.repeat(64) };
    await assert.rejects(executeActions(deps(conn), [changed]), (e: unknown) => e instanceof ActionFailedError && /context\.tar changed after the plan was made/.test(e.message) && e.hint === 'Run again: the new plan uses the file as it is now.');
  });

  it('checks from the installer machine until the answer is the expected one, else says what came back', async () => {
    const { conn } = recordingConnection();
    const check: Action = { kind: 'installer-check', title: 'the registry asks for a login', fact: 'anonymous', check: { url: 'https://10.0.0.12:5000/v2/' }, expectStatus: 401, timeoutMs: 0 };
    const answers = [0, 503, 401];
    let asked = 0;
    const probeFromInstaller = async () => ({ status: answers[asked++], headers: {}, body: '', error: 'connection refused' });
    await executeActions(deps(conn, { probeFromInstaller }), [{ ...check, timeoutMs: 10_000 }]);
    assert.equal(asked, 3);
    const refused = async () => ({ status: 0, headers: {}, body: '', error: 'connection refused' });
    await assert.rejects(executeActions(deps(conn, { probeFromInstaller: refused }), [check]), /https:\/\/10\.0\.0\.12:5000\/v2\/ answered no answer \(connection refused\), not HTTP 401/);
  });

  it("copies a file from another host as that host has it when the action runs", async () => {
    const { conn, calls } = recordingConnection();
    const copy: Action = { kind: 'copy', from: { host: 'vm2', path: '/etc/berth/registry/ca.crt' }, path: '/etc/docker/certs.d/10.0.0.12:5000/ca.crt', mode: 0o644, expected: 'old\n' };
    const read: string[] = [];
    const readPeerFile = async (host: string, path: string) => {
      read.push(`${host}:${path}`);
      return { content: 'PEM\n', mode: 0o644, owner: 'root', group: 'root' };
    };
    await executeActions(deps(conn, { readPeerFile }), [copy]);
    assert.deepEqual(read, ['vm2:/etc/berth/registry/ca.crt']);
    assert.deepEqual(calls, [{ upload: [{ path: '/etc/docker/certs.d/10.0.0.12:5000/ca.crt', content: 'PEM\n', mode: 0o644 }] }]);
    await assert.rejects(executeActions(deps(conn), [copy]), /vm2 has no \/etc\/berth\/registry\/ca\.crt/);
  });

  it('sends consecutive file writes in one upload, then runs the other actions in order', async () => {
    const { conn, calls } = recordingConnection();
    const actions: Action[] = [
      { kind: 'file', path: '/etc/a', content: 'a', mode: 0o644 },
      { kind: 'file', path: '/etc/b', content: 'b', mode: 0o600, owner: 'root' },
      { kind: 'service', unit: 'ssh.service', op: 'reload' },
      { kind: 'file', path: '/etc/c', content: 'c', mode: 0o644 },
    ];
    await executeActions(deps(conn), actions);
    assert.equal(calls.length, 3);
    assert.deepEqual(calls[0].upload?.map((e) => e.path), ['/etc/a', '/etc/b']);
    assert.equal(calls[1].script, 'systemctl reload ssh.service');
    assert.deepEqual(calls[2].upload?.map((e) => e.path), ['/etc/c']);
  });

  it('passes a secret on stdin, never in the script', async () => {
    const { conn, calls } = recordingConnection();
    const secret = new Secret('Stdin-Only-Secret-4711', 'literal');
    await executeActions(deps(conn), [{ kind: 'run', title: 'log in', script: 'docker login --password-stdin -u berth r:5000', stdin: secret }]);
    assert.equal(calls[0].stdin, 'Stdin-Only-Secret-4711');
    assert.ok(!calls[0].script!.includes('Stdin-Only-Secret-4711'));
  });

  it('logs output in whole lines, so that a secret split across two chunks is still redacted', async () => {
    const secret = new Secret('Split-Across-Chunks-5521', 'literal').reveal();
    const conn: HostConnection = {
      ...recordingConnection().conn,
      async exec(_script, options = {}) {
        options.onStdout?.(`token ${secret.slice(0, 9)}`);
        options.onStdout?.(`${secret.slice(9)} set\nnext line\nno newline at the end`);
        options.onStderr?.(`warning: ${secret.slice(0, 3)}`);
        options.onStderr?.(secret.slice(3));
        return { code: 0, stdout: '', stderr: '' };
      },
    };
    const d = deps(conn);
    await executeActions(d, [{ kind: 'run', title: 'print a token', script: 'print-token' }]);
    const log = (d.log as ReturnType<typeof memoryLog>).lines;
    assert.ok(!log.join('\n').includes(secret), log.join('\n'));
    assert.deepEqual(log.slice(-4), ['[vm1] token [redacted] set', '[vm1] next line', '[vm1] no newline at the end', '[vm1] warning: [redacted]']);
  });

  it('turns a failed command into an error naming host, phase, action, exit code and the end of stderr', async () => {
    const { conn } = recordingConnection(() => ({ code: 100, stderr: 'E: Unable to locate package nosuch\n' }));
    await assert.rejects(executeActions(deps(conn), [{ kind: 'packages', install: ['nosuch'] }]), (err: unknown) => {
      assert.ok(err instanceof ActionFailedError);
      assert.equal(err.message, 'vm1: firewall: "install packages: nosuch" failed with exit code 100:\nE: Unable to locate package nosuch');
      return true;
    });
    const build: Action = { kind: 'run', title: 'build the image', script: 'docker build -', hint: 'Fix the Dockerfile and run again.' };
    await assert.rejects(executeActions(deps(conn), [build]), (err: unknown) => err instanceof ActionFailedError && err.hint === 'Fix the Dockerfile and run again.');
  });

  const guarded: Action = {
    kind: 'guarded',
    title: 'load firewall rules',
    backup: 'iptables-save > /var/lib/berth/firewall/rollback.v4',
    actions: [{ kind: 'run', title: 'load rules', script: 'iptables-restore < /etc/berth/firewall/rules.v4' }],
    revert: 'iptables-restore < /var/lib/berth/firewall/rollback.v4',
    risk: 'SSH (port 22) would be closed to 10.0.0.1',
  };

  it('guarded change: backup, schedule the revert, apply, prove a new login, cancel the revert over it', async () => {
    const { conn, calls } = recordingConnection();
    const proof = recordingConnection();
    let proofs = 0;
    await executeActions(
      deps(conn, {
        connectFresh: async () => {
          proofs++;
          return proof.conn;
        },
      }),
      [guarded],
    );
    const scripts = calls.map((c) => c.script!);
    assert.equal(scripts[0], backupUnlessRevertPending('firewall', 'iptables-save > /var/lib/berth/firewall/rollback.v4'), 'the backup, unless an unconfirmed change awaits its revert');
    assert.equal(scripts[1], scheduleRevertScript('firewall', 'iptables-restore < /var/lib/berth/firewall/rollback.v4', 60));
    assert.equal(scripts[2], 'iptables-restore < /etc/berth/firewall/rules.v4');
    assert.equal(scripts.length, 3);
    // The change may have made the old connection's way to root stale (a sudo rule that now asks for a password).
    assert.deepEqual(proof.calls.map((c) => c.script), ['true', revertStateScript('firewall'), cancelRevertScript('firewall')]);
    assert.equal(proofs, 1);
  });

  it('guarded change: the proof logs in as the proofUser on the proofPort when the change names them', async () => {
    const { conn } = recordingConnection();
    const logins: [number | undefined, string | undefined][] = [];
    const sudoRule: Action = { ...guarded, proofUser: 'debian', proofPort: 2222 };
    await executeActions(deps(conn, { connectFresh: async (port, user) => (logins.push([port, user]), recordingConnection().conn) }), [sudoRule]);
    assert.deepEqual(logins, [[2222, 'debian']]);
    logins.length = 0;
    const refused = async (port?: number, user?: string) => {
      logins.push([port, user]);
      if (user) throw new Error('sudo refused debian');
      return recordingConnection((s) => (s === revertStateScript('firewall') ? { stdout: 'done\n' } : {})).conn;
    };
    await assert.rejects(executeActions(deps(conn, { connectFresh: refused }), [sudoRule]), (err: unknown) => err instanceof ActionFailedError && /restored automatically/.test(err.hint ?? ''));
    assert.deepEqual(logins.at(-1), [2222, undefined], "after the revert: the connection's own user, whose login the revert restores");
  });

  it('guarded change: a revert that fires between the last check and the confirmation is a failure, not a success', async () => {
    const { conn } = recordingConnection();
    // The confirmation goes over the proof connection: there the revert has claimed the state first.
    const proof = () => recordingConnection((s) => (s === cancelRevertScript('firewall') ? { stdout: 'reverted\n' } : {})).conn;
    await assert.rejects(executeActions(deps(conn, { connectFresh: async () => proof() }), [guarded]), (err: unknown) => {
      assert.ok(err instanceof ActionFailedError);
      assert.match(err.message, /the automatic revert ran \(60s after the change\) before berth could confirm the change, so the host is back in its previous state/);
      assert.equal(err.hint, 'Nothing is wrong with the change itself as far as berth knows: run again.');
      return true;
    });
  });

  it('guarded change: a proof that fails once and then works is a success', async () => {
    const { conn } = recordingConnection();
    const proof = recordingConnection();
    let attempts = 0;
    await executeActions(
      deps(conn, {
        connectFresh: async () => {
          if (++attempts === 1) throw new Error('connection reset');
          return proof.conn;
        },
      }),
      [guarded],
    );
    assert.equal(attempts, 2);
    assert.equal(proof.calls[proof.calls.length - 1].script, cancelRevertScript('firewall'));
  });

  it('guarded change: a login that only gets through after the revert ran is no proof', async () => {
    const { conn, calls } = recordingConnection();
    const fresh: ReturnType<typeof recordingConnection>[] = [];
    const afterRevert = () => fresh[fresh.push(recordingConnection((s) => (s === revertStateScript('firewall') ? { stdout: 'done\n' } : {}))) - 1].conn;
    await assert.rejects(executeActions(deps(conn, { connectFresh: async () => afterRevert() }), [guarded]), (err: unknown) => {
      assert.ok(err instanceof ActionFailedError);
      assert.match(err.message, /\(it only got through after the automatic revert had run\), so it would have locked you out: SSH \(port 22\)/);
      assert.match(err.hint!, /restored automatically/);
      return true;
    });
    assert.ok(![calls, ...fresh.map((f) => f.calls)].flat().some((c) => c.script === cancelRevertScript('firewall')), 'nothing is confirmed');
  });

  it('guarded change: when no new login works, waits for the revert and explains the lockout', async () => {
    const { conn, calls } = recordingConnection();
    let attempts = 0;
    const d = deps(conn, {
      connectFresh: async () => {
        attempts++;
        if (attempts <= 3) throw new Error('connection timed out');
        return recordingConnection((s) => (s === revertStateScript('firewall') ? { stdout: 'done\n' } : {})).conn;
      },
    });
    await assert.rejects(executeActions(d, [guarded]), (err: unknown) => {
      assert.ok(err instanceof ActionFailedError);
      assert.match(err.message, /would have locked you out: SSH \(port 22\) would be closed to 10\.0\.0\.1/);
      assert.match(err.hint!, /restored automatically/);
      return true;
    });
    assert.equal(attempts, 4, 'three proofs, then the check after the revert');
    assert.deepEqual(d.slept.slice(0, 2), [3000, 3000], 'pauses between proofs');
    assert.ok(d.slept[2] > 50000 && d.slept[2] <= 65000, `waited ${d.slept[2]} ms for the revert`);
    assert.ok(!calls.some((c) => c.script === cancelRevertScript('firewall')), 'the revert is not cancelled');
  });
});
