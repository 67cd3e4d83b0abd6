import { everyHost, HostProblem, type Phase, type PhaseContext } from '../engine/phase';
import type { Facts } from '../engine/plan';

/**
 * Preflight changes nothing: it checks that the host is one berth supports
 * and has room to work, and stops the run before any change when it is not.
 */

export const SUPPORTED_OS: Record<string, string[]> = {
  debian: ['12', '13'],
  ubuntu: ['22.04', '24.04'],
};
export const SUPPORTED_ARCH = ['amd64', 'arm64'];
export const MINIMUM = { cpus: 1, memoryMb: 900, rootFreeMb: 4096 };

export function unsupportedReason(ctx: PhaseContext): string | null {
  const { info } = ctx;
  const versions = SUPPORTED_OS[info.osId];
  if (!versions || !versions.includes(info.osVersion)) {
    return `${info.osName} is not supported; berth supports Debian 12 and 13, Ubuntu 22.04 and 24.04`;
  }
  if (!SUPPORTED_ARCH.includes(info.arch)) return `the ${info.arch} architecture is not supported; berth supports x86_64 (amd64) and arm64`;
  if (info.init !== 'systemd') return `PID 1 is "${info.init}", not systemd; berth needs systemd`;
  return null;
}

function resourceProblems(ctx: PhaseContext): string[] {
  const { info } = ctx;
  const problems: string[] = [];
  if (info.cpus < MINIMUM.cpus) problems.push(`${info.cpus} CPUs (need ${MINIMUM.cpus})`);
  if (info.memoryMb < MINIMUM.memoryMb) problems.push(`${info.memoryMb} MB of memory (need ${MINIMUM.memoryMb})`);
  if (info.rootFreeMb < MINIMUM.rootFreeMb) problems.push(`${info.rootFreeMb} MB free on / (need ${MINIMUM.rootFreeMb})`);
  return problems;
}

export const preflightPhase: Phase = {
  name: 'preflight',
  title: 'preflight',
  appliesTo: everyHost,
  query: () => ({
    probes: {
      sudo: 'id -u',
      clock: "timedatectl show -p NTPSynchronized --value 2>/dev/null || echo unknown",
    },
  }),
  plan(ctx, facts: Facts) {
    const unsupported = unsupportedReason(ctx);
    if (unsupported) throw new HostProblem(unsupported, 'Use a supported distribution; nothing was changed on this host.');
    if (facts.probes.sudo.out.trim() !== '0') {
      throw new HostProblem(`commands do not run as root (id -u said "${facts.probes.sudo.out.trim()}")`, 'Connect as root or as a user with sudo rights.');
    }
    const short = resourceProblems(ctx);
    if (short.length > 0) throw new HostProblem(`the host is too small: ${short.join(', ')}`);
    return [];
  },
};
