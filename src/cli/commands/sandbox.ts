import { relative } from 'node:path';
import { BadInputError } from '../../errors';
import { DEBIAN_SUITES, DEBIAN_VERSION, DEFAULT_SANDBOX_DIR, MAX_VMS, MIRROR_MODES, type DebianSuite, type MirrorMode } from '../../sandbox/plan';
import type { Command, OptionSpec } from '../command';

// The sandbox machinery loads when a sandbox command runs, not with every berth command.
const sandbox = () => require('../../sandbox/sandbox') as typeof import('../../sandbox/sandbox');


const dirOption: OptionSpec = {
  type: 'string',
  valueName: 'DIR',
  description: `Where the sandbox keeps its key and answers file (default ${DEFAULT_SANDBOX_DIR}).`,
};

function mirrorMode(value: unknown): MirrorMode {
  const mode = (value ?? 'auto') as MirrorMode;
  if (!MIRROR_MODES.includes(mode)) throw new BadInputError(`--mirror must be one of ${MIRROR_MODES.join(', ')}, not "${String(value)}"`);
  return mode;
}

function vmCount(value: unknown): number {
  const count = Number(value ?? 2);
  if (!Number.isInteger(count) || count < 1 || count > MAX_VMS) throw new BadInputError(`--vms must be a whole number from 1 to ${MAX_VMS}`);
  return count;
}

function debianSuite(value: unknown): DebianSuite {
  const version = String(value ?? DEBIAN_VERSION.trixie);
  const suite = DEBIAN_SUITES.find((s) => DEBIAN_VERSION[s] === version);
  if (!suite) throw new BadInputError(`--debian must be ${DEBIAN_SUITES.map((s) => DEBIAN_VERSION[s]).join(' or ')}, not "${version}"`);
  return suite;
}

/** The path as the user would type it from here. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
}

export const sandboxUpCommand: Command = {
  words: ['sandbox', 'up'],
  summary: 'Start local VM-like test hosts and write an answers file for them.',
  usage: '[--dir DIR] [--vms N] [--mirror auto|always|never] [--debian 13|12]',
  options: {
    dir: dirOption,
    vms: { type: 'string', valueName: 'N', description: 'How many VMs (default 2, the original layout).' },
    debian: {
      type: 'string',
      valueName: 'VERSION',
      description: "The Debian release of the VMs: 13 (default) or 12 (the answers then take Docker from Docker's repository, or the local stand-in of it).",
    },
    mirror: {
      type: 'string',
      valueName: 'MODE',
      description: 'Run a local Docker Hub mirror: auto (when Docker Hub is unreachable), always, never.',
    },
  },
  details: [
    'Needs Docker. Each VM is a container running systemd and OpenSSH (Debian 13, or 12), on its own',
    'Docker network with a resolver and a smart DNS stand-in. Running it again reuses what runs.',
  ].join('\n'),
  async run({ values, print }) {
    const dir = typeof values.dir === 'string' ? values.dir : DEFAULT_SANDBOX_DIR;
    const { topology, answersPath } = await sandbox().sandboxUp({
      dir,
      vms: vmCount(values.vms),
      mirror: mirrorMode(values.mirror),
      suite: debianSuite(values.debian),
      log: (line) => print.info(`  ${line}`),
    });
    print.info(`${print.color.green('✔')} sandbox is up: ${Object.values(topology.vms).map((vm) => `${vm.name} ${vm.ip}`).join(', ')}`);
    print.info(`  root login:   ssh -i ${shown(topology.sshKeyPath)} root@${Object.values(topology.vms)[0].ip}`);
    print.info(`  answers file: ${shown(answersPath)}`);
    print.info('Next:');
    print.out(`berth install --answers ${shown(answersPath)}`);
  },
};

export const sandboxDownCommand: Command = {
  words: ['sandbox', 'down'],
  summary: 'Remove the sandbox hosts, their network and volumes.',
  usage: '[--dir DIR]',
  options: { dir: dirOption },
  async run({ values, print }) {
    const removed = await sandbox().sandboxDown(typeof values.dir === 'string' ? values.dir : DEFAULT_SANDBOX_DIR);
    if (removed.length === 0) print.info('No sandbox was running.');
    for (const line of removed) print.info(`  removed ${line}`);
  },
};

export const sandboxStatusCommand: Command = {
  words: ['sandbox', 'status'],
  summary: 'Show the sandbox containers and their addresses.',
  usage: '',
  options: {},
  async run({ print }) {
    const containers = await sandbox().sandboxStatus();
    if (containers.length === 0) {
      print.info('No sandbox is running. Start one with `berth sandbox up`.');
      return;
    }
    const rows = containers.map((c) => [c.name, c.role, c.state, c.ip]);
    const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length), ['NAME', 'ROLE', 'STATE'][i].length));
    for (const row of [['NAME', 'ROLE', 'STATE', 'ADDRESS'], ...rows]) {
      print.out(row.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]) : cell)).join('  '));
    }
  },
};
