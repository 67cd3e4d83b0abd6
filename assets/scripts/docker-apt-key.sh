#!/bin/bash
# Docker's apt signing key, taken only when it is the pinned one.
#
# docker-apt-key.sh [--auth-stdin] URL KEYRING FINGERPRINT
#   Fetches URL with curl (--auth-stdin: curl reads a config with the mirror's
#   login from stdin, so it is never on a command line) to KEYRING.new, and
#   moves it to KEYRING (0644) only when it is an armored OpenPGP public key
#   file holding exactly one primary key, whose fingerprint is FINGERPRINT (40
#   upper-case hex digits). Otherwise KEYRING stays as it was, and the script
#   says why (naming both fingerprints on a mismatch) and exits 1.
# docker-apt-key.sh --check KEYRING FINGERPRINT
#   Changes nothing; exits 0 when KEYRING holds exactly that key, 1 otherwise.
#
# A mirror is a third party: apt trusts every key in the Signed-By file, so a
# key it serves must be the one the answers expect, not merely a key.
set -euo pipefail

usage() {
  echo "usage: $0 [--auth-stdin] URL KEYRING FINGERPRINT | --check KEYRING FINGERPRINT" >&2
  exit 2
}

# The fingerprints of the primary keys in a key file, one a line (none when it holds no key).
primary_fingerprints() {
  local home
  home=$(mktemp -d)
  gpg --homedir "$home" --batch --no-options --with-colons --show-keys "$1" 2>/dev/null |
    awk -F: '$1 == "pub" { primary = 1; next } primary && $1 == "fpr" { print $10 } { primary = 0 }' || true
  rm -rf "$home"
}

if [ "${1:-}" = --check ]; then
  [ $# -eq 3 ] || usage
  [ -f "$2" ] && [ "$(primary_fingerprints "$2")" = "$3" ]
  exit
fi

auth=()
if [ "${1:-}" = --auth-stdin ]; then
  auth=(--config -)
  shift
fi
[ $# -eq 3 ] || usage
url=$1 keyring=$2 expected=$3
staged="$keyring.new"

install -m 0755 -d "$(dirname "$keyring")"
curl -fsSL --retry 3 --connect-timeout 20 "${auth[@]}" "$url" -o "$staged"
if ! grep -q -- '-----BEGIN PGP PUBLIC KEY BLOCK-----' "$staged"; then
  rm -f "$staged"
  echo "berth: $url did not return a PGP public key" >&2
  exit 1
fi
got=$(primary_fingerprints "$staged")
if [ "$got" != "$expected" ]; then
  rm -f "$staged"
  if [ -z "$got" ]; then got="no key gpg can read"; fi
  echo "berth: the key at $url is $(echo "$got" | paste -sd, -), not the pinned $expected; nothing was installed." >&2
  echo "berth: if this mirror signs with a key of its own, and its operator confirms that fingerprint, set docker.aptKeyFingerprint to it in the answers file." >&2
  exit 1
fi
chmod 0644 "$staged"
mv -f "$staged" "$keyring"
