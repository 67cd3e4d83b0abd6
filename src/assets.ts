import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Files shipped with berth (assets/ at the top of the project). This file is
 * compiled to dist/assets.js, so assets/ is one level up; inside the packaged
 * binary the same relative layout holds.
 */
export function assetPath(...parts: string[]): string {
  return join(__dirname, '..', 'assets', ...parts);
}

const texts = new Map<string, string>();

/** The text of a shipped file, read once. */
export function assetText(...parts: string[]): string {
  const path = assetPath(...parts);
  let text = texts.get(path);
  if (text === undefined) {
    text = readFileSync(path, 'utf8');
    texts.set(path, text);
  }
  return text;
}
