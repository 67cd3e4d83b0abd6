import assert from 'node:assert/strict';
import { HostProblem, type PhaseContext } from '../../../src/engine/phase';
import { emptyFacts } from '../../../src/engine/plan';
import { PHASES } from '../../../src/phases';
import { REGISTRY_FILES } from '../../../src/render/registry';
import { testAnswers } from '../../support/answers';
import { assertConverges, factsFor, phaseContext } from '../../support/phase-check';

/**
 * pyinfra's rule for every phase of the install, on every host it concerns:
 * planned from a bare host's facts, applied (simulated), planned again: the
 * second plan is empty. The facts a planner sees are only those its query
 * asked for (support/phase-check), so a fact missing from a query fails here.
 */
describe('every phase converges', () => {
  const answers = testAnswers({ docker: { source: 'distro', registryMirrors: ['https://hubmirror.berth.test'] } });
  const local = { appContext: { localPath: '/tmp/context.tar', sha256: 'ab'.repeat(32), size: 1024 } };
  const peer = emptyFacts();
  peer.files[REGISTRY_FILES.caCert.path] = { content: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', mode: 0o644, owner: 'root', group: 'root' };
  const reach = { code: 0, out: 'apt http://deb.debian.org/debian/ http 200\nmirror0 https://hubmirror.berth.test/v2/ http 401\ndockerHub https://registry-1.docker.io/v2/ dns\n' };

  for (const phase of PHASES) {
    for (const hostName of ['vm1', 'vm2']) {
      const base = phaseContext(answers, hostName);
      if (!phase.appliesTo(base.host, answers)) continue;
      it(`${phase.name} on ${hostName}`, () => {
        const ctx: PhaseContext = { ...base, local: { ...base.local, ...local }, peers: phase.peers ? { vm2: peer } : {} };
        // What a fresh Debian 13 VM has that the phases read before changing it.
        const facts = factsFor(phase, ctx, { probes: { root: { code: 0, out: '0\n' }, clock: { code: 0, out: 'yes\n' }, include: { code: 0, out: 'yes\n' }, reach } });
        try {
          assertConverges(phase, ctx, facts);
        } catch (err) {
          if (err instanceof HostProblem) assert.fail(`${phase.name} refused a bare supported host: ${err.message}`);
          throw err;
        }
      });
    }
  }
});
