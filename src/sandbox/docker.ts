import { spawn } from 'node:child_process';

/**
 * The sandbox and the e2e harness drive the local Docker Engine through the
 * `docker` command line: one runner, argument arrays only (no shell).
 */

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface DockerOptions {
  input?: string | Buffer;
  /** Resolve with the result instead of rejecting on a non-zero exit. */
  allowFailure?: boolean;
  /** Stream output to this process's stderr as it comes (long builds). */
  echo?: boolean;
  cwd?: string;
}

export class DockerCommandError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly result: DockerResult,
  ) {
    const tail = result.stderr.trim().split('\n').slice(-5).join('\n');
    super(`docker ${args.slice(0, 3).join(' ')} failed with exit code ${result.code}${tail ? `:\n${tail}` : ''}`);
    this.name = 'DockerCommandError';
  }
}

export function docker(args: readonly string[], options: DockerOptions = {}): Promise<DockerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', args, { cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => {
      out.push(chunk);
      if (options.echo) process.stderr.write(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err.push(chunk);
      if (options.echo) process.stderr.write(chunk);
    });
    child.on('error', (e) => reject(new Error(`cannot run docker: ${e.message}; is Docker installed?`)));
    child.on('close', (code) => {
      const result = { code: code ?? 1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
      if (result.code !== 0 && !options.allowFailure) reject(new DockerCommandError(args, result));
      else resolve(result);
    });
    child.stdin.end(options.input ?? '');
  });
}
