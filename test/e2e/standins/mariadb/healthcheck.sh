#!/bin/bash
# Healthcheck of the mariadb stand-in (a test fixture), with the official
# image's interface: each --TEST argument runs that test, in order; the first
# failure exits 1. Without a passing --connect test, a connect test runs last.
# The client logs in with $datadir/.my-healthcheck.cnf, made by the entrypoint.
#
#   --connect                     the server accepts connections over TCP
#   --innodb_initialized          InnoDB is available
#   --innodb_buffer_pool_loaded   the buffer pool load has completed
#   --galera_online               this Galera node is Synced (wsrep_local_state 4)
#   --galera_ready                the Galera provider is ready (wsrep_ready ON)
#   --mariadbupgrade              no mariadb-upgrade holds its lock
# Options: --su=USER, --su-mysql, --datadir=DIR, --no-defaults,
#   --defaults-file=F, --defaults-extra-file=F, --defaults-group-suffix=S, --no-connect
set -Eeuo pipefail

datadir=/var/lib/mysql
no_defaults=
defaults_file=
defaults_extra_file=
defaults_group_suffix=
connected=

client_defaults() {
	[ -z "$no_defaults" ] || echo --no-defaults
	[ -z "$defaults_file" ] || echo "--defaults-file=$defaults_file"
	[ -z "$defaults_extra_file" ] || echo "--defaults-extra-file=$defaults_extra_file"
	[ -z "$defaults_group_suffix" ] || echo "--defaults-group-suffix=$defaults_group_suffix"
}

query() {
	local options
	mapfile -t options < <(client_defaults)
	mariadb "${options[@]}" --skip-ssl --skip-ssl-verify-server-cert "$@" --batch --skip-column-names
}

status_variable() {
	query --protocol=socket -e "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME='$1'"
}

connect() {
	local answer
	# Over the socket first: it answers even when TCP requires TLS.
	answer=$(query --protocol=socket -e 'SELECT @@skip_networking' 2>/dev/null || true)
	case "$answer" in
		0) connected=0; return 0 ;;
		1) connected=1; return 1 ;;
	esac
	answer=$(query -h localhost --protocol=tcp --skip-print-query-on-error -e 'SELECT @@skip_networking' 2>&1 || true)
	case "$answer" in
		0 | 'ERROR 1820 (HY000)'* | 'ERROR 4151 (HY000)'* | 'ERROR 1226 (42000)'* | ERROR\ 1[0-9][0-9][0-9]\ \(28000\)*)
			# Answered, even if only to refuse these credentials: the server is up.
			connected=0; return 0 ;;
		1 | 'ERROR 2002 (HY000)'*) connected=1; return 1 ;;
		*) echo "Unknown error $answer" >&2; connected=1; return 1 ;;
	esac
}

innodb_initialized() {
	[ "$(query --protocol=socket -e "SELECT 1 FROM information_schema.ENGINES WHERE engine='innodb' AND support IN ('YES', 'DEFAULT', 'ENABLED')")" = 1 ]
}

innodb_buffer_pool_loaded() {
	[[ "$(status_variable Innodb_buffer_pool_load_status)" == *'load completed'* ]]
}

galera_online() {
	[ "$(status_variable WSREP_LOCAL_STATE)" = 4 ]
}

galera_ready() {
	[ "$(status_variable WSREP_READY)" = ON ]
}

mariadbupgrade() {
	local info="$datadir/mariadb_upgrade_info"
	[ -r "$info" ] || return 0
	flock --exclusive --nonblock 9 9<"$info"
}

if [ $# -eq 0 ]; then
	echo "At least one argument required" >&2
	exit 1
fi
if [ -f "$datadir/.my-healthcheck.cnf" ]; then
	defaults_extra_file="$datadir/.my-healthcheck.cnf"
fi

while [ $# -gt 0 ]; do
	test=
	case "$1" in
		--su=*) user=${1#*=}; shift; exec gosu "$user" "${BASH_SOURCE[0]}" "$@" ;;
		--su) user=$2; shift 2; exec gosu "$user" "${BASH_SOURCE[0]}" "$@" ;;
		--su-mysql) shift; exec gosu mysql "${BASH_SOURCE[0]}" "$@" ;;
		--datadir=*) datadir=${1#*=} ;;
		--datadir) shift; datadir=$1 ;;
		--no-defaults) no_defaults=1; defaults_file=; defaults_extra_file=; defaults_group_suffix= ;;
		--defaults-file=*) defaults_file=${1#*=}; no_defaults= ;;
		--defaults-extra-file=*) defaults_extra_file=${1#*=}; no_defaults= ;;
		--defaults-group-suffix=*) defaults_group_suffix=${1#*=}; no_defaults= ;;
		--no-connect) connected=0 ;;
		--connect | --innodb_initialized | --innodb_buffer_pool_loaded | --galera_online | --galera_ready | --mariadbupgrade)
			test=${1#--} ;;
		--*) echo "healthcheck unknown option or test '${1#--}'" >&2; exit 1 ;;
		*) echo "Unknown healthcheck option $1" >&2; exit 1 ;;
	esac
	if [ -n "$test" ] && ! "$test"; then
		echo "healthcheck $test failed" >&2
		exit 1
	fi
	shift
done
if [ "$connected" != 0 ]; then
	connect
fi
