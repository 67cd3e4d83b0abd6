import { isIP } from 'node:net';
import { revertUnitName } from '../engine/commands';
import { everyHost, HostProblem, type Phase, type PhaseContext } from '../engine/phase';
import type { Action } from '../engine/plan';
import {
  FIREWALL_FILES,
  FIREWALL_SCRIPT,
  FIREWALL_UNIT,
  FIREWALL_UNIT_PATH,
  firewallBackupScript,
  firewallCommand,
  firewallPolicy,
  firewallRevertScript,
  lockoutRisk,
  renderFirewallScript,
  renderFirewallUnit,
  renderRules,
  RULES_V4,
  RULES_V6,
} from '../render/firewall';
import { configuredService, configuredServiceFiles, markerPath, type WantedFile } from './common';

/**
 * The firewall: berth's iptables chains next to Docker's, loaded at boot by
 * berth-firewall.service and applied under the lockout guard (the previous
 * rules come back by themselves unless a new SSH login works afterwards).
 */

const MARKER = 'firewall';
/**
 * Exit 0 when the unit is enabled and has loaded the rules the files hold
 * (see `berth-firewall check`), and no change waits for its automatic revert:
 * a run killed before confirming leaves one, and it would undo the rules a
 * minute later if this run found nothing to do.
 */
const LIVE_PROBE = 'live';
export const FIREWALL_LIVE_SCRIPT = [
  `if systemctl is-active --quiet ${revertUnitName('firewall')}.timer; then echo 'an unconfirmed change waits for its automatic revert'; exit 1; fi`,
  `systemctl is-enabled --quiet ${FIREWALL_UNIT} || { echo '${FIREWALL_UNIT} is not enabled'; exit 1; }`,
  `systemctl is-active --quiet ${FIREWALL_UNIT} || { echo '${FIREWALL_UNIT} is not active'; exit 1; }`,
  firewallCommand('check'),
].join('\n');

function wanted(ctx: PhaseContext): WantedFile[] {
  const unresolved = ctx.cluster.find((h) => !isIP(h.clusterAddress));
  if (unresolved) {
    throw new HostProblem(
      `the firewall rules need the IP address other hosts reach ${unresolved.name} at, and "${unresolved.clusterAddress}" is not one`,
      `Set hosts[].privateAddress of ${unresolved.name} in the answers file.`,
    );
  }
  const policy = firewallPolicy({ answers: ctx.answers, host: ctx.host, cluster: ctx.cluster, currentSshPort: ctx.info.sshPort });
  return [
    { path: RULES_V4, content: renderRules(policy, 4, ctx.host.name), mode: 0o600 },
    { path: RULES_V6, content: renderRules(policy, 6, ctx.host.name), mode: 0o600 },
    { path: FIREWALL_SCRIPT, content: renderFirewallScript(), mode: 0o755 },
    { path: FIREWALL_UNIT_PATH, content: renderFirewallUnit(), mode: 0o644 },
  ];
}

const LOAD: Action[] = [
  { kind: 'service', unit: FIREWALL_UNIT, op: 'daemon-reload' },
  { kind: 'service', unit: FIREWALL_UNIT, op: 'enable' },
  {
    kind: 'run',
    title: `load the firewall rules (restart ${FIREWALL_UNIT})`,
    script: `systemctl restart ${FIREWALL_UNIT}\n${firewallCommand('check')}`,
    effects: [{ probe: LIVE_PROBE, code: 0, out: '' }],
  },
];

/** Everything the revert restores: the files and the marker, so that an undone change is redone by the next run. */
const SAVED = [...FIREWALL_FILES, markerPath(MARKER)];

export const firewallPhase: Phase = {
  name: 'firewall',
  title: 'firewall',
  appliesTo: everyHost,
  query: (ctx) => ({
    files: configuredServiceFiles(MARKER, wanted(ctx)),
    packages: ['iptables'],
    probes: { [LIVE_PROBE]: FIREWALL_LIVE_SCRIPT },
  }),
  plan(ctx, facts) {
    const actions: Action[] = facts.packages.iptables ? [] : [{ kind: 'packages', install: ['iptables'] }];
    let change = configuredService(facts, MARKER, wanted(ctx), LOAD);
    // The files are right but the live rules are not (a failed boot, a flush by hand, an unconfirmed change): load them again, under the guard.
    if (change.length === 0 && facts.probes[LIVE_PROBE].code !== 0) change = [...LOAD];
    if (change.length === 0) return actions;
    actions.push({
      kind: 'guarded',
      title: 'apply the firewall rules',
      backup: firewallBackupScript(SAVED),
      actions: change,
      revert: firewallRevertScript(SAVED),
      risk: lockoutRisk(ctx.answers, { address: ctx.info.clientAddress, sshPort: ctx.info.sshPort }),
    });
    return actions;
  },
};
