import { PassThrough } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';

/** Keys as a terminal sends them. */
export const KEY = { enter: '\r', down: '\u001b[B', up: '\u001b[A', space: ' ', ctrlC: '\u0003' };

/** One exchange: wait for the screen to show `prompt`, then type `keys`. */
export type Step = [prompt: RegExp, keys: string];

/**
 * Plays a conversation with a program that draws prompts: watches its output
 * (escape codes removed) for each prompt in turn and answers with keys. The
 * same script drives the wizard in-process and the binary under a pty.
 */
export function converse(steps: readonly Step[], write: (keys: string) => void): { feed(chunk: Buffer | string): void; done: Promise<void>; screen(): string } {
  let screen = '';
  let sinceLast = '';
  let index = 0;
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  if (steps.length === 0) finish();
  return {
    feed(chunk) {
      const text = stripVTControlCharacters(chunk.toString());
      screen += text;
      sinceLast += text;
      while (index < steps.length && steps[index][0].test(sinceLast)) {
        const keys = steps[index][1];
        sinceLast = '';
        index++;
        // Answer a moment later, as a person would: the prompt must be listening.
        setTimeout(() => write(keys), 30);
        if (index === steps.length) finish();
      }
    },
    done,
    screen: () => screen,
  };
}

/** A stdin that claims to be a terminal, for in-process prompts. */
export function fakeTty(): PassThrough & { isTTY: true; setRawMode(mode: boolean): void; isRaw: boolean } {
  return Object.assign(new PassThrough(), { isTTY: true as const, isRaw: false, setRawMode(this: { isRaw: boolean }, mode: boolean) { this.isRaw = mode; } });
}
