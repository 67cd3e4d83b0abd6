#!/bin/bash
# berth-firewall: berth's firewall loader, installed as /usr/local/sbin/berth-firewall.
#
# berth-firewall start RULES_DIR FROM:CHAIN...
#   Loads RULES_DIR/rules.v4 and rules.v6 into berth's own chains and makes sure
#   each jump FROM -> CHAIN exists exactly once. Docker's chains are never flushed.
#   A CHAIN the rules file does not declare is removed, with the jumps to it.
# berth-firewall check RULES_DIR FROM:CHAIN...
#   Exits 0 when the live rules are the ones in those files; prints what differs.
#
# berth-firewall start|check
#   The same with the rules directory and jumps berth installed (DEFAULT_ARGS).
#
# berth-firewall.service holds the full command line. The chains are made and
# jumped to before the rules are loaded: an empty chain lets everything fall
# through to what was there before, then iptables-restore fills the chains and
# sets the policies in one transaction.
set -euo pipefail

usage() {
  echo "usage: $0 start|check RULES_DIR FROM:CHAIN..." >&2
  exit 2
}

# berth fills this in when it installs the script, so that an operator can type just the command.
DEFAULT_ARGS=()
if [ $# -eq 1 ] && [ ${#DEFAULT_ARGS[@]} -gt 0 ]; then set -- "$1" "${DEFAULT_ARGS[@]}"; fi
[ $# -ge 3 ] || usage
command=$1 rules_dir=$2
shift 2
wanted_jumps=("$@")

declared() { grep -q "^:$2 " "$1"; }
has_chain() { "$1" -w -S "$2" >/dev/null 2>&1; }
jumps() { { "$1" -w -S "$2" 2>/dev/null || true; } | grep -cxF -- "-A $2 -j $3" || true; }

ensure_chain() { has_chain "$1" "$2" || "$1" -w -N "$2"; }

# One jump, inserted first when missing.
ensure_jump() {
  local n
  n=$(jumps "$1" "$2" "$3")
  while [ "$n" -gt 1 ]; do "$1" -w -D "$2" -j "$3"; n=$((n - 1)); done
  [ "$n" -eq 1 ] || "$1" -w -I "$2" 1 -j "$3"
}

remove_chain() {
  while [ "$(jumps "$1" "$2" "$3")" -gt 0 ]; do "$1" -w -D "$2" -j "$3"; done
  if has_chain "$1" "$3"; then "$1" -w -F "$3" && "$1" -w -X "$3"; fi
}

load() {
  local tool=$1 rules=$2 pair
  # Docker makes DOCKER-USER and puts the jump to it first in FORWARD when it starts; until then berth does.
  ensure_chain "$tool" DOCKER-USER
  ensure_jump "$tool" FORWARD DOCKER-USER
  for pair in "${wanted_jumps[@]}"; do
    if declared "$rules" "${pair#*:}"; then
      ensure_chain "$tool" "${pair#*:}"
      ensure_jump "$tool" "${pair%%:*}" "${pair#*:}"
    fi
  done
  "$tool-restore" -w --noflush "$rules"
  for pair in "${wanted_jumps[@]}"; do
    declared "$rules" "${pair#*:}" || remove_chain "$tool" "${pair%%:*}" "${pair#*:}"
  done
}

# Prints what differs between the live rules and the file; fails when anything does.
# One iptables-save per family: each iptables call reads the whole ruleset.
check() {
  local tool=$1 rules=$2 live pair from chain have want policy ok=0
  live=$("$tool-save" -t filter 2>/dev/null || true)
  for pair in "${wanted_jumps[@]}"; do
    from=${pair%%:*} chain=${pair#*:}
    if declared "$rules" "$chain"; then
      have=$(grep -c "^-A $chain " <<<"$live" || true)
      want=$(grep -c "^-A $chain " "$rules" || true)
      [ "$have" -eq "$want" ] || { echo "$tool: $chain has $have rules, $rules has $want"; ok=1; }
      [ "$(grep -cxF -- "-A $from -j $chain" <<<"$live" || true)" -eq 1 ] || { echo "$tool: $from does not jump to $chain exactly once"; ok=1; }
    elif grep -q "^:$chain " <<<"$live"; then
      echo "$tool: $chain exists but $rules does not declare it"; ok=1
    fi
  done
  while read -r chain policy; do
    grep -q "^:$chain $policy " <<<"$live" || { echo "$tool: the policy of $chain is not $policy"; ok=1; }
  done < <(sed -n 's/^:\(INPUT\|OUTPUT\) \([A-Z]*\) .*/\1 \2/p' "$rules")
  return "$ok"
}

# A kernel without IPv6 has nothing for ip6tables to work on.
families() {
  echo "iptables $rules_dir/rules.v4"
  if [ -e /proc/net/if_inet6 ]; then echo "ip6tables $rules_dir/rules.v6"; fi
}

case "$command" in
  start)
    while read -r tool rules; do load "$tool" "$rules"; done < <(families)
    ;;
  check)
    status=0
    while read -r tool rules; do check "$tool" "$rules" || status=1; done < <(families)
    exit "$status"
    ;;
  *)
    usage
    ;;
esac
