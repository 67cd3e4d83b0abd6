import type { Answers } from '../answers/schema';
import { managedHeader } from '../phases/common';

/** The admin user's sudo rule: no password when it logs in by key only, else its own password. */
export function renderSudoers(admin: Answers['admin']): string {
  const rule = admin.password ? 'ALL=(ALL:ALL) ALL' : 'ALL=(ALL:ALL) NOPASSWD:ALL';
  return `${managedHeader(`sudo rights of the admin user ${admin.user}`)}${admin.user} ${rule}\n`;
}

export function renderAuthorizedKeys(keys: readonly string[]): string {
  return `${managedHeader('keys that may log in as the admin user (admin.authorizedKeys)')}${keys.join('\n')}\n`;
}
