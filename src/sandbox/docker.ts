import { runProgram, type ProgramOptions, type ProgramResult } from './host-command';

/**
 * The sandbox and the e2e harness drive the local Docker Engine through the
 * `docker` command line: one runner, argument arrays only (no shell).
 */

export type DockerResult = ProgramResult;

export interface DockerOptions extends Omit<ProgramOptions, 'env'> {
  /** Resolve with the result instead of rejecting on a non-zero exit. */
  allowFailure?: boolean;
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

export async function docker(args: readonly string[], options: DockerOptions = {}): Promise<DockerResult> {
  let result: DockerResult;
  try {
    result = await runProgram('docker', args, options);
  } catch (err) {
    throw new Error(`${(err as Error).message}; is Docker installed?`);
  }
  if (result.code !== 0 && !options.allowFailure) throw new DockerCommandError(args, result);
  return result;
}
