import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { appDirectoryProblem } from '../app/context';
import { BadInputError, ioReason } from '../errors';
import { crossFieldProblems, applyDefaultLayout } from './cross';
import { formatProblem, locate, problemsFromIssue, type Problem } from './problems';
import { answersSchema, type Answers, type AnswersEnvironment } from './schema';
import { parseSecretRef } from './secret';

/** An answers file is a few kilobytes; anything near this is the wrong file. */
export const MAX_ANSWERS_BYTES = 1024 * 1024;
const MAX_SECRET_FILE_BYTES = 64 * 1024;

export interface LoadedAnswers {
  file: string;
  answers: Answers;
  /** The parsed document, comments and all, for writing the file back (pinned host keys, wizard answers). */
  document: Document;
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
}

/** ~ and paths relative to the answers file, as a user writes them. */
export function resolveUserPath(path: string, baseDir: string): string {
  if (path === '~' || path.startsWith('~/')) return resolve(homedir(), path.slice(2));
  return isAbsolute(path) ? path : resolve(baseDir, path);
}

function unreadableFile(path: string, baseDir: string): string | null {
  const full = resolveUserPath(path, baseDir);
  try {
    if (!statSync(full).isFile()) return `${full} is not a regular file`;
    accessSync(full, constants.R_OK);
    return null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return `${full} does not exist`;
    return `${full} cannot be read (${ioReason(err)})`;
  }
}

export function answersEnvironment(baseDir: string, env: NodeJS.ProcessEnv = process.env): AnswersEnvironment {
  return {
    unreadableFile: (path) => unreadableFile(path, baseDir),
    readText: (path) => readFileSync(resolveUserPath(path, baseDir), 'utf8'),
    appDirectoryProblem: (path) => appDirectoryProblem(resolveUserPath(path, baseDir)),
    resolveSecret(ref) {
      const parsed = parseSecretRef(ref);
      if ('error' in parsed) return parsed;
      if (parsed.kind === 'literal') return { value: parsed.value, source: 'literal' };
      if (parsed.kind === 'env') {
        const value = env[parsed.name];
        if (value === undefined) return { error: `refers to the environment variable ${parsed.name}, which is not set` };
        if (value === '') return { error: `refers to the environment variable ${parsed.name}, which is empty` };
        return { value, source: ref };
      }
      const problem = unreadableFile(parsed.path, baseDir);
      if (problem) return { error: `refers to a file that cannot be used: ${problem}` };
      const full = resolveUserPath(parsed.path, baseDir);
      if (statSync(full).size > MAX_SECRET_FILE_BYTES) return { error: `refers to ${full}, which is too large to hold a secret` };
      const value = readFileSync(full, 'utf8').replace(/\r?\n$/, '');
      if (!value) return { error: `refers to ${full}, which is empty` };
      return { value, source: ref };
    },
  };
}

/** Read the file's text, refusing with a clear sentence what is not an answers file. */
export function readAnswersText(file: string): string {
  let size: number;
  try {
    const stat = statSync(file);
    if (stat.isDirectory()) throw new BadInputError(`${file} is a directory, not an answers file`, [], 'Give the path of a YAML file such as berth.yaml.');
    if (!stat.isFile()) throw new BadInputError(`${file} is not a regular file`);
    size = stat.size;
  } catch (err) {
    if (err instanceof BadInputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new BadInputError(`${file} does not exist`, [], 'Run `berth install` without --answers to create one with the wizard.');
    throw new BadInputError(`${file} cannot be read (${code ?? String(err)})`);
  }
  if (size > MAX_ANSWERS_BYTES) {
    throw new BadInputError(`${file} is ${(size / 1024 / 1024).toFixed(1)} MB; an answers file is a few kilobytes, so this is probably the wrong file`);
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new BadInputError(`${file} cannot be read (${ioReason(err)})`);
  }
  let text: string;
  try {
    if (bytes.includes(0)) throw new Error('NUL');
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new BadInputError(`${file} is not a text file`, [], 'An answers file is YAML (or JSON) text.');
  }
  return text;
}

/**
 * Parse and check an answers file's text. Every problem is collected: YAML
 * syntax, schema (types, unknown keys, formats, secret references) and
 * relations between fields. Nothing leaves this machine.
 */
export function parseAnswers(text: string, file: string, options: LoadOptions = {}): LoadedAnswers {
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, prettyErrors: true });
  const fail = (problems: Problem[]): never => {
    throw new BadInputError(
      `${file} has ${problems.length} problem${problems.length === 1 ? '' : 's'}`,
      problems.map((p) => formatProblem(file, p)),
      'Fix the lines above and run the command again; `berth answers schema` prints every setting.',
    );
  };
  if (document.errors.length > 0) {
    fail(
      document.errors.map((e) => ({
        path: [],
        message: `not valid YAML: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`,
        line: e.linePos?.[0].line,
        col: e.linePos?.[0].col,
      })),
    );
  }
  const data: unknown = document.toJS();
  if (data === null || data === undefined) {
    throw new BadInputError(`${file} is empty`, [], 'Run `berth install` without --answers to create one with the wizard.');
  }
  if (typeof data !== 'object' || Array.isArray(data)) {
    fail([{ path: [], message: 'must be a mapping of settings at the top level (version:, hosts:, …)', ...locate(document, lines, []) }]);
  }
  const schema = answersSchema(answersEnvironment(dirname(resolve(file)), options.env));
  const result = schema.safeParse(data);
  const problems: Problem[] = [];
  if (!result.success) {
    for (const issue of result.error.issues) problems.push(...problemsFromIssue(issue, data, schema));
  }
  problems.push(...crossFieldProblems(data));
  if (problems.length > 0 || !result.success) {
    fail(
      problems.map((p) => {
        const last = p.path[p.path.length - 1];
        const isUnknownKey = p.message.startsWith('unknown setting');
        const position = isUnknownKey ? locate(document, lines, p.path.slice(0, -1), String(last)) : locate(document, lines, p.path);
        return { ...p, ...position };
      }),
    );
  }
  return { file, answers: applyDefaultLayout(result.data!), document };
}

export function loadAnswersFile(file: string, options: LoadOptions = {}): LoadedAnswers {
  return parseAnswers(readAnswersText(file), file, options);
}
