#!/bin/sh
# docker-entrypoint.sh of luciac's PostgreSQL test image: a STAND-IN for the essentials of the
# official image's script (docker.io/library/postgres), in front of Debian's real PostgreSQL 15.
# What it keeps of the official contract:
# - a first argument that is an option runs `postgres` with it;
# - started as root, it makes $PGDATA and /var/run/postgresql, gives them to postgres (999) and
#   runs itself again as that user (setpriv instead of gosu);
# - POSTGRES_PASSWORD, POSTGRES_USER and POSTGRES_DB may come from a file (*_FILE);
# - when the command is `postgres` and $PGDATA has no PG_VERSION: it refuses to start without
#   POSTGRES_PASSWORD (unless POSTGRES_HOST_AUTH_METHOD=trust), runs initdb for POSTGRES_USER
#   (default postgres) with the password from a pwfile (a pipe: it never touches the disk),
#   appends `host all all all scram-sha-256` to pg_hba.conf (the socket and loopback keep
#   initdb's own default, trust, as in the official image), starts a temporary server on the
#   unix socket only, creates POSTGRES_DB (default: the user's name) unless it exists, and
#   stops the server again. listen_addresses = '*' comes from the image's sample configuration.
# Then `exec "$@"`. It writes only to $PGDATA and /var/run/postgresql, so it runs as UID 999
# on a read-only root filesystem. Left out: /docker-entrypoint-initdb.d, POSTGRES_INITDB_ARGS,
# POSTGRES_INITDB_WALDIR, nss_wrapper for UIDs without a passwd entry.
set -eu

# file_env VAR [DEFAULT]: VAR from itself, from the file named by VAR_FILE, or DEFAULT.
file_env() {
	_var=$1
	eval "_val=\${$_var:-} _file=\${${_var}_FILE:-}"
	if [ -n "$_val" ] && [ -n "$_file" ]; then
		echo "error: both $_var and ${_var}_FILE are set (but are exclusive)" >&2
		exit 1
	fi
	if [ -n "$_file" ]; then
		_val=$(cat "$_file")
	elif [ -z "$_val" ]; then
		_val=${2:-}
	fi
	export "$_var=$_val"
	unset "${_var}_FILE"
}

case "${1:-}" in
-*) set -- postgres "$@" ;;
esac
: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

if [ "${1:-}" = postgres ] && [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	find "$PGDATA" /var/run/postgresql \! -user postgres -exec chown postgres:postgres '{}' +
	chmod 700 "$PGDATA"
	chmod 3777 /var/run/postgresql
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
	file_env POSTGRES_PASSWORD
	file_env POSTGRES_USER postgres
	file_env POSTGRES_DB "$POSTGRES_USER"
	auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
	if [ -z "$POSTGRES_PASSWORD" ] && [ "$auth" != trust ]; then
		cat >&2 <<'EOF'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".

       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all
       connections without a password. This is *not* recommended.
EOF
		exit 1
	fi
	mkdir -p "$PGDATA"
	chmod 700 "$PGDATA" 2>/dev/null || :
	# initdb refuses an empty pwfile, hence the newline (as the official script does).
	printf '%s\n' "$POSTGRES_PASSWORD" | initdb --username="$POSTGRES_USER" --pwfile=/dev/stdin
	printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"

	PGUSER=$POSTGRES_USER pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p ${PGPORT:-5432}" -w start
	sql() {
		psql -v ON_ERROR_STOP=1 --username="$POSTGRES_USER" --no-password --no-psqlrc \
			--dbname=postgres --set db="$POSTGRES_DB" --tuples-only --no-align --quiet
	}
	if [ -z "$(printf '%s\n' "SELECT 1 FROM pg_database WHERE datname = :'db';" | sql)" ]; then
		printf '%s\n' 'CREATE DATABASE :"db";' | sql
	fi
	pg_ctl -D "$PGDATA" -m fast -w stop
	echo
	echo 'PostgreSQL init process complete; ready for start up.'
	echo
fi

exec "$@"
