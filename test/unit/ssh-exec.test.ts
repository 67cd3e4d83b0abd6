import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { Client, ClientChannel } from 'ssh2';
import { openExec } from '../../src/ssh/connection';

describe('ssh: starting a command', () => {
  it('keeps the exit status that ssh2 emits while the channel opens, before the caller listens', async () => {
    // As ssh2 does when the channel's success, the exit status and the close come in one burst (seen on the e2e hosts with sudo -n refusing).
    const burst = (code: number | null, signal?: string) =>
      ({
        exec(_command: string, callback: (error: Error | undefined, channel: ClientChannel) => void) {
          const channel = new PassThrough() as unknown as ClientChannel;
          callback(undefined, channel);
          channel.emit('exit', code, signal);
        },
      }) as unknown as Pick<Client, 'exec'>;
    assert.equal((await openExec(burst(1), 'sudo -n true')).exitCode, 1);
    assert.equal((await openExec(burst(null, 'KILL'), 'sleep 9')).exitCode, 137);
  });
});
