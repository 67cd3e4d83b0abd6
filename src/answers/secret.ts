import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { REDACTED, registerSecret } from '../engine/redact';

/**
 * A resolved secret. Its value leaves the object only through `reveal()`;
 * printing, logging or serialising it shows a mask instead. Creating one
 * registers the value with the redaction layer.
 */
export class Secret {
  readonly #value: string;

  constructor(
    value: string,
    /** Where the value came from, safe to print: `literal`, `env:NAME`, `file:PATH`, `generated`. */
    readonly source: string,
  ) {
    this.#value = value;
    registerSecret(value);
  }

  reveal(): string {
    return this.#value;
  }

  /** A value built from this secret (e.g. "user:password"), itself a secret. */
  map(derive: (value: string) => string): Secret {
    return new Secret(derive(this.#value), this.source);
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return `Secret(${this.source})`;
  }
}

export type SecretRef =
  | { kind: 'literal'; value: string }
  | { kind: 'env'; name: string }
  | { kind: 'file'; path: string };

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `env:NAME` and `file:PATH` refer to a value elsewhere; anything else is the value itself. */
export function parseSecretRef(text: string): SecretRef | { error: string } {
  if (text.startsWith('env:')) {
    const name = text.slice(4);
    return ENV_NAME.test(name)
      ? { kind: 'env', name }
      : { error: `"${name}" is not a valid environment variable name (letters, digits and _; not starting with a digit)` };
  }
  if (text.startsWith('file:')) {
    const path = text.slice(5);
    return path ? { kind: 'file', path } : { error: 'file: needs a path, e.g. file:./secrets/db-root' };
  }
  return { kind: 'literal', value: text };
}

/** 24 random bytes as base64url: 32 characters safe in URLs, shells and config files. */
export function generateSecret(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}

const COMMON = ['password', 'passw0rd', '123456', 'qwerty', 'changeme', 'letmein', 'admin', 'secret', 'welcome', 'root'];

export const MIN_PASSWORD_LENGTH = 12;

const CONTROL_NAMES: Record<number, string> = { 0x09: 'a tab', 0x0a: 'a line break', 0x0d: 'a carriage return', 0x7f: 'DEL' };

/**
 * Why a secret cannot be used because it holds a control character (below
 * 0x20, or 0x7f), or null. Says which and where, never the value.
 */
export function controlCharacterReason(value: string): string | null {
  const index = [...value].findIndex((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
  if (index < 0) return null;
  const code = [...value][index].charCodeAt(0);
  const name = CONTROL_NAMES[code] ?? `the control character 0x${code.toString(16).padStart(2, '0')}`;
  return `contains ${name} at character ${index + 1}; secrets are one line of printable characters (a file: secret may end with one newline, which is dropped)`;
}

/** Why a password is too weak to protect a server, or null when it is acceptable. */
export function weakPasswordReason(value: string): string | null {
  if (value.length < MIN_PASSWORD_LENGTH) {
    return `is only ${value.length} characters long; use at least ${MIN_PASSWORD_LENGTH}`;
  }
  const lower = value.toLowerCase();
  const common = COMMON.find((word) => lower.includes(word));
  if (common && value.length < 20) return `contains the common word "${common}"`;
  if (new Set(value).size < 6) return 'repeats too few different characters';
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((re) => re.test(value)).length;
  if (classes < 2 && value.length < 20) return 'uses only one kind of character; mix letters with digits or symbols, or use 20 characters or more';
  return null;
}
