import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { demoAppDir } from '../../src/app/context';
import { e2eWorkDir } from './harness';

/** Versions of the demo app for the specs and benches, and what the site answers with. */

/** A fresh copy of the demo app named `name` in the e2e work directory, with a file naming it (so its content tag is its own), then `change`d. */
export function demoAppCopy(name: string, change: (dir: string) => void = () => undefined): string {
  const dir = e2eWorkDir(name);
  rmSync(dir, { recursive: true, force: true });
  cpSync(demoAppDir(), dir, { recursive: true });
  writeFileSync(join(dir, 'berth-e2e-version.txt'), `${name}\n`);
  change(dir);
  return dir;
}

/** Makes the copy's app exit at start, saying so in its log: an image that never becomes healthy. */
export function cannotStart(dir: string): void {
  const entrypoint = join(dir, 'entrypoint.sh');
  writeFileSync(entrypoint, readFileSync(entrypoint, 'utf8').replace('  serve)\n', '  serve)\n    echo "berth-e2e: this build cannot start (on purpose)" >&2\n    exit 3\n'));
}

interface Outsider {
  exec(container: string, script: string): Promise<{ stdout: string }>;
}

/** The distinct values of a response header (e.g. X-Served-By, X-App-Version) over `requests` requests from the outsider, sorted. */
export async function headerValues(topo: Outsider, url: string, header: string, requests: number): Promise<string[]> {
  const r = await topo.exec('outsider', `for i in $(seq ${requests}); do curl -s -o /dev/null -D - --max-time 5 ${url} | tr -d '\\r' | grep -i '^${header}: ' | cut -d' ' -f2-; done | sort -u`);
  return r.stdout.trim().split('\n').filter(Boolean);
}
