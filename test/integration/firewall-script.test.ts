/**
 * The firewall loader (berth-firewall) run for real: Debian's iptables-nft
 * on this machine, each case inside a network namespace of its own (unshare
 * --net), so the machine's own rules are never touched.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIREWALL_JUMPS, firewallPolicy, renderFirewallScript, renderRules, type FirewallInput } from '../../src/render/firewall';
import { testAnswers } from '../support/answers';
import { phaseContext } from '../support/phase-check';

/** What Docker has made when it runs: its chains, the jump to DOCKER-USER first in FORWARD, a published port. */
const DOCKER_CHAINS = `iptables -N DOCKER
iptables -N DOCKER-USER
iptables -A DOCKER-USER -j RETURN
iptables -A FORWARD -j DOCKER-USER
iptables -A FORWARD -o docker0 -j DOCKER
iptables -A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
iptables -t nat -N DOCKER
iptables -t nat -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80`;

function input(overrides: Record<string, unknown> = {}, host = 'vm1'): FirewallInput {
  const answers = testAnswers({ firewall: { adminCidrs: ['203.0.113.0/24', '2001:db8::/32'] }, ...overrides });
  const ctx = phaseContext(answers, host);
  return { answers, host: ctx.host, cluster: ctx.cluster, currentSshPort: 22 };
}

/** A directory with the script and the rules for `input`. */
function rulesDir(fw: FirewallInput): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-fw-'));
  const policy = firewallPolicy(fw);
  writeFileSync(join(dir, 'rules.v4'), renderRules(policy, 4, fw.host.name));
  writeFileSync(join(dir, 'rules.v6'), renderRules(policy, 6, fw.host.name));
  writeFileSync(join(dir, 'berth-firewall'), renderFirewallScript(), { mode: 0o755 });
  return dir;
}

/** iptables lives in /usr/sbin, which a plain `su` leaves off the PATH. */
const SBIN_ENV = { ...process.env, PATH: `/usr/local/sbin:/usr/sbin:/sbin:${process.env.PATH ?? ''}` };

/** Runs a bash script in a fresh network namespace; `fw DIR start|check` runs the loader on the rules in DIR, with berth's chains. */
function inNamespace(script: string): { code: number; out: string } {
  const prelude = `set -e\nfw() { "$1/berth-firewall" "$2" "$1" ${FIREWALL_JUMPS.join(' ')}; }\n`;
  const result = spawnSync('unshare', ['--net', 'bash', '-c', prelude + script], { encoding: 'utf8', env: SBIN_ENV });
  return { code: result.status ?? 1, out: `${result.stdout}${result.stderr}` };
}

function lines(text: string, prefix: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(prefix));
}

describe('berth-firewall with real iptables (in a network namespace)', function () {
  before(function () {
    if (spawnSync('unshare', ['--net', 'iptables', '-S'], { encoding: 'utf8', env: SBIN_ENV }).status !== 0) {
      throw new Error('`unshare --net iptables -S` fails here; these tests need root, unshare and iptables (bash test/host-setup.sh)');
    }
  });

  it('loads the rules into its own chains, with one jump to each, and check agrees', () => {
    const dir = rulesDir(input());
    const r = inNamespace(`fw ${dir} start\nfw ${dir} start\nfw ${dir} check\necho CHECK=ok\niptables -S\nip6tables -S`);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /CHECK=ok/);
    // Both families: policy DROP on INPUT, one jump each (the second start added none).
    for (const jump of ['-A INPUT -j BERTH-INPUT', '-A DOCKER-USER -j BERTH-DOCKER-USER', '-A FORWARD -j DOCKER-USER']) {
      assert.equal(lines(r.out, jump).length, 2, `${jump} once per family:\n${r.out}`);
    }
    assert.equal(lines(r.out, '-P INPUT DROP').length, 2);
    assert.equal(lines(r.out, '-P OUTPUT ACCEPT').length, 2);
    assert.ok(lines(r.out, '-A BERTH-INPUT -s 203.0.113.0/24 -p tcp -m tcp --dport 22').length === 1, r.out);
    assert.ok(lines(r.out, '-A BERTH-INPUT -s 2001:db8::/32 -p tcp -m tcp --dport 22').length === 1, r.out);
    assert.deepEqual(lines(r.out, '-N BERTH-OUTPUT'), []);
  });

  it("leaves Docker's chains and NAT as they were and goes first in DOCKER-USER", () => {
    const dir = rulesDir(input());
    const r = inNamespace(`${DOCKER_CHAINS}
before=$(iptables -S DOCKER; iptables -S FORWARD; iptables -t nat -S)
fw ${dir} start
after=$(iptables -S DOCKER; iptables -S FORWARD; iptables -t nat -S)
[ "$before" = "$after" ] && echo DOCKER=unchanged
iptables -S DOCKER-USER`);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /DOCKER=unchanged/);
    assert.deepEqual(lines(r.out, '-A DOCKER-USER'), ['-A DOCKER-USER -j BERTH-DOCKER-USER', '-A DOCKER-USER -j RETURN']);
  });

  it('adds an OUTPUT chain with policy DROP for strict egress and removes it again when egress opens', () => {
    const strict = rulesDir(input({ firewall: { adminCidrs: ['203.0.113.0/24'], egress: 'strict' } }));
    const open = rulesDir(input({ firewall: { adminCidrs: ['203.0.113.0/24'] } }));
    const r = inNamespace(`fw ${strict} start
fw ${strict} check
echo STRICT; iptables -S OUTPUT
fw ${open} start
fw ${open} check
echo OPEN; iptables -S OUTPUT; iptables -S | grep -c BERTH-OUTPUT || true`);
    assert.equal(r.code, 0, r.out);
    const [strictPart, openPart] = r.out.split('OPEN\n');
    assert.deepEqual(lines(strictPart, '-'), ['-P OUTPUT DROP', '-A OUTPUT -j BERTH-OUTPUT']);
    assert.deepEqual(openPart.trim().split('\n'), ['-P OUTPUT ACCEPT', '0']);
  });

  it('check fails and says why when the live rules are not the loaded ones', () => {
    const dir = rulesDir(input());
    const r = inNamespace(`fw ${dir} start
iptables -F BERTH-INPUT
ip6tables -D INPUT -j BERTH-INPUT
fw ${dir} check || echo CHECK=failed`);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /iptables: BERTH-INPUT has 0 rules, \S+rules\.v4 has \d+/);
    assert.match(r.out, /ip6tables: INPUT does not jump to BERTH-INPUT exactly once/);
    assert.match(r.out, /CHECK=failed/);
  });

  it('check fails before the first start (nothing loaded yet)', () => {
    const dir = rulesDir(input());
    const r = inNamespace(`fw ${dir} check || echo CHECK=failed`);
    assert.match(r.out, /CHECK=failed/);
    assert.match(r.out, /the policy of INPUT is not DROP/);
  });

  it('a second start repairs a missing jump and a flushed chain', () => {
    const dir = rulesDir(input());
    const r = inNamespace(`fw ${dir} start
iptables -D DOCKER-USER -j BERTH-DOCKER-USER
iptables -F BERTH-INPUT
iptables -I INPUT 1 -j BERTH-INPUT
fw ${dir} start
fw ${dir} check && echo CHECK=ok
iptables -S INPUT`);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /CHECK=ok/);
    assert.deepEqual(lines(r.out, '-A INPUT'), ['-A INPUT -j BERTH-INPUT']);
  });
});
