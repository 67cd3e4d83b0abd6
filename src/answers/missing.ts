import { formatPath } from './problems';
import { REQUIRED_SECRETS, type Answers } from './schema';

/** Answers still needed before an install can run: what the wizard asks and --yes refuses. */
export interface MissingAnswer {
  path: string[];
  /** A sentence saying what it is for. */
  what: string;
}

/** What each required secret is for, by its path: shown when it is missing and when the wizard asks. */
export const SECRET_PURPOSE: Record<string, string> = {
  'registry.password': 'the password of the private registry',
  'app.secretKey': "Django's SECRET_KEY",
  'db.rootPassword': "MariaDB's root password",
  'db.password': "the app's MariaDB password",
};

export function missingSecrets(answers: Answers): MissingAnswer[] {
  return REQUIRED_SECRETS.filter(([section, key]) => (answers[section] as Record<string, unknown>)[key] === undefined).map((path) => ({
    path: [...path],
    what: SECRET_PURPOSE[formatPath(path)],
  }));
}
