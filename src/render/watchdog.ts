import { assetText } from '../assets';
import { managedHeader, managedScript } from './managed';

/**
 * berth-watchdog: a systemd timer on the hosts that run the stack, starting
 * every 15 s the containers labelled berth.keep-running=true that are down.
 * `docker kill` and `docker stop` count as a manual stop, which no restart
 * policy undoes while dockerd runs; a watchdog container would need the
 * Docker socket (root on the host), a timer does not. Pure.
 */

export const WATCHDOG_UNIT = 'berth-watchdog';
const SCRIPT = '/usr/local/sbin/berth-watchdog';

export function watchdogFiles(): { path: string; content: string; mode: number }[] {
  return [
    { path: SCRIPT, content: managedScript(assetText('scripts', 'berth-watchdog.sh'), 'the container watchdog'), mode: 0o755 },
    {
      path: `/etc/systemd/system/${WATCHDOG_UNIT}.service`,
      content: `${managedHeader('the container watchdog')}[Unit]\nDescription=Start the containers berth keeps running that are down\nAfter=docker.service\nRequires=docker.service\n\n[Service]\nType=oneshot\nExecStart=${SCRIPT}\n`,
      mode: 0o644,
    },
    {
      path: `/etc/systemd/system/${WATCHDOG_UNIT}.timer`,
      content: `${managedHeader('the container watchdog')}[Unit]\nDescription=Every 15 s: start the containers berth keeps running that are down\n\n[Timer]\nOnBootSec=30s\nOnUnitActiveSec=15s\nAccuracySec=1s\n\n[Install]\nWantedBy=timers.target\n`,
      mode: 0o644,
    },
  ];
}
