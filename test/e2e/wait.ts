import assert from 'node:assert/strict';
import { docker } from '../../src/sandbox/docker';

/** Polls `check` once a second until it holds; fails with `what` and the container's log tail (sooner once the container stopped). */
export async function waitFor(container: string, what: string, check: () => Promise<boolean>, seconds = 90): Promise<void> {
  for (let i = 0; i < seconds; i++) {
    if (await check()) return;
    const state = await docker(['inspect', '--format', '{{.State.Running}}', container], { allowFailure: true });
    if (state.stdout.trim() === 'false') break;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  const logs = await docker(['logs', '--tail', '30', container], { allowFailure: true });
  assert.fail(`${container}: ${what} did not happen\n${logs.stdout}${logs.stderr}`);
}

/** Polls `check` every 2 s until it holds, or fails naming what did not come within `seconds`. */
export async function until(what: string, check: () => Promise<boolean>, seconds: number): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  assert.fail(`${what} did not happen within ${seconds} s`);
}
