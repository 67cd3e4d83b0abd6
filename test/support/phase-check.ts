import assert from 'node:assert/strict';
import type { Answers } from '../../src/answers/schema';
import type { ClusterHost, HostInfo, Phase, PhaseContext } from '../../src/engine/phase';
import { clusterOf } from '../../src/engine/cluster';
import { askedFacts, emptyFacts, simulate, type Action, type Facts } from '../../src/engine/plan';
import { testHostInfo } from './memory-host';

export const TEST_LOCAL = { adminKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVzZXJrZXlmb3J0ZXN0c29ubHkxMjM0NTY3ODkw me@laptop'] };

/** The context a phase sees for one host of the answers. */
export function phaseContext(answers: Answers, hostName: string, info: Partial<HostInfo> = {}): PhaseContext {
  const cluster: ClusterHost[] = clusterOf(answers);
  const host = cluster.find((h) => h.name === hostName);
  assert.ok(host, `no host ${hostName}`);
  return { answers, host, cluster, info: testHostInfo({ hostname: hostName, addresses: [host.clusterAddress], ...info }), local: TEST_LOCAL, peers: {} };
}

/** Facts for a phase's query, filled from a partial model (absent by default). */
export function factsFor(phase: Phase, ctx: PhaseContext, known: Partial<Facts> = {}): Facts {
  const query = phase.query(ctx);
  const facts = emptyFacts();
  for (const f of query.files ?? []) facts.files[f] = known.files?.[f] ?? null;
  for (const p of query.packages ?? []) facts.packages[p] = known.packages?.[p] ?? null;
  for (const u of query.units ?? []) facts.units[u] = known.units?.[u] ?? { active: 'inactive', enabled: 'not-found' };
  for (const r of Object.keys(query.probes ?? {})) facts.probes[r] = known.probes?.[r] ?? { code: 1, out: '' };
  for (const c of Object.keys(query.installer ?? {})) facts.installer[c] = known.installer?.[c] ?? { status: 0, headers: {}, body: '', error: 'not answered' };
  // As in a run: a planner that reads a fact its query did not ask for fails the test.
  return askedFacts(facts, query);
}

/**
 * pyinfra's rule: plan against the facts, apply the plan to them, plan
 * again: the second plan must be empty. Returns the first plan.
 */
export function assertConverges(phase: Phase, ctx: PhaseContext, facts: Facts): Action[] {
  const first = phase.plan(ctx, facts);
  const after = askedFacts(simulate(facts, first), phase.query(ctx));
  const second = phase.plan(ctx, after);
  assert.deepEqual(second, [], `${phase.name} on ${ctx.host.name}: a second plan is not empty:\n${JSON.stringify(second, null, 2)}`);
  return first;
}

/** The script of a planned run action (fails the test on any other kind). */
export function scriptOf(action: Action | undefined): string {
  assert.ok(action?.kind === 'run', `not a run action: ${JSON.stringify(action)}`);
  return action.script;
}
