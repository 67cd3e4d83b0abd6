#!/bin/bash
# The registry's TLS files, made on the registry host as root with openssl only.
#
# registry-tls.sh CA_DIR DIR SANS DAYS
#   Creates the CA (CA_DIR/ca.key, CA_DIR/ca.crt: EC P-256, 10 years) when it is
#   missing or its key and certificate do not belong together, then issues a new
#   server key and certificate (DIR/server.key, DIR/server.crt: EC P-256, DAYS days,
#   at most 825, serverAuth, subjectAltName SANS, signed by the CA) unless the
#   current one is in order. Prints "created CA" and "issued server certificate"
#   for what it did, nothing when nothing was needed. Every file is written whole
#   (a temporary file renamed into place): keys 0600, certificates 0644.
# registry-tls.sh --check CA_DIR DIR SANS
#   Changes nothing; prints the state of those files on one line and exits 0:
#     ok           all in order
#     missing      a key or certificate is missing
#     wrong-ca     the CA's key and certificate do not belong together, or the CA did not sign the server certificate
#     key-differs  server.key does not belong to server.crt
#     expiring     the server certificate expires within 30 days
#     sans-differ  the server certificate's subjectAltName is not SANS
#
# SANS is a subjectAltName value such as IP:10.0.0.2,DNS:reg.example. The CA key
# never leaves CA_DIR: DIR is what the registry's container mounts.
set -euo pipefail

usage() {
  echo "usage: $0 [--check] CA_DIR DIR SANS [DAYS]" >&2
  exit 2
}

check=false
if [ "${1:-}" = --check ]; then
  check=true
  shift
  [ $# -eq 3 ] || usage
else
  [ $# -eq 4 ] || usage
  days=$4
  if ! [[ $days =~ ^[1-9][0-9]{0,2}$ ]] || [ "$days" -gt 825 ]; then
    echo "DAYS must be 1 to 825, not $days" >&2
    exit 2
  fi
fi
ca_dir=$1 dir=$2 sans=$3
[[ $sans =~ ^(IP|DNS):[A-Za-z0-9.:-]+(,(IP|DNS):[A-Za-z0-9.:-]+)*$ ]] || { echo "SANS must be like IP:10.0.0.2,DNS:reg.example, not $sans" >&2; exit 2; }

RENEW_SECONDS=$((30 * 86400))
CA_DAYS=3650

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/openssl.cnf" <<CNF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = berth registry
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $sans
CNF

openssl_req() { openssl req -config "$work/openssl.cnf" "$@"; }
new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
# The public half of a key or of a certificate's key.
key_public() { openssl pkey -in "$1" -pubout 2>/dev/null; }
cert_public() { openssl x509 -in "$1" -noout -pubkey 2>/dev/null; }
belong() { [ "$(key_public "$1")" = "$(cert_public "$2")" ]; }
# openssl's own spelling of SANS (e.g. of IPv6 addresses), from a throwaway certificate.
wanted_sans() {
  openssl_req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
    -subj /CN=sans -days 1 -extensions server_ext 2>/dev/null | openssl x509 -noout -ext subjectAltName
}

ca_state() {
  if [ ! -f "$ca_dir/ca.key" ] || [ ! -f "$ca_dir/ca.crt" ]; then echo missing; return; fi
  belong "$ca_dir/ca.key" "$ca_dir/ca.crt" || { echo wrong-ca; return; }
  echo ok
}

server_state() {
  local crt=$dir/server.crt
  if [ ! -f "$dir/server.key" ] || [ ! -f "$crt" ]; then echo missing; return; fi
  openssl verify -no_check_time -CAfile "$ca_dir/ca.crt" "$crt" >/dev/null 2>&1 || { echo wrong-ca; return; }
  belong "$dir/server.key" "$crt" || { echo key-differs; return; }
  openssl x509 -in "$crt" -noout -checkend "$RENEW_SECONDS" >/dev/null || { echo expiring; return; }
  [ "$(openssl x509 -in "$crt" -noout -ext subjectAltName)" = "$(wanted_sans)" ] || { echo sans-differ; return; }
  echo ok
}

state() {
  local ca
  ca=$(ca_state)
  if [ "$ca" = ok ]; then server_state; else echo "$ca"; fi
}

# put FILE MODE TARGET: a copy of FILE with MODE, renamed into place.
put() {
  local tmp
  tmp=$(mktemp "$3.XXXXXX")
  cat "$1" >"$tmp"
  chmod "$2" "$tmp"
  mv -f "$tmp" "$3"
}

if $check; then
  state
  exit 0
fi

umask 077
mkdir -p "$ca_dir" "$dir"
chmod 0700 "$ca_dir" "$dir"

if [ "$(ca_state)" != ok ]; then
  new_key "$work/ca.key"
  openssl_req -x509 -new -key "$work/ca.key" -subj "/CN=berth registry CA" -days "$CA_DAYS" -extensions ca_ext -out "$work/ca.crt"
  # The certificate first: a CA key without its certificate is made again next time.
  put "$work/ca.crt" 0644 "$ca_dir/ca.crt"
  put "$work/ca.key" 0600 "$ca_dir/ca.key"
  echo "created CA"
fi

if [ "$(server_state)" != ok ]; then
  new_key "$work/server.key"
  openssl_req -new -key "$work/server.key" -out "$work/server.csr"
  openssl x509 -req -in "$work/server.csr" -CA "$ca_dir/ca.crt" -CAkey "$ca_dir/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
    -days "$days" -extfile "$work/openssl.cnf" -extensions server_ext -out "$work/server.crt" 2>/dev/null
  put "$work/server.crt" 0644 "$dir/server.crt"
  put "$work/server.key" 0600 "$dir/server.key"
  echo "issued server certificate"
fi
