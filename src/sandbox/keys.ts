import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { docker } from './docker';

/**
 * The topology's SSH key pair: root's key on every VM, kept in the state
 * directory. ssh-keygen runs inside the VM image, so this machine needs
 * nothing but Docker.
 */

export interface KeyPair {
  privateKeyPath: string;
  publicKey: string;
}

export const KEY_FILE = 'id_ed25519';

export async function ensureKeyPair(stateDir: string, image: string, comment: string): Promise<KeyPair> {
  const privateKeyPath = join(stateDir, KEY_FILE);
  const publicKeyPath = `${privateKeyPath}.pub`;
  if (existsSync(privateKeyPath) && existsSync(publicKeyPath)) {
    return { privateKeyPath, publicKey: readFileSync(publicKeyPath, 'utf8').trim() };
  }
  const { stdout } = await docker([
    'run', '--rm', '--network', 'none', image,
    'sh', '-c', 'ssh-keygen -q -t ed25519 -N "" -C "$1" -f /tmp/key && cat /tmp/key.pub /tmp/key', 'keygen', comment,
  ]);
  const [publicKey, ...privateLines] = stdout.split('\n');
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  writeFileSync(privateKeyPath, `${privateLines.join('\n').trim()}\n`, { mode: 0o600 });
  writeFileSync(publicKeyPath, `${publicKey.trim()}\n`, { mode: 0o644 });
  return { privateKeyPath, publicKey: publicKey.trim() };
}
