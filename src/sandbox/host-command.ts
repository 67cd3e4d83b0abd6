import { spawn } from 'node:child_process';

/**
 * Runs programs on this machine (docker, debootstrap, tar, openssl, gpg,
 * dpkg-deb): argument arrays only, no shell.
 */

export interface ProgramResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ProgramOptions {
  input?: string | Buffer;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Stream output to this process's stderr as it comes (long builds). */
  echo?: boolean;
}

/** Runs a program to its end and resolves with its exit code and output; rejects only when it cannot start. */
export function runProgram(program: string, args: readonly string[], options: ProgramOptions = {}): Promise<ProgramResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      into.push(chunk);
      if (options.echo) process.stderr.write(chunk);
    };
    child.stdout.on('data', collect(out));
    child.stderr.on('data', collect(err));
    // A program that exits without reading its input closes the pipe (EPIPE): its exit code tells what happened.
    child.stdin.on('error', () => undefined);
    child.on('error', (e) => reject(new Error(`cannot run ${program}: ${e.message}`)));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
    child.stdin.end(options.input ?? '');
  });
}

/** Runs a program and resolves with its stdout; rejects with the end of its output on failure. */
export async function hostCommand(program: string, args: readonly string[], options: ProgramOptions = {}): Promise<string> {
  const result = await runProgram(program, args, options);
  if (result.code === 0) return result.stdout;
  const tail = `${result.stdout}${result.stderr}`.trim().split('\n').slice(-8).join('\n');
  throw new Error(`${program} ${args.slice(0, 2).join(' ')} failed with exit code ${result.code}${tail ? `:\n${tail}` : ''}`);
}
