# Redis: Debian's real redis-server with the official image's contract (docker.io/library/redis,
# alpine tags): user redis = UID 999, GID 1000, /data owned by them, protected mode off.
# Run by scripts/engines.sh as: setup.sh ROOT STANDINS (in_root runs a command in ROOT).
in_root sh -c 'groupmod -g 1000 redis && usermod -u 999 -g 1000 redis'
install -m 0755 "$STANDINS/redis-entrypoint.sh" "$ROOT/usr/local/bin/docker-entrypoint.sh"
install -m 0755 "$STANDINS/redis-server" "$ROOT/usr/local/bin/redis-server"
mkdir -p "$ROOT/data" && chown 999:1000 "$ROOT/data" && chmod 0755 "$ROOT/data"
