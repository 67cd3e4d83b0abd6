#!/usr/bin/env bash
# Installs and starts what the tests need on a fresh machine of this kind
# (Debian 12, root): Docker Engine, debootstrap, OpenSSH server and client,
# util-linux's `script`, sudo and pkill (the SSH transport's tests), iptables
# (the firewall loader's integration tests), openssl and gpg (the e2e mirrors),
# the linter shellcheck (the shipped shell scripts), curl (the registry certificate's TLS test),
# rsync and git (gitlab-ci-local, which runs the generated pipeline),
# and what packaging needs. `host-setup.sh package` installs only the latter
# (`npm run package`: binutils to strip, qemu for the arm64 start-up test).
# Idempotent: does nothing when all is there.
set -euo pipefail
mode=${1:-all}
case "$mode" in
  all | package) ;;
  *) echo "usage: $0 [package]" >&2; exit 2 ;;
esac
# dockerd, debootstrap and iptables live in sbin, which PATH lacks after a plain `su` on Debian.
export PATH="$PATH:/usr/sbin:/sbin"
need=()
if [ "$mode" = all ]; then
  command -v dockerd >/dev/null || need+=(docker.io)
  command -v debootstrap >/dev/null || need+=(debootstrap)
  [ -x /usr/sbin/sshd ] || need+=(openssh-server)
  command -v ssh >/dev/null || need+=(openssh-client)
  command -v script >/dev/null || need+=(bsdutils)
  command -v sudo >/dev/null || need+=(sudo)
  command -v pkill >/dev/null || need+=(procps)
  # test/integration/firewall-script.test.ts (docker.io depends on it too, but dockerd may come from elsewhere).
  command -v iptables >/dev/null || need+=(iptables)
  # The e2e topology's image mirror (test CA, src/sandbox/mirror.ts) and Docker apt stand-in (signed, src/sandbox/aptrepo.ts).
  command -v openssl >/dev/null || need+=(openssl)
  command -v gpg >/dev/null || need+=(gpg)
  command -v gpgconf >/dev/null || need+=(gpgconf)
  # gpg makes and uses secret keys only through the agent, a mere Recommends of gpg.
  command -v gpg-agent >/dev/null || need+=(gpg-agent)
  # test/unit/assets.test.ts checks the shell scripts berth ships.
  command -v shellcheck >/dev/null || need+=(shellcheck)
  # test/integration/registry-tls.test.ts connects to its test certificate with curl.
  command -v curl >/dev/null || need+=(curl)
  # gitlab-ci-local (test/e2e/57-pipeline.test.ts) copies the repository for its jobs with rsync, and reads it with git.
  command -v rsync >/dev/null || need+=(rsync)
  command -v git >/dev/null || need+=(git)
fi
# Packaging (build/package.ts) strips the x64 and arm64 Node base binaries.
command -v x86_64-linux-gnu-strip >/dev/null || need+=(binutils-x86-64-linux-gnu)
command -v aarch64-linux-gnu-strip >/dev/null || need+=(binutils-aarch64-linux-gnu)
# Running the arm64 binary under qemu (about 100 MB installed, 10-20 s): the only proof here
# that the arm64 executable starts. BERTH_ARM64_SMOKE=0 leaves it out (that test is then skipped).
if [ "${BERTH_ARM64_SMOKE:-1}" = 1 ]; then
  command -v qemu-aarch64 >/dev/null || command -v qemu-aarch64-static >/dev/null || need+=(qemu-user)
  [ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] || need+=(libc6-arm64-cross)
  [ -e /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ] || need+=(libstdc++6-arm64-cross libgcc-s1-arm64-cross)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "host-setup: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ "$mode" = all ] && ! docker info >/dev/null 2>&1; then
  echo "host-setup: starting dockerd"
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "host-setup: dockerd did not start; see /var/log/dockerd.log" >&2; exit 1; }
fi
# sshd -t (the SSH hardening phase's unit tests run the real sshd) wants its privilege separation
# directory, which the package makes only when a service manager starts sshd.
if [ "$mode" = all ]; then install -d -m 0755 /run/sshd; fi
