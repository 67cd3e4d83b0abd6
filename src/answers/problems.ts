import { closest, distance } from 'fastest-levenshtein';
import { isMap, isPair, isScalar, type Document, type LineCounter, type Node } from 'yaml';
import { z } from 'zod';
import { listLengthProblem } from './fields';

/** One problem found in an answers file, located in the file where possible. */
export interface Problem {
  path: (string | number)[];
  message: string;
  line?: number;
  col?: number;
}

export function formatPath(path: readonly (string | number)[]): string {
  if (path.length === 0) return '(top level)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

export function formatProblem(file: string, p: Problem): string {
  const where = p.line ? `${file}:${p.line}:${p.col ?? 1}` : file;
  return `${where}: ${formatPath(p.path)}: ${p.message}`;
}

/** The valid keys of the object the schema expects at `path`, for "did you mean". */
export function keysAt(schema: z.ZodType, path: readonly (string | number)[]): string[] {
  let current: z.ZodType | undefined = schema;
  for (let i = 0; i <= path.length && current; ) {
    const def: Record<string, unknown> & { type: string } = (current as unknown as { _zod: { def: Record<string, unknown> & { type: string } } })._zod.def;
    switch (def.type) {
      case 'optional':
      case 'default':
      case 'prefault':
      case 'nullable':
        current = def.innerType as z.ZodType;
        continue;
      case 'pipe':
        current = def.in as z.ZodType;
        continue;
      case 'union': {
        const objects: z.ZodType[] = (def.options as z.ZodType[]).filter((o) => o instanceof z.ZodObject);
        current = objects[0];
        continue;
      }
      case 'array':
        if (i === path.length) return [];
        current = def.element as z.ZodType;
        i++;
        continue;
      case 'object': {
        const shape = def.shape as Record<string, z.ZodType>;
        if (i === path.length) return Object.keys(shape);
        current = shape[String(path[i])];
        i++;
        continue;
      }
      default:
        return [];
    }
  }
  return [];
}

export function suggestKey(unknown: string, valid: readonly string[]): string | undefined {
  if (valid.length === 0) return undefined;
  const best = closest(unknown, valid as string[]);
  const limit = Math.max(2, Math.floor(unknown.length / 3));
  const caseInsensitive = valid.find((k) => k.toLowerCase() === unknown.toLowerCase());
  if (caseInsensitive) return caseInsensitive;
  return distance(unknown, best) <= limit ? best : undefined;
}

function nodeAt(doc: Document, path: readonly (string | number)[]): Node | undefined {
  // The nearest node that exists: a missing key is reported at its parent.
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as Node | undefined;
    if (node && (node as { range?: unknown }).range) return node;
    if (n === 0) return doc.contents ?? undefined;
  }
  return undefined;
}

function keyNode(doc: Document, path: readonly (string | number)[], key: string): Node | undefined {
  const parent = doc.getIn(path, true) ?? (path.length === 0 ? doc.contents : undefined);
  if (!isMap(parent)) return undefined;
  for (const item of parent.items) {
    if (isPair(item) && isScalar(item.key) && String(item.key.value) === key) return item.key;
  }
  return undefined;
}

export function locate(
  doc: Document,
  lines: LineCounter,
  path: readonly (string | number)[],
  key?: string,
): { line: number; col: number } | undefined {
  const node = (key !== undefined ? keyNode(doc, path, key) : undefined) ?? nodeAt(doc, path);
  const range = (node as { range?: [number, number, number] } | undefined)?.range;
  return range ? lines.linePos(range[0]) : undefined;
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the text "${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  return `${typeof value === 'number' ? 'the number' : 'the value'} ${String(value)}`;
}

const EXPECTED: Record<string, string> = {
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping of settings',
};

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = data;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/** A plain sentence for one zod issue; unknown keys become one problem per key. */
export function problemsFromIssue(issue: z.core.$ZodIssue, data: unknown, schema: z.ZodType): Problem[] {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  const value = valueAt(data, path);
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => {
        const suggestion = suggestKey(key, keysAt(schema, path));
        return {
          path: [...path, key],
          message: `unknown setting "${key}"${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
        };
      });
    case 'invalid_type':
      // A message of the schema's own (a secret's, which must not show the value) is said as it is.
      if (!issue.message.startsWith('Invalid input')) return [{ path, message: issue.message }];
      if (value === undefined) return [{ path, message: `is required (${EXPECTED[issue.expected] ?? issue.expected})` }];
      return [{ path, message: `must be ${EXPECTED[issue.expected] ?? issue.expected}, not ${describeValue(value)}` }];
    case 'invalid_value':
      return [{ path, message: issue.values.length === 1 && issue.message.startsWith('this berth') ? `${issue.message} (found ${describeValue(value)})` : `must be one of ${issue.values.map((v) => String(v)).join(', ')}, not ${describeValue(value)}` }];
    case 'too_small':
      if (issue.origin === 'array') return [{ path, message: `must list at least ${issue.minimum} item${Number(issue.minimum) === 1 ? '' : 's'}` }];
      if (issue.origin === 'string') return [{ path, message: 'must not be empty' }];
      return [{ path, message: `must be at least ${issue.minimum}, not ${describeValue(value)}` }];
    case 'too_big':
      if (issue.origin === 'array' && Array.isArray(value)) return [{ path, message: listLengthProblem(value.length, Number(issue.maximum))! }];
      return [{ path, message: `must be at most ${issue.maximum}, not ${describeValue(value)}` }];
    case 'invalid_union':
      return [{ path, message: `is not in a form berth understands (${describeValue(value)})` }];
    case 'invalid_format':
      return [{ path, message: issue.message.startsWith('Invalid') ? `has the wrong form: ${describeValue(value)}` : `${issue.message}, not ${describeValue(value)}` }];
    default:
      return [{ path, message: issue.message }];
  }
}
