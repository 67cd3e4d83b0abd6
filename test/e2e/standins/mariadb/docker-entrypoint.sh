#!/bin/bash
# Entrypoint of the mariadb stand-in (a test fixture). Behaves like the official
# image's: on first start with an empty datadir it initialises the server from
# MARIADB_* (or MYSQL_*) variables and /docker-entrypoint-initdb.d, then it runs
# mariadbd as the mysql user with every argument it was given.
set -eo pipefail
shopt -s nullglob

log() { printf '%s [%s] [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$1" "$2"; }
note() { log Note "$*"; }
warn() { log Warn "$*" >&2; }
die() { log ERROR "$*" >&2; exit 1; }

# The value of NAME, or the content of the file named by NAME_FILE (Docker secrets).
value_or_file() {
	local name=$1 file_var="${1}_FILE"
	if [ -n "${!name:-}" ] && [ -n "${!file_var:-}" ]; then
		die "Both $name and $file_var are set (but are exclusive)"
	fi
	if [ -n "${!file_var:-}" ]; then
		cat "${!file_var}"
	else
		printf '%s' "${!name:-}"
	fi
}

# setting SUFFIX [DEFAULT]: MARIADB_SUFFIX, else MYSQL_SUFFIX, else DEFAULT; both names end up set.
setting() {
	local maria="MARIADB_$1" mysql="MYSQL_$1" value
	value=$(value_or_file "$maria")
	[ -n "$value" ] || value=$(value_or_file "$mysql")
	[ -n "$value" ] || value=${2:-}
	export "$maria=$value" "$mysql=$value"
	unset "${maria}_FILE" "${mysql}_FILE"
}

wants_help() {
	local arg
	for arg; do
		case "$arg" in -'?' | --help | --print-defaults | -V | --version) return 0 ;; esac
	done
	return 1
}

# A value from `mariadbd --verbose --help`: configured or compiled-in.
server_setting() {
	local name=$1; shift
	"$@" --verbose --help 2>/dev/null | awk -v name="$name" '$1 == name && /^[^ \t]/ { sub(/^[^ \t]+[ \t]+/, ""); print; exit }'
}

read_configuration() {
	local errors
	if ! errors=$("$@" --verbose --help 2>&1 >/dev/null); then
		die "mariadbd failed while attempting to check config"$'\n\t'"command was: $*"$'\n\t'"$errors"
	fi
	DATADIR=$(server_setting datadir "$@")
	SOCKET=$(server_setting socket "$@")
	PORT=$(server_setting port "$@")
	setting ROOT_HOST '%'
	setting DATABASE
	setting USER
	setting PASSWORD
	setting PASSWORD_HASH
	setting ROOT_PASSWORD
	setting ROOT_PASSWORD_HASH
	setting RANDOM_ROOT_PASSWORD
	setting INITDB_SKIP_TZINFO
	: "${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:=${MYSQL_ALLOW_EMPTY_PASSWORD:-}}"
	export MARIADB_ALLOW_EMPTY_ROOT_PASSWORD MYSQL_ALLOW_EMPTY_PASSWORD="$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD"
}

# As root: the datadir and socket directory belong to mysql.
prepare_directories() {
	mkdir -p "$DATADIR"
	find "$DATADIR" \! -user mysql -exec chown mysql: '{}' +
	if [ "${SOCKET:0:1}" != '@' ]; then
		mkdir -p "${SOCKET%/*}"
		find "${SOCKET%/*}" -maxdepth 0 \! -user mysql -exec chown mysql: '{}' \;
	fi
}

require_root_password_choice() {
	if [ -z "$MARIADB_ROOT_PASSWORD" ] && [ -z "$MARIADB_ROOT_PASSWORD_HASH" ] \
		&& [ -z "$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" ] && [ -z "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
		die "Database is uninitialized and password option is not specified"$'\n\t'"You need to specify one of MARIADB_ROOT_PASSWORD, MARIADB_ROOT_PASSWORD_HASH, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD and MARIADB_RANDOM_ROOT_PASSWORD"
	fi
	if [ -n "$MARIADB_ROOT_PASSWORD_HASH" ] && { [ -n "$MARIADB_ROOT_PASSWORD" ] || [ -n "$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" ] || [ -n "$MARIADB_RANDOM_ROOT_PASSWORD" ]; }; then
		die "Cannot specify MARIADB_ROOT_PASSWORD_HASH and another MARIADB_ROOT_PASSWORD* option."
	fi
	if [ -n "$MARIADB_PASSWORD" ] && [ -n "$MARIADB_PASSWORD_HASH" ]; then
		die "Cannot specify MARIADB_PASSWORD_HASH and MARIADB_PASSWORD option."
	fi
}

# The client on the local socket as root; the root password once it is set.
# Kept under the official name: sourced initdb.d scripts call it.
docker_process_sql() {
	local password=$MARIADB_ROOT_PASSWORD
	if [ "$1" = --dont-use-mysql-root-password ]; then
		password=''
		shift
	fi
	if [ -n "$MARIADB_DATABASE" ]; then
		set -- --database="$MARIADB_DATABASE" "$@"
	fi
	MYSQL_PWD=$password mariadb --protocol=socket -uroot -hlocalhost --socket="$SOCKET" "$@"
}

# Escapes backslashes, newlines and quotes for a single-quoted SQL string.
sql_string() {
	local text=${1//\\/\\\\}
	text=${text//$'\n'/\\n}
	printf '%s' "${text//\'/\\\'}"
}

random_password() {
	pwgen --numerals --capitalize --symbols --remove-chars="$1" -1 32
}

start_temporary_server() {
	"$@" --skip-networking --default-time-zone=SYSTEM --socket="$SOCKET" --wsrep_on=OFF \
		--expire-logs-days=0 --skip-slave-start --loose-innodb_buffer_pool_load_at_startup=0 \
		--skip-ssl --ssl-cert='' --ssl-key='' --ssl-ca='' &
	TEMPORARY_SERVER_PID=$!
	note "Waiting for server startup"
	local attempt
	for attempt in {30..0}; do
		if docker_process_sql --dont-use-mysql-root-password --database=mysql --skip-ssl <<<'SELECT 1' &>/dev/null; then
			return 0
		fi
		sleep 1
	done
	die "Unable to start server."
}

stop_temporary_server() {
	kill "$TEMPORARY_SERVER_PID"
	wait "$TEMPORARY_SERVER_PID"
}

# Users the healthcheck logs in as, and the client file that holds their password.
healthcheck_users_sql() {
	local password grant=${MARIADB_HEALTHCHECK_GRANTS:-USAGE} host
	password=$(random_password "=#'\\")
	for host in 127.0.0.1 ::1 localhost; do
		echo "CREATE USER IF NOT EXISTS healthcheck@'$host' IDENTIFIED BY '$password';"
		echo "SET PASSWORD FOR healthcheck@'$host' = PASSWORD('$password');"
		echo "GRANT $grant ON *.* TO healthcheck@'$host';"
	done
	(umask 0077 && printf '[mariadb-client]\nport=%s\nsocket=%s\nuser=healthcheck\npassword=%s\n' \
		"$PORT" "$SOCKET" "$password" >"$DATADIR/.my-healthcheck.cnf")
}

setup_database() {
	if [ -z "$MARIADB_INITDB_SKIP_TZINFO" ]; then
		mariadb-tzinfo-to-sql --skip-write-binlog /usr/share/zoneinfo \
			| docker_process_sql --dont-use-mysql-root-password --database=mysql
	fi
	if [ -n "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
		MARIADB_ROOT_PASSWORD=$(random_password "'\\")
		export MARIADB_ROOT_PASSWORD MYSQL_ROOT_PASSWORD=$MARIADB_ROOT_PASSWORD
		note "GENERATED ROOT PASSWORD: $MARIADB_ROOT_PASSWORD"
	fi
	local root_password root_identity root_sql='' root_localhost='' database_sql='' user_sql='' grant_sql=''
	root_password=$(sql_string "$MARIADB_ROOT_PASSWORD")
	if [ -n "$MARIADB_ROOT_PASSWORD_HASH" ]; then
		root_identity="IDENTIFIED BY PASSWORD '$MARIADB_ROOT_PASSWORD_HASH'"
	else
		root_identity="IDENTIFIED BY '$root_password'"
		root_localhost="SET PASSWORD FOR 'root'@'localhost' = PASSWORD('$root_password');"
	fi
	if [ -n "$MARIADB_ROOT_HOST" ] && [ "$MARIADB_ROOT_HOST" != localhost ]; then
		root_sql="CREATE USER 'root'@'$MARIADB_ROOT_HOST' $root_identity;
			GRANT ALL ON *.* TO 'root'@'$MARIADB_ROOT_HOST' WITH GRANT OPTION;
			GRANT PROXY ON ''@'%' TO 'root'@'$MARIADB_ROOT_HOST' WITH GRANT OPTION;"
	fi
	# mysql@localhost by unix socket: a login that survives a Galera SST (the healthcheck's --su-mysql).
	local socket_user_sql=''
	if [ -n "$MARIADB_MYSQL_LOCALHOST_USER" ]; then
		socket_user_sql="CREATE USER mysql@localhost IDENTIFIED VIA unix_socket;"
		if [ -n "$MARIADB_MYSQL_LOCALHOST_GRANTS" ]; then
			[ "$MARIADB_MYSQL_LOCALHOST_GRANTS" = USAGE ] \
				|| warn "Excessive privileges ON *.* TO mysql@localhost facilitates risks to the confidentiality, integrity and availability of data stored"
			socket_user_sql+=" GRANT $MARIADB_MYSQL_LOCALHOST_GRANTS ON *.* TO mysql@localhost;"
		fi
	fi
	if [ -n "$MARIADB_DATABASE" ]; then
		note "Creating database $MARIADB_DATABASE"
		database_sql="CREATE DATABASE IF NOT EXISTS \`$MARIADB_DATABASE\`;"
	fi
	if [ -n "$MARIADB_USER" ] && { [ -n "$MARIADB_PASSWORD" ] || [ -n "$MARIADB_PASSWORD_HASH" ]; }; then
		note "Creating user $MARIADB_USER"
		if [ -n "$MARIADB_PASSWORD_HASH" ]; then
			user_sql="CREATE USER '$MARIADB_USER'@'%' IDENTIFIED BY PASSWORD '$MARIADB_PASSWORD_HASH';"
		else
			user_sql="CREATE USER '$MARIADB_USER'@'%' IDENTIFIED BY '$(sql_string "$MARIADB_PASSWORD")';"
		fi
		if [ -n "$MARIADB_DATABASE" ]; then
			note "Giving user $MARIADB_USER access to schema $MARIADB_DATABASE"
			grant_sql="GRANT ALL ON \`${MARIADB_DATABASE//_/\\_}\`.* TO '$MARIADB_USER'@'%';"
		fi
	fi
	local healthcheck_sql
	healthcheck_sql=$(healthcheck_users_sql)
	note "Securing system users (equivalent to running mysql_secure_installation)"
	docker_process_sql --dont-use-mysql-root-password --database=mysql --binary-mode <<-EOSQL
		-- system users are local to this server: keep them out of the binary log
		SET @orig_sql_log_bin = @@SESSION.SQL_LOG_BIN;
		SET @@SESSION.SQL_LOG_BIN = 0;
		SET @@SESSION.SQL_MODE = REPLACE(@@SESSION.SQL_MODE, 'NO_BACKSLASH_ESCAPES', '');
		DROP USER IF EXISTS root@'127.0.0.1', root@'::1';
		EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@\'', @@hostname, '\'');
		${root_localhost}
		${root_sql}
		${socket_user_sql}
		${healthcheck_sql}
		SET @@SESSION.SQL_LOG_BIN = @orig_sql_log_bin;
		${database_sql}
		${user_sql}
		${grant_sql}
	EOSQL
}

run_init_files() {
	local file
	for file; do
		case "$file" in
			*.sh)
				if [ -x "$file" ]; then
					note "$0: running $file"
					"$file"
				else
					note "$0: sourcing $file"
					# shellcheck disable=SC1090
					. "$file"
				fi
				;;
			*.sql) note "$0: running $file"; docker_process_sql <"$file" ;;
			*.sql.gz) note "$0: running $file"; gunzip -c "$file" | docker_process_sql ;;
			*.sql.xz) note "$0: running $file"; xzcat "$file" | docker_process_sql ;;
			*.sql.zst) note "$0: running $file"; zstd -dc "$file" | docker_process_sql ;;
			*) warn "$0: ignoring $file" ;;
		esac
	done
}

initialise() {
	ls /docker-entrypoint-initdb.d/ >/dev/null
	note "Initializing database files"
	# mariadb-install-db passes extra options to mariadbd, but cannot carry whitespace.
	local arg server_args=()
	for arg in "${@:2}"; do
		if [[ "$arg" =~ [[:space:]] ]]; then
			warn "Not passing argument '$arg' to mariadb-install-db because mariadb-install-db does not support arguments with whitespace."
		else
			server_args+=("$arg")
		fi
	done
	mariadb-install-db --datadir="$DATADIR" --rpm --auth-root-authentication-method=normal "${server_args[@]}" \
		--cross-bootstrap --skip-test-db --old-mode='UTF8_IS_UTF8MB3' --default-time-zone=SYSTEM \
		--enforce-storage-engine= --skip-log-bin --expire-logs-days=0 \
		--loose-innodb_buffer_pool_load_at_startup=0 --loose-innodb_buffer_pool_dump_at_shutdown=0
	note "Database files initialized"
	note "Starting temporary server"
	start_temporary_server "$@"
	note "Temporary server started."
	setup_database
	run_init_files /docker-entrypoint-initdb.d/*
	if [ -n "$MARIADB_ROOT_PASSWORD_HASH" ]; then
		note "Setting root@localhost password hash"
		docker_process_sql --dont-use-mysql-root-password --database=mysql --binary-mode <<-EOSQL
			SET @@SESSION.SQL_LOG_BIN = 0;
			SET PASSWORD FOR 'root'@'localhost' = '${MARIADB_ROOT_PASSWORD_HASH}';
		EOSQL
	fi
	note "Stopping temporary server"
	stop_temporary_server
	note "Temporary server stopped"
	note "MariaDB init process done. Ready for start up."
}

main() {
	# Options alone mean options for mariadbd.
	if [ "${1:0:1}" = '-' ]; then
		set -- mariadbd "$@"
	fi
	if { [ "$1" = mariadbd ] || [ "$1" = mysqld ]; } && ! wants_help "$@"; then
		note "Entrypoint script for MariaDB Server ${MARIADB_VERSION:-$("$1" --version | awk '{print $3}')} started."
		read_configuration "$@"
		if [ "$(id -u)" = 0 ]; then
			prepare_directories
			note "Switching to dedicated user 'mysql'"
			exec gosu mysql "${BASH_SOURCE[0]}" "$@"
		fi
		if [ ! -d "$DATADIR/mysql" ]; then
			require_root_password_choice
			initialise "$@"
		fi
	fi
	exec "$@"
}

main "$@"
