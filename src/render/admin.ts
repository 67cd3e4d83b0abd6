import type { Answers } from '../answers/schema';
import { managedHeader, withManagedBlock } from './managed';

function sudoersHeader(user: string): string {
  return managedHeader(`sudo rights of the admin user ${user}`);
}

/**
 * The first line of berth's sudoers files as a sed basic regular expression
 * whose group \1 is the user: what finds the admin users of earlier runs.
 */
export const SUDOERS_HEADER_BRE = `^${sudoersHeader('\\([a-z_][a-z0-9_-]*\\)').trimEnd()}$`;

/** The admin user's sudo rule: no password when it logs in by key only, else its own password. */
export function renderSudoers(admin: Answers['admin']): string {
  const rule = admin.password ? 'ALL=(ALL:ALL) ALL' : 'ALL=(ALL:ALL) NOPASSWD:ALL';
  return `${sudoersHeader(admin.user)}${admin.user} ${rule}\n`;
}

/**
 * The admin user's authorized_keys. The user may exist already (a cloud
 * image's login user) with keys of other people: berth only owns its
 * marked block and keeps every other line.
 */
export function renderAuthorizedKeys(existing: string | null, keys: readonly string[]): string {
  return withManagedBlock(existing, `# berth: the keys of admin.authorizedKeys. Lines outside this block are kept.\n${keys.join('\n')}`);
}
