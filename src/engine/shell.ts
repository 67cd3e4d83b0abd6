/** Shell quoting lives in src/shell.ts, below the renderers that need it too. */
export { shellCommand, shq } from '../shell';
