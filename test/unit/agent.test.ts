import assert from 'node:assert/strict';
import { remoteAgent } from '../../src/engine/agent';
import { SshError, type HostConnection } from '../../src/engine/transport';

/** A connection whose first `lost` commands lose their answer, as a host under heavy load did. */
function flaky(lost: number) {
  const scripts: string[] = [];
  const conn: HostConnection = {
    name: 'vm1',
    address: '10.0.0.11',
    user: 'root',
    async exec(script) {
      scripts.push(script);
      if (scripts.length <= lost) throw new SshError('lost', 'vm1: the command ended without an exit status; the connection may have dropped');
      return { code: 0, stdout: 'ACQUIRED\n', stderr: '' };
    },
    upload: async () => undefined,
    uploadLarge: async () => ({ sha256: '' }),
    close: async () => undefined,
  };
  return { conn, scripts };
}

describe('remote agent', () => {
  it('asks a read-only script once more when its answer got lost', async () => {
    const { conn, scripts } = flaky(1);
    const facts = await remoteAgent(conn).facts({ probes: { x: 'true' } });
    assert.equal(scripts.length, 2);
    assert.deepEqual(facts.probes.x, { code: 127, out: '' });
    await assert.rejects(remoteAgent(flaky(2).conn).readJournal(), /ended without an exit status/, 'only once');
  });

  it('never runs a change twice', async () => {
    const { conn, scripts } = flaky(1);
    const owner = { owner: 'me@laptop', machine: 'laptop', pid: 1, runId: 'r', started: '', heartbeat: '' };
    await assert.rejects(remoteAgent(conn).lock(owner, false), /ended without an exit status/);
    assert.equal(scripts.length, 1);
  });
});
