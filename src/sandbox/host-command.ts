import { spawn } from 'node:child_process';

/**
 * Runs a program on this machine (debootstrap, tar, openssl, gpg, dpkg-deb):
 * argument arrays only, no shell. Rejects with the end of stderr on failure.
 */
export function hostCommand(
  program: string,
  args: readonly string[],
  options: { input?: string | Buffer; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (e) => reject(new Error(`cannot run ${program}: ${e.message}`)));
    child.on('close', (code) => {
      if (code === 0) return resolve(Buffer.concat(out).toString());
      const tail = Buffer.concat([...out, ...err]).toString().trim().split('\n').slice(-8).join('\n');
      reject(new Error(`${program} ${args.slice(0, 2).join(' ')} failed with exit code ${code}${tail ? `:\n${tail}` : ''}`));
    });
    child.stdin.end(options.input ?? '');
  });
}
