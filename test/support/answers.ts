import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { parseAnswers } from '../../src/answers/load';
import type { Answers } from '../../src/answers/schema';

/** Strong literal secrets, distinctive so that redaction tests can search for them. */
export const TEST_SECRETS = {
  registry: 'Reg1stry-Secret-QX7vT9pL',
  django: 'dj4ngo-Secret-Key-Mz8wN2cR5tY7uI9oP1aS3dF6gH',
  dbRoot: 'Db-R00t-Secret-Kp4zW8',
  db: 'Db-App-Secret-Vn6xB2qJ',
};

/** A directory holding a (dummy) private key file, so that ssh.privateKey validates. */
export function fixtureDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-test-'));
  writeFileSync(join(dir, 'id_test'), 'not a real key; the file only has to exist\n', { mode: 0o600 });
  return dir;
}

export function answersYaml(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: 1,
    ssh: { user: 'root', privateKey: './id_test' },
    hosts: [
      { name: 'vm1', address: '10.0.0.11', roles: ['app', 'lb', 'db'] },
      { name: 'vm2', address: '10.0.0.12', roles: ['registry', 'dns'] },
    ],
    dns: { mode: 'forwarder', upstreams: ['shecan'] },
    registry: { password: TEST_SECRETS.registry },
    app: { secretKey: TEST_SECRETS.django },
    db: { rootPassword: TEST_SECRETS.dbRoot, password: TEST_SECRETS.db },
    ...overrides,
  };
}

/** Parsed answers from a plain object, through the real loader. */
export function testAnswers(overrides: Record<string, unknown> = {}): Answers {
  const dir = fixtureDir();
  const file = join(dir, 'berth.yaml');
  return parseAnswers(stringify(answersYaml(overrides)), file).answers;
}
