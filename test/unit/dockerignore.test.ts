import assert from 'node:assert/strict';
import { cleanPath, matchIgnore, mayReinclude, parseDockerignore, type IgnoreMatch, type IgnoreRule } from '../../src/app/dockerignore';

/** Whether `path` is left out, checking its parent directories first as the context's walk does. */
function isIgnored(rules: readonly IgnoreRule[], path: string): boolean {
  const parts = path.split('/');
  let result: IgnoreMatch | undefined;
  for (let n = 1; n <= parts.length; n++) result = matchIgnore(rules, parts.slice(0, n).join('/'), result?.matched);
  return result?.excluded ?? false;
}

const rules = (...lines: string[]) => {
  const parsed = parseDockerignore(lines.join('\n'));
  assert.deepEqual(parsed.problems, []);
  return parsed.rules;
};

/** [patterns, path, ignored] in the style of moby/patternmatcher's tests. */
function expectMatches(cases: [string[], string, boolean][]) {
  for (const [patterns, path, ignored] of cases) {
    assert.equal(isIgnored(rules(...patterns), path), ignored, `${JSON.stringify(patterns)} on ${path}`);
  }
}

describe('.dockerignore: reading the file', () => {
  it('skips comments and blank lines, trims, cleans, drops a leading / and strips a BOM and CRs', () => {
    const parsed = parseDockerignore('\uFEFF# comment\n\n  build/  \r\n #not-a-comment\n/abs/path\n!/keep/./me/\nfoo/../bar\n//x//y\n/\n');
    assert.deepEqual(parsed.problems, []);
    assert.deepEqual(
      parsed.rules.map((r) => [r.pattern, r.exclusion, r.line]),
      [
        ['build', false, 3],
        ['#not-a-comment', false, 4],
        ['abs/path', false, 5],
        ['keep/me', true, 6],
        ['bar', false, 7],
        ['x/y', false, 8],
        ['/', false, 9],
      ],
    );
  });

  it('reports each line that is not a pattern, with its number', () => {
    const parsed = parseDockerignore('ok\n!\n[abc\nend\\\n[]x]\n[a-]\n[-a]\n[z-a\n');
    assert.deepEqual(parsed.problems, [
      'line 2: "!" alone excludes nothing; write the path to re-include after it, e.g. !README.md',
      'line 3: "[abc" is not a valid pattern (a [ is not closed)',
      'line 4: "end\\" is not a valid pattern (it ends in a lone \\)',
      'line 5: "[]x]" is not a valid pattern ("]" cannot stand there in a [...] class; escape it as \\])',
      'line 6: "[a-]" is not a valid pattern ("]" cannot stand there in a [...] class; escape it as \\])',
      'line 7: "[-a]" is not a valid pattern ("-" cannot stand there in a [...] class; escape it as \\-)',
      'line 8: "[z-a" is not a valid pattern (a [ is not closed)',
    ]);
    assert.deepEqual(parsed.rules.map((r) => r.pattern), ['ok']);
  });

  it('cleans paths like Go filepath.Clean', () => {
    const cases: [string, string][] = [
      ['', '.'],
      ['.', '.'],
      ['a/', 'a'],
      ['a//b', 'a/b'],
      ['./a/./b/', 'a/b'],
      ['a/../../b', '../b'],
      ['../../a', '../../a'],
      ['/../a', '/a'],
      ['/', '/'],
      ['a/b/..', 'a'],
    ];
    for (const [input, cleaned] of cases) assert.equal(cleanPath(input), cleaned, input);
  });
});

describe('.dockerignore: matching', () => {
  it('* and ? stay within one path component; patterns are anchored at the context root', () => {
    expectMatches([
      [['*.md'], 'README.md', true],
      [['*.md'], 'docs/a.md', false],
      [['*/*.md'], 'docs/a.md', true],
      [['*'], 'anything/below', true],
      [['?.txt'], 'a.txt', true],
      [['?.txt'], 'ab.txt', false],
      [['a?b'], 'a/b', false],
      [['a*b'], 'a/b', false],
      [['build'], 'build', true],
      [['build'], 'src/build', false],
      [['/build'], 'build', true],
    ]);
  });

  it('a matching directory takes everything below it', () => {
    expectMatches([
      [['docs'], 'docs/a/b.txt', true],
      [['d*'], 'docs/a/b.txt', true],
      [['docs/a'], 'docs/a/b.txt', true],
      [['docs/a'], 'docs/ab', false],
    ]);
  });

  it('** matches any number of directories, including none', () => {
    expectMatches([
      [['**/*.pyc'], 'a.pyc', true],
      [['**/*.pyc'], 'x/y/a.pyc', true],
      [['**/*.pyc'], 'a.pyc.txt', false],
      [['**/__pycache__'], '__pycache__/x.pyc', true],
      [['**/__pycache__'], 'app/__pycache__/x.pyc', true],
      [['**/__pycache__'], 'app/not__pycache__', false],
      [['a/**/b'], 'a/b', true],
      [['a/**/b'], 'a/x/y/b', true],
      [['a/**/b'], 'a/xb', false],
      [['a/**'], 'a/x/y', true],
      [['a/**'], 'a', false],
      [['a**'], 'abc', true],
      [['a/*/**'], 'a/b/c/d', true],
      [['**'], 'any/thing', true],
      [['**.log'], 'x/y.log', true],
    ]);
  });

  it('keeps Docker’s shortcut for a leading **: a plain suffix', () => {
    expectMatches([
      [['**foo'], 'barfoo', true],
      [['**/foo'], 'barfoo', false],
      [['**/foo'], 'foo', true],
    ]);
  });

  it('character classes, escapes and regular-expression characters', () => {
    expectMatches([
      [['[abc].txt'], 'b.txt', true],
      [['[abc].txt'], 'd.txt', false],
      [['[^a].txt'], 'b.txt', true],
      [['[^a].txt'], 'a.txt', false],
      [['[a-c]x'], 'bx', true],
      [['[a-c]x'], 'dx', false],
      [['a.b'], 'a.b', true],
      [['a.b'], 'axb', false],
      [['a+b'], 'aab', false],
      [['(a|b)'], '(a|b)', true],
      [['{a,b}'], 'a', false],
      [['$x'], '$x', true],
      [['\\*.txt'], '*.txt', true],
      [['\\*.txt'], 'a.txt', false],
      [['\\[x\\]'], '[x]', true],
      [['é*'], 'été', true],
    ]);
  });

  it('the last matching rule wins; ! re-includes', () => {
    expectMatches([
      [['*.md', '!README.md'], 'README.md', false],
      [['*.md', '!README.md'], 'CHANGES.md', true],
      [['*.md', '!README.md', 'README.md'], 'README.md', true],
      [['!a', 'a'], 'a', true],
      [['docs', '!docs/keep.md'], 'docs/keep.md', false],
      [['docs', '!docs/keep.md'], 'docs/other.md', true],
      [['docs', '!docs/keep.md'], 'docs', true],
      [['docs', '!docs/keep'], 'docs/keep/deeper/file', false],
      [['docs', '!docs/keep', 'docs/keep/tmp'], 'docs/keep/tmp/x', true],
      [['!x'], 'x', false],
    ]);
  });

  it('a later !dir does not re-include a path an earlier rule named (Docker compares against the parent’s results)', () => {
    expectMatches([
      [['a/b', '!a'], 'a/b', true],
      [['a/b', '!a/b'], 'a/b', false],
    ]);
  });

  it('walks into an excluded directory only for a ! rule that names it literally', () => {
    assert.equal(mayReinclude(rules('docs', '!docs/keep.md'), 'docs'), true);
    assert.equal(mayReinclude(rules('docs', '!docs'), 'docs'), true);
    assert.equal(mayReinclude(rules('a', '!a/b/c'), 'a/b'), true);
    assert.equal(mayReinclude(rules('docs', '!docsx/keep.md'), 'docs'), false);
    assert.equal(mayReinclude(rules('docs', '!**/keep.md'), 'docs'), false);
    assert.equal(mayReinclude(rules('docs', 'docs/keep.md'), 'docs'), false);
  });
});
