import { setTimeout as sleep } from 'node:timers/promises';
import { createVolume, ensureContainer, removeContainer, removeVolume, type ContainerOutcome, type ContainerSpec } from './containers';
import { docker } from './docker';

/**
 * A VM-like host: a container running systemd as PID 1 from the berth-vm
 * image (assets/sandbox/vm). `docker restart` is its reboot, removing it and
 * its Docker volume gives a fresh VM.
 */

export interface VmSpec {
  topology: string;
  /** vm1, vm2 …: also its hostname. */
  name: string;
  container: string;
  dockerVolume: string;
  image: string;
  network: string;
  ip: string;
  /** The resolver written into /etc/resolv.conf on first boot. */
  nameserver: string;
  /** authorized_keys for root, written on first boot. */
  authorizedKey: string;
}

/**
 * systemd needs the cgroup tree and most capabilities, not --privileged
 * (which fails where CAP_SYS_RESOURCE is unavailable). The clock and kernel
 * modules belong to the machine running the containers: a VM may not change them.
 */
export function vmContainerSpec(vm: VmSpec): ContainerSpec {
  return {
    topology: vm.topology,
    role: 'vm',
    name: vm.container,
    image: vm.image,
    network: vm.network,
    ip: vm.ip,
    options: [
      '--hostname', vm.name,
      '--cap-add', 'ALL',
      '--cap-drop', 'SYS_RESOURCE',
      '--cap-drop', 'SYS_TIME',
      '--cap-drop', 'SYS_MODULE',
      '--security-opt', 'seccomp=unconfined',
      '--security-opt', 'apparmor=unconfined',
      '--cgroupns', 'host',
      '--volume', '/sys/fs/cgroup:/sys/fs/cgroup:rw',
      '--volume', `${vm.dockerVolume}:/var/lib/docker`,
      '--tmpfs', '/run',
      '--tmpfs', '/run/lock',
      // A reboot from inside (systemctl reboot) ends PID 1; the restart policy brings the VM back up.
      '--restart', 'unless-stopped',
      '--env', 'container=docker',
      '--env', `VM_NAMESERVER=${vm.nameserver}`,
      '--env', `VM_AUTHORIZED_KEYS=${vm.authorizedKey}`,
    ],
    command: [],
  };
}

/** A VM that was already there must be up within this time, or it is replaced by a fresh one. */
export const REUSED_BOOT_TIMEOUT_MS = 45_000;

/**
 * Starts the VM, or keeps it when it runs with the same configuration and is
 * healthy (booted, sshd active); one that is not is recreated.
 */
export async function startVm(vm: VmSpec): Promise<ContainerOutcome | 'recreated'> {
  const existing = await docker(['volume', 'inspect', vm.dockerVolume], { allowFailure: true });
  if (existing.code !== 0) await createVolume(vm.topology, vm.dockerVolume);
  const outcome = await ensureContainer(vmContainerSpec(vm));
  if (outcome === 'created') {
    await waitForBoot(vm.container);
    return outcome;
  }
  try {
    await waitForBoot(vm.container, REUSED_BOOT_TIMEOUT_MS);
    return outcome;
  } catch {
    await recreateVm(vm);
    return 'recreated';
  }
}

export const BOOT_TIMEOUT_MS = 120_000;

/** Waits until systemd has finished booting and sshd is active. */
export async function waitForBoot(container: string, timeoutMs = BOOT_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    // Fails while systemd is not yet reachable on its bus, and gives up on a stuck boot; then retried.
    const state = await docker(['exec', container, 'timeout', '20', 'systemctl', 'is-system-running', '--wait'], { allowFailure: true });
    last = (state.stdout + state.stderr).trim();
    if (state.stdout.trim() === 'running' || state.stdout.trim() === 'degraded') {
      const ssh = await docker(['exec', container, 'systemctl', 'is-active', 'ssh'], { allowFailure: true });
      if (ssh.stdout.trim() === 'active') return;
      last = `ssh.service is ${ssh.stdout.trim()}`;
    }
    await sleep(500);
  }
  throw new Error(`${container} did not finish booting within ${timeoutMs / 1000} s (last state: ${last || 'unknown'})`);
}

/** A reboot: systemd shuts down, the container starts again, its disk is kept. */
export async function rebootVm(container: string): Promise<void> {
  await docker(['restart', container]);
  await waitForBoot(container);
}

/** A fresh VM in place of the old one: new disk, new Docker volume, new host keys. */
export async function recreateVm(vm: VmSpec): Promise<void> {
  await removeContainer(vm.container);
  await removeVolume(vm.dockerVolume);
  await createVolume(vm.topology, vm.dockerVolume);
  await ensureContainer(vmContainerSpec(vm));
  await waitForBoot(vm.container);
}

/** The VM's ed25519 SSH host key (made on its first boot): type and base64 blob. */
export async function hostPublicKey(container: string): Promise<{ type: string; blob: string }> {
  const key = (await docker(['exec', container, 'cat', '/etc/ssh/ssh_host_ed25519_key.pub'])).stdout.trim();
  const [type, blob] = key.split(/\s+/);
  return { type, blob };
}
