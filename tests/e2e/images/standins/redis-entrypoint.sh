#!/bin/sh
# docker-entrypoint.sh of luciac's Redis test image. The Redis here is Debian's real
# redis-server; this entrypoint keeps the official image's contract (docker.io/library/redis):
# a first argument that is an option or a .conf file runs redis-server with it; started as root,
# it gives /data to the redis user (999) and drops to it. It does not use a shell between itself
# and Redis for anything else.
set -e
case "${1:-}" in
-* | *.conf) set -- redis-server "$@" ;;
esac
if [ "${1:-}" = redis-server ] && [ "$(id -u)" = 0 ]; then
	find . \! -user redis -exec chown redis '{}' + 2>/dev/null || :
	exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
umask 0077
exec "$@"
