import assert from 'node:assert/strict';
import {
  controlFile,
  digests,
  dockerVersion,
  mapRelations,
  packagesStanza,
  parseControl,
  poolPath,
  releaseFile,
  renamedControl,
  suiteContents,
} from '../../src/sandbox/aptrepo';

const DOCKER_IO = `Package: docker.io
Version: 26.1.5+dfsg1-9+deb13u1
Architecture: amd64
Maintainer: Debian Go Packaging Team <team+pkg-go@tracker.debian.org>
Installed-Size: 94000
Depends: libc6 (>= 2.34), adduser, containerd (>= 1.4~), iptables, runc (>= 1.0.0~rc8~), tini
Recommends: apparmor, ca-certificates, docker-cli, git
Conflicts: docker-ce, docker-ce-rootless-extras
Section: admin
Priority: optional
Homepage: https://mobyproject.org
Description: Linux container runtime
 Docker complements kernel namespacing with a high-level API which operates at
 the process level.
`;

const DOCKER_COMPOSE = `Package: docker-compose
Version: 2.26.1-4
Architecture: amd64
Maintainer: Debian Go Packaging Team <team+pkg-go@tracker.debian.org>
Depends: libc6 (>= 2.34)
Recommends: docker-cli
Description: tool for running multi-container applications on Docker
`;

const DOCKER_CLI = `Package: docker-cli
Version: 26.1.5+dfsg1-9+deb13u1
Architecture: arm64
Maintainer: Debian Go Packaging Team <team+pkg-go@tracker.debian.org>
Depends: libc6 (>= 2.34)
Recommends: docker-buildx
Breaks: docker.io (<< 26.1.4+dfsg1-7~)
Replaces: docker.io (<< 26.1.4+dfsg1-7~)
Conflicts: docker-ce-cli, podman-docker
Description: Linux container runtime -- client
`;

describe('docker-apt stand-in repository', () => {
  it('parses and keeps continuation lines of a control paragraph', () => {
    const fields = parseControl(DOCKER_IO);
    assert.equal(fields[0]![0], 'Package');
    assert.equal(fields.find(([name]) => name === 'Description')![1], 'Linux container runtime\n Docker complements kernel namespacing with a high-level API which operates at\n the process level.');
    assert.throws(() => parseControl(' leading continuation'), /continuation/);
  });

  it("turns Debian versions into Docker's version strings", () => {
    assert.equal(dockerVersion('26.1.5+dfsg1-9+deb13u1', 'docker-ce', 'trixie'), '5:26.1.5-1~debian.13~trixie');
    assert.equal(dockerVersion('1:2.3.4-1', 'docker-ce-cli', 'trixie'), '5:2.3.4-1~debian.13~trixie');
    assert.equal(dockerVersion('20.10.24+dfsg1-1+deb12u1+b6', 'docker-ce', 'bookworm'), '5:20.10.24-1~debian.12~bookworm');
    // Docker's plugins have no epoch.
    assert.equal(dockerVersion('2.26.1-4', 'docker-compose-plugin', 'bookworm'), '2.26.1-1~debian.12~bookworm');
  });

  it('renames package names in relationship fields, keeping versions and alternatives', () => {
    const rename = (name: string) => (name === 'docker-cli' ? 'docker-ce-cli' : name);
    assert.equal(mapRelations('docker-cli (>= 26), git | git-core, docker-cli-extra', rename), 'docker-ce-cli (>= 26), git | git-core, docker-cli-extra');
    assert.equal(mapRelations('docker-cli:any', rename), 'docker-ce-cli:any');
  });

  it("renames docker.io to docker-ce: replaces, conflicts with and provides Debian's package", () => {
    const fields = Object.fromEntries(parseControl(renamedControl(DOCKER_IO, 'docker-ce', 'trixie')));
    assert.equal(fields.Package, 'docker-ce');
    assert.equal(fields.Version, '5:26.1.5-1~debian.13~trixie');
    assert.equal(fields.Conflicts, 'docker-ce-rootless-extras, docker.io');
    assert.equal(fields.Replaces, 'docker.io');
    assert.equal(fields.Provides, 'docker.io (= 26.1.5+dfsg1-9+deb13u1)');
    assert.equal(fields.Recommends, 'apparmor, ca-certificates, docker-ce-cli, git');
    assert.equal(fields.Depends, 'libc6 (>= 2.34), adduser, containerd (>= 1.4~), iptables, runc (>= 1.0.0~rc8~), tini');
    assert.match(fields.Description!, /^Linux container runtime \(Debian's docker\.io as docker-ce, berth test fixture\)\n Docker complements/);
    assert.equal(fields.Architecture, 'amd64');
  });

  it('renames docker-cli to docker-ce-cli without conflicting with itself', () => {
    const fields = Object.fromEntries(parseControl(renamedControl(DOCKER_CLI, 'docker-ce-cli', 'trixie')));
    assert.equal(fields.Package, 'docker-ce-cli');
    assert.equal(fields.Conflicts, 'podman-docker, docker-cli');
    assert.equal(fields.Replaces, 'docker.io (<< 26.1.4+dfsg1-7~), docker-cli');
    assert.equal(fields.Breaks, 'docker.io (<< 26.1.4+dfsg1-7~)');
    assert.equal(fields.Provides, 'docker-cli (= 26.1.5+dfsg1-9+deb13u1)');
    assert.throws(() => renamedControl(DOCKER_CLI, 'docker-ce', 'trixie'), /expected the control file of docker\.io/);
    assert.throws(() => renamedControl(DOCKER_CLI, 'containerd.io', 'trixie'), /not one of the renamed packages of trixie/);
    assert.throws(() => renamedControl(DOCKER_CLI, 'docker-ce-cli', 'bookworm'), /not one of the renamed packages of bookworm/);
  });

  it("renames trixie's Compose v2 to bookworm's docker-compose-plugin, which replaces Debian 12's Compose v1", () => {
    const fields = Object.fromEntries(parseControl(renamedControl(DOCKER_COMPOSE, 'docker-compose-plugin', 'bookworm')));
    assert.equal(fields.Package, 'docker-compose-plugin');
    assert.equal(fields.Version, '2.26.1-1~debian.12~bookworm');
    assert.equal(fields.Depends, 'libc6 (>= 2.34)');
    assert.equal(fields.Recommends, 'docker-ce-cli');
    assert.equal(fields.Conflicts, 'docker-compose');
    assert.equal(fields.Provides, 'docker-compose (= 2.26.1-4)');
  });

  it('describes metapackages that depend on Debian packages, in pool paths like Docker\'s', () => {
    const trixie = suiteContents('trixie');
    const compose = trixie.metapackages.find((pkg) => pkg.name === 'docker-compose-plugin')!;
    const fields = Object.fromEntries(parseControl(controlFile(compose, 'arm64')));
    assert.equal(fields.Depends, 'docker-compose (>= 2)');
    assert.equal(fields.Architecture, 'arm64');
    assert.deepEqual(trixie.metapackages.map((pkg) => pkg.name), ['containerd.io', 'docker-buildx-plugin', 'docker-compose-plugin']);
    assert.equal(
      poolPath('trixie', 'docker-ce', '5:26.1.5-1~debian.13~trixie', 'amd64'),
      'dists/trixie/pool/stable/amd64/docker-ce_26.1.5-1~debian.13~trixie_amd64.deb',
    );
  });

  it("holds Docker's five package names in both suites", () => {
    const names = (suite: 'trixie' | 'bookworm') => {
      const contents = suiteContents(suite);
      return [...contents.renamed.map((pkg) => pkg.dockerName), ...contents.metapackages.map((pkg) => pkg.name)].sort();
    };
    const docker = ['containerd.io', 'docker-buildx-plugin', 'docker-ce', 'docker-ce-cli', 'docker-compose-plugin'];
    assert.deepEqual(names('trixie'), docker);
    assert.deepEqual(names('bookworm'), docker);
    // Bookworm's plugins are trixie's binaries; its engine is its own.
    assert.deepEqual(
      suiteContents('bookworm').renamed.map((pkg) => `${pkg.dockerName}<-${pkg.debianName}@${pkg.from}`),
      ['docker-ce<-docker.io@bookworm', 'docker-buildx-plugin<-docker-buildx@trixie', 'docker-compose-plugin<-docker-compose@trixie'],
    );
  });

  it('writes Packages stanzas with the file location and digests', () => {
    const file = digests(Buffer.from('abc'));
    assert.deepEqual(file, {
      size: 3,
      md5: '900150983cd24fb0d6963f7d28e17f72',
      sha1: 'a9993e364706816aba3e25717850c26c9cd0d89d',
      sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    });
    const stanza = packagesStanza('Package: x\nVersion: 1\nArchitecture: all\nDescription: y\n', 'pool/stable/all/x_1_all.deb', file);
    assert.equal(
      stanza,
      [
        'Package: x',
        'Version: 1',
        'Filename: pool/stable/all/x_1_all.deb',
        'Size: 3',
        'MD5sum: 900150983cd24fb0d6963f7d28e17f72',
        'SHA1: a9993e364706816aba3e25717850c26c9cd0d89d',
        'SHA256: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
        'Architecture: all',
        'Description: y',
        '',
      ].join('\n'),
    );
  });

  it('writes a Release file listing every index with its digests', () => {
    const release = releaseFile(
      'bookworm',
      new Map([
        ['stable/binary-arm64/Packages', digests(Buffer.from('b'))],
        ['stable/binary-amd64/Packages', digests(Buffer.from('abc'))],
      ]),
      new Date(Date.UTC(2026, 10, 22, 10, 0, 0)),
    );
    const lines = release.split('\n');
    assert.ok(lines.includes('Suite: bookworm') && lines.includes('Codename: bookworm') && lines.includes('Components: stable'));
    assert.ok(lines.includes('Architectures: amd64 arm64'));
    assert.ok(lines.includes('Date: Sun, 22 Nov 2026 10:00:00 UTC'));
    const sha256 = lines.slice(lines.indexOf('SHA256:') + 1, lines.indexOf('SHA256:') + 3);
    assert.deepEqual(sha256, [
      ' ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad        3 stable/binary-amd64/Packages',
      ` ${digests(Buffer.from('b')).sha256}        1 stable/binary-arm64/Packages`,
    ]);
  });
});
