import type { Answers } from '../answers/schema';
import { managedHeader } from './managed';

/**
 * The sshd drop-in. sshd keeps the first value it reads for most keywords,
 * and sshd_config includes sshd_config.d/*.conf in lexical order before its
 * own settings, so 00-berth.conf wins over cloud-init's 50-cloud-init.conf.
 */
export const SSHD_DROP_IN = '/etc/ssh/sshd_config.d/00-berth.conf';

export function renderSshdDropIn(hardening: Answers['sshHardening']): string {
  const lines = [
    managedHeader('SSH hardening (sshHardening in the answers file)').trimEnd(),
    `Port ${hardening.port}`,
    `PermitRootLogin ${hardening.rootLogin ? 'prohibit-password' : 'no'}`,
    `PasswordAuthentication ${hardening.passwordLogin ? 'yes' : 'no'}`,
    `KbdInteractiveAuthentication ${hardening.passwordLogin ? 'yes' : 'no'}`,
    'PubkeyAuthentication yes',
    'PermitEmptyPasswords no',
    'MaxAuthTries 4',
    'X11Forwarding no',
  ];
  return `${lines.join('\n')}\n`;
}
