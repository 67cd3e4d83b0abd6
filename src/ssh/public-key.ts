import { existsSync, readFileSync } from 'node:fs';
import { utils, type ParsedKey } from 'ssh2';
import type { Secret } from '../answers/secret';

/**
 * The public key line (authorized_keys format) of a private key: from the
 * `.pub` file beside it when there is one, else derived from the key itself.
 * Null when neither works (an encrypted key without its passphrase).
 */
export function publicKeyLine(privateKeyPath: string, passphrase?: Secret): string | null {
  const pub = `${privateKeyPath}.pub`;
  if (existsSync(pub)) {
    const line = readFileSync(pub, 'utf8').trim().split('\n')[0];
    if (/^(ssh-|ecdsa-|sk-)\S+ [A-Za-z0-9+/]+={0,3}/.test(line)) return line;
  }
  let parsed: ParsedKey | ParsedKey[] | Error;
  try {
    parsed = utils.parseKey(readFileSync(privateKeyPath), passphrase?.reveal());
  } catch {
    return null;
  }
  if (parsed instanceof Error) return null;
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  return `${key.type} ${key.getPublicSSH().toString('base64')} berth-admin`;
}
