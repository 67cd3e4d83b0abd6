/**
 * The two kinds of failure berth distinguishes. Only src/cli maps them to exit
 * codes: bad input is 2, a failed run is 1. Anything else is a bug and is
 * reported as one.
 */

/** The user's input is wrong: a file, a flag, an answer. Nothing was changed on any host. */
export class BadInputError extends Error {
  constructor(
    message: string,
    /** Lines shown under the message, e.g. one per problem found in a file. */
    readonly details: string[] = [],
    /** What the user should do next. */
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'BadInputError';
  }
}

/** A run against hosts failed; the message says where and why, the hint what to do next. */
export class RunFailedError extends Error {
  constructor(
    message: string,
    readonly details: string[] = [],
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'RunFailedError';
  }
}

/** Why a file could not be read, in a user's words: "permission denied", else the error's code. */
export function ioReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (code ?? String(err));
}
