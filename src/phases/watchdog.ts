import { hostsWithRole, type Phase } from '../engine/phase';
import type { Action } from '../engine/plan';
import { WATCHDOG_UNIT, watchdogFiles } from '../render/watchdog';
import { configuredService, configuredServiceFiles } from './common';

/** The container watchdog (render/watchdog.ts) on the hosts that run the stack, before the stack starts. */

const MARKER = 'watchdog';
const TIMER = `${WATCHDOG_UNIT}.timer`;

export const watchdogPhase: Phase = {
  name: 'watchdog',
  title: 'container watchdog',
  appliesTo: hostsWithRole('app', 'lb', 'db'),
  query: () => ({ files: configuredServiceFiles(MARKER, watchdogFiles()), units: [TIMER] }),
  plan(_ctx, facts): Action[] {
    const actions = configuredService(facts, MARKER, watchdogFiles(), [
      { kind: 'service', unit: TIMER, op: 'daemon-reload' },
      { kind: 'service', unit: TIMER, op: 'enable-now' },
    ]);
    const timer = facts.units[TIMER];
    if (actions.length === 0 && (timer.enabled !== 'enabled' || timer.active !== 'active')) actions.push({ kind: 'service', unit: TIMER, op: 'enable-now' });
    return actions;
  },
};
