import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import Enquirer from 'enquirer';
import { isSeq, parseDocument, type Document } from 'yaml';
import { addressProblem, cidrProblem, ipProblem } from '../answers/net';
import { DNS_PRESET_NAMES, DNS_PRESETS } from '../answers/presets';
import { SECRET_PURPOSE } from '../answers/missing';
import { formatPath } from '../answers/problems';
import { DEFAULT_LAYOUT, REQUIRED_SECRETS, ROLES } from '../answers/schema';
import { generateSecret, weakPasswordReason } from '../answers/secret';
import { assetPath } from '../assets';
import { redact, REDACTED } from '../engine/redact';

/**
 * Every question berth asks lives here; this is the only importer of
 * enquirer. The wizard edits a YAML document (the example file, or the
 * user's own) so that comments survive and the result is the same file a
 * user would write by hand.
 */

export interface WizardIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
}

type Answer = Record<string, unknown>;

class Asker {
  readonly enquirer: Enquirer;

  constructor(io: WizardIo) {
    this.enquirer = new Enquirer({ stdin: io.stdin, stdout: io.stdout } as object);
  }

  async ask<T>(question: Answer & { name: string }): Promise<T> {
    try {
      const answer = (await this.enquirer.prompt(question as unknown as Parameters<Enquirer['prompt']>[0])) as Answer;
      return answer[question.name] as T;
    } catch (err) {
      // enquirer rejects with an empty value when the user presses Ctrl-C.
      if (err === '' || err === undefined) throw new WizardCancelled();
      throw err;
    }
  }
}

/** The user pressed Ctrl-C in a prompt: nothing has been written. */
export class WizardCancelled extends Error {
  constructor() {
    super('cancelled: nothing was written');
    this.name = 'WizardCancelled';
  }
}

const validateWith = (problem: (v: string) => string | null) => (value: string) => problem(value.trim()) ?? true;

function splitList(value: string): string[] {
  return value
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

const validateList = (problem: (v: string) => string | null, allowEmpty = false) => (value: string) => {
  const items = splitList(value);
  if (items.length === 0) return allowEmpty ? true : 'give at least one';
  for (const item of items) {
    const p = problem(item);
    if (p) return p;
  }
  return true;
};

function defaultPrivateKey(): string {
  for (const name of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
    if (existsSync(join(homedir(), '.ssh', name))) return `~/.ssh/${name}`;
  }
  return '~/.ssh/id_ed25519';
}


/** Ask for one secret: generated (the default), typed (masked) or from an environment variable. */
async function askSecret(asker: Asker, path: readonly string[]): Promise<string> {
  const purpose = SECRET_PURPOSE[formatPath(path)] ?? formatPath(path);
  const label = purpose.charAt(0).toUpperCase() + purpose.slice(1);
  const how = await asker.ask<string>({
    type: 'select',
    name: 'how',
    message: `${label}`,
    choices: [
      { name: 'generate', message: 'Generate a strong one' },
      { name: 'type', message: 'Type it' },
      { name: 'env', message: 'Read it from an environment variable at run time' },
    ],
  });
  if (how === 'generate') return generateSecret(path[1] === 'secretKey' ? 48 : 24);
  if (how === 'env') {
    return `env:${await asker.ask<string>({
      type: 'input',
      name: 'env',
      message: 'Environment variable name',
      initial: `BERTH_${path.join('_').replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}`,
      validate: (v: string) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(v) ? true : 'letters, digits and _, not starting with a digit'),
    })}`;
  }
  return asker.ask<string>({
    type: 'password',
    name: 'secret',
    message: label,
    validate: (v: string) => {
      const weak = weakPasswordReason(v);
      return weak ? `this password ${weak}` : true;
    },
  });
}

function isSet(doc: Document, path: readonly string[]): boolean {
  const value = doc.getIn(path);
  return value !== undefined && value !== null && value !== '';
}

/** Secrets the document does not set yet; `env:` references count as set. */
export function unsetSecrets(doc: Document): string[][] {
  return REQUIRED_SECRETS.filter((p) => !isSet(doc, p)).map((p) => [...p]);
}

export async function askMissingSecrets(doc: Document, io: WizardIo): Promise<void> {
  const asker = new Asker(io);
  for (const path of unsetSecrets(doc)) doc.setIn(path, await askSecret(asker, path));
}

/** The document with secret values masked, for the summary. */
export function maskedSummary(doc: Document): string {
  const copy = doc.clone();
  for (const path of [...REQUIRED_SECRETS, ['ssh', 'password'], ['ssh', 'passphrase'], ['ssh', 'sudoPassword'], ['admin', 'password']]) {
    const value = copy.getIn(path);
    if (typeof value === 'string' && !value.startsWith('env:') && !value.startsWith('file:')) copy.setIn(path, REDACTED);
  }
  copy.commentBefore = null;
  return copy.toString({ lineWidth: 0 });
}

/** The example file with its secret references taken out: the wizard asks for each. */
export function wizardTemplate(): Document {
  const doc = parseDocument(readFileSync(assetPath('answers.example.yaml'), 'utf8'));
  for (const path of REQUIRED_SECRETS) doc.deleteIn(path);
  return doc;
}

/**
 * The whole wizard: hosts and roles, SSH access, admin user, firewall, DNS
 * mirror, Docker source, secrets; then a summary and a confirmation.
 * Returns the edited document, or throws WizardCancelled.
 */
export async function runWizard(doc: Document, io: WizardIo): Promise<Document> {
  const asker = new Asker(io);
  const existingHosts = (doc.toJS()?.hosts as { name?: string; address?: string; hostKey?: string; roles?: string[] }[] | undefined) ?? [];

  const hosts: { name: string; address: string; hostKey?: string; roles?: string[] }[] = [];
  for (let i = 0; ; i++) {
    const existing = existingHosts[i];
    const name = existing?.name ?? `vm${i + 1}`;
    const address = (await asker.ask<string>({
      type: 'input',
      name: 'address',
      message: `Address of ${name} (IP or hostname)${i === 0 ? ', the VM for the app and database' : i === 1 ? ', the VM for the registry and DNS' : ''}`,
      initial: existing?.address,
      validate: validateWith(addressProblem),
    })).trim();
    // A pinned host key stays pinned as long as the host keeps its address.
    hosts.push({ name, address, ...(existing?.hostKey && existing.address === address ? { hostKey: existing.hostKey } : {}) });
    if (i >= 1) {
      const more = await asker.ask<boolean>({ type: 'confirm', name: 'more', message: 'Add another VM?', initial: i + 1 < existingHosts.length });
      if (!more) break;
    }
  }

  const useDefaultLayout =
    hosts.length === DEFAULT_LAYOUT.length &&
    (await asker.ask<boolean>({
      type: 'confirm',
      name: 'layout',
      message: `Use the original layout (${hosts[0].name}: ${DEFAULT_LAYOUT[0].join('+')}, ${hosts[1].name}: ${DEFAULT_LAYOUT[1].join('+')})?`,
      initial: existingHosts.every((h, i) => !h.roles || h.roles.join('+') === DEFAULT_LAYOUT[i]?.join('+')),
    }));
  for (const [i, host] of hosts.entries()) {
    host.roles = useDefaultLayout
      ? [...DEFAULT_LAYOUT[i]]
      : await asker.ask<string[]>({
          type: 'multiselect',
          name: 'roles',
          message: `Roles of ${host.name}`,
          choices: ROLES.map((r) => ({ name: r, enabled: existingHosts[i]?.roles?.includes(r) ?? false })),
          validate: (v: string[]) => (v.length > 0 ? true : 'pick at least one role (space selects)'),
        });
  }
  doc.setIn(['hosts'], doc.createNode(hosts));
  const hostsNode = doc.getIn(['hosts'], true);
  if (isSeq(hostsNode)) for (const item of hostsNode.items) (item as { flow?: boolean }).flow = false;

  doc.setIn(['ssh', 'user'], (await asker.ask<string>({ type: 'input', name: 'user', message: 'User berth logs in as first', initial: String(doc.getIn(['ssh', 'user']) ?? 'root') })).trim());
  doc.setIn(
    ['ssh', 'port'],
    Number(await asker.ask<string>({ type: 'input', name: 'port', message: 'SSH port', initial: String(doc.getIn(['ssh', 'port']) ?? 22), validate: (v: string) => (/^\d+$/.test(v) && +v >= 1 && +v <= 65535 ? true : 'a port number, 1 to 65535') })),
  );
  doc.setIn(['ssh', 'privateKey'], (await asker.ask<string>({ type: 'input', name: 'key', message: 'Private key file', initial: defaultPrivateKey() })).trim());
  doc.setIn(['admin', 'user'], (await asker.ask<string>({ type: 'input', name: 'admin', message: 'Admin (sudo) user berth creates and then uses', initial: String(doc.getIn(['admin', 'user']) ?? 'berth'), validate: (v: string) => (/^[a-z_][a-z0-9_-]{0,31}$/.test(v) ? true : 'a Unix user name: lowercase letters, digits, _ and -') })).trim());

  const cidrs = await asker.ask<string>({
    type: 'input',
    name: 'cidrs',
    message: 'Who may reach SSH (CIDRs; your own address, e.g. 203.0.113.7/32, is safest)',
    initial: ((doc.toJS()?.firewall?.adminCidrs as string[] | undefined) ?? ['0.0.0.0/0', '::/0']).join(', '),
    validate: validateList(cidrProblem),
  });
  doc.setIn(['firewall', 'adminCidrs'], doc.createNode(splitList(cidrs), { flow: true }));

  const dnsMode = await asker.ask<string>({
    type: 'select',
    name: 'dnsMode',
    message: 'DNS mirror (smart DNS) so that images can be pulled',
    choices: [
      { name: 'forwarder', message: 'forwarder: the dns VM forwards to the smart DNS, the others resolve through it' },
      { name: 'direct', message: 'direct: every VM uses the smart DNS itself' },
      { name: 'off', message: "off: keep the VMs' resolvers as they are" },
    ],
  });
  doc.setIn(['dns', 'mode'], dnsMode);
  if (dnsMode !== 'off') {
    const preset = await asker.ask<string>({
      type: 'select',
      name: 'preset',
      message: 'Upstream DNS',
      choices: [...DNS_PRESET_NAMES.map((p) => ({ name: p, message: `${p} (${DNS_PRESETS[p].join(', ')})` })), { name: 'custom', message: 'other: type IP addresses' }],
    });
    const upstreams =
      preset === 'custom'
        ? splitList(await asker.ask<string>({ type: 'input', name: 'ips', message: 'Upstream DNS servers (IP addresses)', validate: validateList(ipProblem) }))
        : [preset];
    doc.setIn(['dns', 'upstreams'], doc.createNode(upstreams, { flow: true }));
  }

  const source = await asker.ask<string>({
    type: 'select',
    name: 'docker',
    message: 'Where Docker comes from',
    choices: [
      { name: 'official', message: "official: Docker's apt repository (or a mirror of it)" },
      { name: 'distro', message: "distro: the distribution's own docker.io package" },
      // bundle (offline packages) is not offered until berth can install from one.
    ],
  });
  doc.setIn(['docker', 'source'], source);
  const mirrors = await asker.ask<string>({
    type: 'input',
    name: 'mirrors',
    message: 'Docker Hub mirrors (URLs, comma separated; empty for none)',
    initial: ((doc.toJS()?.docker?.registryMirrors as string[] | undefined) ?? []).join(', '),
    validate: validateList((v) => (/^https?:\/\/\S+$/.test(v) ? null : `"${v}" is not an http(s) URL`), true),
  });
  doc.setIn(['docker', 'registryMirrors'], doc.createNode(splitList(mirrors), { flow: true }));

  for (const path of REQUIRED_SECRETS) {
    if (!isSet(doc, path)) doc.setIn(path, await askSecret(asker, path));
  }

  io.stdout.write(redact(`\nSummary (secrets masked):\n\n${maskedSummary(doc)}\n`));
  const ok = await asker.ask<boolean>({ type: 'confirm', name: 'ok', message: 'Write these answers?', initial: true });
  if (!ok) throw new WizardCancelled();
  return doc;
}

/** Why the answers cannot be saved at `path`, or null when they can: asked while the wizard's answers are still at hand. */
function unwritablePath(path: string): string | null {
  if (!path) return 'give a file name';
  if (existsSync(path) && statSync(path).isDirectory()) return `${path} is a directory; give a file name`;
  try {
    accessSync(dirname(resolve(path)), constants.W_OK);
    return null;
  } catch (err) {
    return `cannot write in ${dirname(resolve(path))} (${(err as NodeJS.ErrnoException).code})`;
  }
}

/** Where to save the answers; asks before replacing a file. */
export async function askSavePath(io: WizardIo, initial: string): Promise<string> {
  const asker = new Asker(io);
  for (;;) {
    const path = (await asker.ask<string>({ type: 'input', name: 'path', message: 'Save the answers to', initial, validate: (v: string) => unwritablePath(v.trim()) ?? true })).trim();
    if (!existsSync(path)) return path;
    if (await asker.ask<boolean>({ type: 'confirm', name: 'overwrite', message: `${path} exists. Replace it?`, initial: false })) return path;
  }
}

/**
 * The questions of a run come from hosts that connect in parallel; two
 * prompts drawn at once would share the terminal and both take every key.
 * So they wait for each other.
 */
let runPrompts: Promise<unknown> = Promise.resolve();
function oneAtATime<T>(ask: () => Promise<T>): Promise<T> {
  const asked = runPrompts.then(ask);
  runPrompts = asked.catch(() => undefined);
  return asked;
}

/** Trust-on-first-use: show the fingerprint and ask. */
export function confirmHostKey(io: WizardIo, host: string, address: string, fingerprint: string): Promise<boolean> {
  return oneAtATime(() =>
    new Asker(io).ask<boolean>({
      type: 'confirm',
      name: 'hostkey',
      message: `${host} (${address}) is new. Its host key fingerprint is ${fingerprint}. Trust it and pin it in the answers file?`,
      initial: false,
    }),
  );
}

/** How bare `berth` starts when an answers file is already there. */
export type AnswersStart = 'use' | 'edit' | 'new';

export function askAnswersStart(io: WizardIo, file: string): Promise<AnswersStart> {
  return new Asker(io).ask<AnswersStart>({
    type: 'select',
    name: 'start',
    message: `${file} is here. Start from it?`,
    choices: [
      { name: 'use', message: `use ${file} as it is` },
      { name: 'edit', message: `edit it: the wizard, with ${file}'s answers filled in` },
      { name: 'new', message: "start over from berth's defaults" },
    ],
  });
}

/** The last question before berth changes any host. */
export function confirmChanges(io: WizardIo): Promise<boolean> {
  return new Asker(io).ask<boolean>({ type: 'confirm', name: 'apply', message: 'Make these changes on the hosts?', initial: false });
}

/** A secret needed at run time that the answers do not hold (key passphrase, sudo password). */
export function askRunSecret(io: WizardIo, message: string): Promise<string> {
  return oneAtATime(() => new Asker(io).ask<string>({ type: 'password', name: 'secret', message }));
}
