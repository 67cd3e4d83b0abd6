import type { Answers } from '../answers/schema';
import { managedHeader, withManagedBlock } from './managed';

/** The admin user's sudo rule: no password when it logs in by key only, else its own password. */
export function renderSudoers(admin: Answers['admin']): string {
  const rule = admin.password ? 'ALL=(ALL:ALL) ALL' : 'ALL=(ALL:ALL) NOPASSWD:ALL';
  return `${managedHeader(`sudo rights of the admin user ${admin.user}`)}${admin.user} ${rule}\n`;
}

/**
 * The admin user's authorized_keys. The user may exist already (a cloud
 * image's login user) with keys of other people: berth only owns its
 * marked block and keeps every other line.
 */
export function renderAuthorizedKeys(existing: string | null, keys: readonly string[]): string {
  return withManagedBlock(existing, `# berth: the keys of admin.authorizedKeys. Lines outside this block are kept.\n${keys.join('\n')}`);
}
