import { join } from 'node:path';

/**
 * Files shipped with berth (assets/ at the top of the project). This file is
 * compiled to dist/assets.js, so assets/ is one level up; inside the packaged
 * binary the same relative layout holds.
 */
export function assetPath(...parts: string[]): string {
  return join(__dirname, '..', 'assets', ...parts);
}
