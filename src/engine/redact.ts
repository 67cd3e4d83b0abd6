/**
 * The one redaction layer. Every secret value berth resolves is registered
 * here, and every printer, logger and error message passes its text through
 * `redact` before it leaves the process.
 */

const MASK = '[redacted]';
const MIN_LENGTH = 4; // shorter values would mask ordinary words

const registered = new Set<string>();
let pattern: RegExp | null = null;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Forms in which a value can show up in text we print: as is, JSON-escaped, shell-quoted. */
function variants(value: string): string[] {
  const json = JSON.stringify(value).slice(1, -1);
  const shell = value.replace(/'/g, `'\\''`);
  return [...new Set([value, json, shell])];
}

export function registerSecret(value: string): void {
  if (value.length < MIN_LENGTH) return;
  let added = false;
  for (const v of variants(value)) {
    if (!registered.has(v)) {
      registered.add(v);
      added = true;
    }
  }
  if (added) {
    // Longest first so that a secret containing another is masked whole.
    const alternatives = [...registered].sort((a, b) => b.length - a.length).map(escapeRegExp);
    pattern = new RegExp(alternatives.join('|'), 'g');
  }
}

export function redact(text: string): string {
  if (!pattern) return text;
  return text.replace(pattern, MASK);
}

/** For tests: forget every registered value. */
export function clearSecretsForTest(): void {
  registered.clear();
  pattern = null;
}

export const REDACTED = MASK;
