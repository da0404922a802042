# PostgreSQL: Debian's real PostgreSQL 15 (bookworm) with the official image's contract
# (docker.io/library/postgres): user postgres = UID/GID 999; docker-entrypoint.sh (a stand-in for
# the official script's essentials, standins/postgres-entrypoint.sh) as ENTRYPOINT, CMD postgres;
# postgres, initdb, pg_ctl, psql and pg_isready on PATH (/usr/lib/postgresql/15/bin); PGDATA
# /var/lib/postgresql/data owned by 999 with mode 1777; /var/run/postgresql owned by 999 with
# mode 3777; listen_addresses = '*' in the sample configuration initdb copies, as the official
# image's Dockerfile sets it. Debian's own cluster (15/main, made by the package) is removed.
in_root sh -euc "$(
  cat <<'SH'
pg_dropcluster 15 main 2>/dev/null || rm -rf /var/lib/postgresql/15 /etc/postgresql/15
old_uid=$(id -u postgres) old_gid=$(id -g postgres)
groupmod -g 999 postgres
usermod -u 999 -g 999 postgres
find / -xdev -uid "$old_uid" -exec chown -h 999 {} +
find / -xdev -gid "$old_gid" -exec chgrp -h 999 {} +
sample=/usr/share/postgresql/15/postgresql.conf.sample
sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" "$sample"
grep -q "^listen_addresses = '\*'" "$sample"
mkdir -p /var/lib/postgresql/data /var/run/postgresql
chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql
chmod 1777 /var/lib/postgresql/data
chmod 3777 /var/run/postgresql
SH
)"
install -m 0755 "$STANDINS/postgres-entrypoint.sh" "$ROOT/usr/local/bin/docker-entrypoint.sh"
