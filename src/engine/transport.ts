import type { Readable } from 'node:stream';

/**
 * The contract between the engine and the SSH transport (src/ssh implements
 * it; unit tests implement it in memory). The engine never sees ssh2.
 */

export interface ExecOptions {
  /** Bytes for the script's stdin. Secrets travel here or in uploaded files, never on a command line. */
  stdin?: Buffer | string | Readable;
  /** Kill the command after this long (default 10 minutes; 0: no limit). */
  timeoutMs?: number;
  /** Run as root, through sudo when the login user is not root. Default true. */
  asRoot?: boolean;
  /** Live output, e.g. for the log with a host prefix. Text is redacted by the caller. */
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** One file or directory to place on a host. Parent directories are created. */
export interface UploadEntry {
  path: string;
  /** Absent for a directory. */
  content?: Buffer | string;
  mode: number;
  owner?: string;
  group?: string;
  /** A command (argv) that must accept the file, its staged path appended, before it replaces the target (e.g. visudo -cf). */
  validate?: readonly string[];
}

export interface LargeUpload {
  /** Local file to stream. */
  localPath: string;
  remotePath: string;
  mode: number;
  owner?: string;
  group?: string;
  onProgress?: (sentBytes: number, totalBytes: number) => void;
}

export interface HostConnection {
  /** The host's name in the answers file, and the address connected to. */
  readonly name: string;
  readonly address: string;
  /** The port connected to: the one berth reaches the host at, which a NAT mapping may tell apart from sshd's own. */
  readonly port: number;
  /** The user this connection logged in as. */
  readonly user: string;
  /**
   * Run a bash script (errexit, nounset, pipefail) in one round trip. A
   * non-zero exit resolves with its code; the transport rejects only when it
   * cannot run the command (connection lost, timeout) with an SshError.
   */
  exec(script: string, options?: ExecOptions): Promise<ExecResult>;
  /** Place files atomically (each written beside its target, then renamed) with mode and owner, in one round trip. */
  upload(entries: readonly UploadEntry[]): Promise<void>;
  /** Stream one large file with progress; its SHA-256 is checked on the host before it is moved into place. */
  uploadLarge(upload: LargeUpload): Promise<{ sha256: string }>;
  close(): Promise<void>;
}

/** What an SshError is about, so that callers can tell the user what to do. */
export type SshErrorKind =
  | 'dns' // name not resolved
  | 'unreachable' // no route, host down
  | 'refused' // nothing listens on the port
  | 'timeout' // connect or command timed out
  | 'auth' // authentication failed
  | 'hostkey' // host key mismatch or refused
  | 'sudo' // sudo refused or needs a password we do not have
  | 'lost' // the connection dropped
  | 'other';

export class SshError extends Error {
  constructor(
    readonly kind: SshErrorKind,
    /** Names host and address, says what happened. */
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'SshError';
  }
}
