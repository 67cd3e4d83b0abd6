/**
 * .dockerignore, as Docker reads it (moby/patternmatcher and its ignorefile
 * reader): one pattern a line, `#` at the start of a line is a comment,
 * surrounding spaces are trimmed, a leading `/` is dropped, `!` re-includes.
 * `*` and `?` stop at `/`, `**` crosses directories, `[...]` is a character
 * class and `\` escapes. The last rule that matches a path (or one of its
 * parent directories) decides. Kept close to Docker's code, quirks included,
 * so that berth sends the context `docker build` would.
 */

export interface IgnoreRule {
  /** The cleaned pattern, without its `!`. */
  pattern: string;
  /** A `!` rule: re-includes what earlier rules excluded. */
  exclusion: boolean;
  /** Line in the file, for messages. */
  line: number;
  test(path: string): boolean;
}

export interface ParsedIgnore {
  rules: IgnoreRule[];
  /** One sentence per line that is not a pattern, e.g. `line 3: "[a" is not a valid pattern (a [ is not closed)`. */
  problems: string[];
}

/** Go's filepath.Clean for slash-separated paths: no empty, `.` or resolvable `..` parts, no trailing slash. */
export function cleanPath(path: string): string {
  if (path === '') return '.';
  const rooted = path.startsWith('/');
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..' && out.length > 0 && out[out.length - 1] !== '..') out.pop();
    else if (part === '..' && rooted) continue;
    else out.push(part);
  }
  const joined = out.join('/');
  return rooted ? `/${joined}` : joined || '.';
}

/** Why Go's filepath.Match would call `pattern` malformed, or null. */
export function patternSyntaxProblem(pattern: string): string | null {
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '\\') {
      if (i + 1 >= pattern.length) return 'it ends in a lone \\';
      i++;
    } else if (ch === '[') {
      i++;
      if (pattern[i] === '^') i++;
      let ranges = 0;
      for (;;) {
        if (i >= pattern.length) return 'a [ is not closed';
        if (pattern[i] === ']' && ranges > 0) break;
        // One character or an a-z range; Go refuses a bare - or ] here.
        for (let end = 0; end < 2; end++) {
          const c = pattern[i];
          if (c === undefined) return 'a [ is not closed';
          if (c === '-' || c === ']') return `"${c}" cannot stand there in a [...] class; escape it as \\${c}`;
          if (c === '\\') {
            if (i + 1 >= pattern.length) return 'a [ is not closed';
            i++;
          }
          i++;
          if (end === 0 && pattern[i] === '-') i++;
          else break;
        }
        ranges++;
      }
    }
  }
  return null;
}

const REGEX_SPECIAL = new Set('.+()|{}$');

function escapeLiteral(ch: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(ch) ? `\\${ch}` : ch;
}

/** Docker's Pattern.compile and match: exact, prefix (`foo/**`), suffix (`**…`) or a regular expression. */
export function compilePattern(pattern: string): (path: string) => boolean {
  let regex = '^';
  let type: 'exact' | 'prefix' | 'suffix' | 'regexp' = 'exact';
  const chars = [...pattern];
  for (let i = 0, n = 0; i < chars.length; i++, n++) {
    const ch = chars[i];
    if (ch === '*' && chars[i + 1] === '*') {
      i++;
      if (chars[i + 1] === '/') i++;
      if (i + 1 >= chars.length) {
        if (type === 'exact') type = 'prefix';
        else {
          regex += '.*';
          type = 'regexp';
        }
      } else {
        regex += '(.*/)?';
        type = 'regexp';
      }
      if (n === 0) type = 'suffix';
    } else if (ch === '*') {
      regex += '[^/]*';
      type = 'regexp';
    } else if (ch === '?') {
      regex += '[^/]';
      type = 'regexp';
    } else if (REGEX_SPECIAL.has(ch)) {
      regex += `\\${ch}`;
    } else if (ch === '\\') {
      // patternSyntaxProblem has refused a trailing \, so a character follows.
      regex += escapeLiteral(chars[++i]);
      type = 'regexp';
    } else if (ch === '[' || ch === ']') {
      regex += ch;
      type = 'regexp';
    } else {
      regex += ch;
    }
  }
  switch (type) {
    case 'exact':
      return (path) => path === pattern;
    case 'prefix': {
      const prefix = pattern.slice(0, -2);
      return (path) => path.startsWith(prefix);
    }
    case 'suffix': {
      // Docker's shortcut for a leading **: a plain suffix test, so **foo also matches barfoo.
      const suffix = pattern.slice(2);
      return (path) => path.endsWith(suffix) || (suffix.startsWith('/') && path === suffix.slice(1));
    }
    case 'regexp': {
      const re = new RegExp(`${regex}$`);
      return (path) => re.test(path);
    }
  }
}

export function parseDockerignore(text: string): ParsedIgnore {
  const rules: IgnoreRule[] = [];
  const problems: string[] = [];
  text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .forEach((raw, index) => {
      const line = index + 1;
      if (raw.startsWith('#')) return;
      let pattern = raw.trim();
      if (pattern === '') return;
      const exclusion = pattern.startsWith('!');
      if (exclusion) pattern = pattern.slice(1).trim();
      if (exclusion && pattern === '') {
        problems.push(`line ${line}: "!" alone excludes nothing; write the path to re-include after it, e.g. !README.md`);
        return;
      }
      pattern = cleanPath(pattern);
      if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
      const syntax = patternSyntaxProblem(pattern);
      if (syntax) {
        problems.push(`line ${line}: "${raw.trim()}" is not a valid pattern (${syntax})`);
        return;
      }
      rules.push({ pattern, exclusion, line, test: compilePattern(pattern) });
    });
  return { rules, problems };
}

export interface IgnoreMatch {
  excluded: boolean;
  /** Which rules matched this path or a parent: what its children need (Docker's MatchInfo). */
  matched: boolean[];
}

/**
 * Whether `path` (slash-separated, relative to the context) is left out,
 * given what its parent directory matched (Docker's
 * MatchesUsingParentResults; undefined for a top-level entry).
 */
export function matchIgnore(rules: readonly IgnoreRule[], path: string, parent?: readonly boolean[]): IgnoreMatch {
  let excluded = false;
  const matched = rules.map(() => false);
  rules.forEach((rule, i) => {
    let match = parent?.[i] ?? false;
    if (!match) {
      // A rule is only worth testing when it could change the outcome.
      if (rule.exclusion !== excluded) return;
      match = rule.test(path);
    }
    matched[i] = match;
    if (match) excluded = !rule.exclusion;
  });
  return { excluded, matched };
}

/**
 * Whether a `!` rule may re-include something under the excluded directory
 * `dir`; if not, the walk skips it whole. Like Docker, only rules that spell
 * the directory out literally count (`!dir/keep`, not `!**\/keep`).
 */
export function mayReinclude(rules: readonly IgnoreRule[], dir: string): boolean {
  return rules.some((rule) => rule.exclusion && `${rule.pattern}/`.startsWith(`${dir}/`));
}
